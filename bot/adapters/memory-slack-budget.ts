import {
  bucketsOf,
  DEFAULT_SLACK_LIMITS,
  lineScore,
  PENDING_OWNER_TTL_MS,
  TICKET_TTL_MS,
  type SlackBudget,
  type SlackCallRequest,
  type SlackLimits,
  type SlackPriority,
} from '../../shared/ports/slack-budget.js';

interface Bucket {
  key: string;
  perMs: number;
  burst: number;
}

interface Waiting {
  score: number;
  seenAt: number;
  request: SlackCallRequest;
}

/**
 * The Slack budget of one process (local mode): the same line and token buckets as the Redis one,
 * in memory. Bounded: one entry per waiting ticket (dropped when served or not asked for within
 * `TICKET_TTL_MS`), one bucket per channel posted to lately (a full bucket is forgotten: a missing
 * one counts as full).
 */
export class MemorySlackBudget implements SlackBudget {
  private readonly line = new Map<string, Waiting>();
  private readonly buckets = new Map<string, Bucket & { tokens: number; at: number }>();
  private readonly pauses = new Map<string, number>();
  /** Pending card updates: one entry per card changed and not yet sent. */
  private readonly pending = new Map<
    string,
    { owner: string; generation: number; priority: SlackPriority }
  >();
  /** When each replica was last heard from; kept only while it is recent. */
  private readonly replicas = new Map<string, number>();

  constructor(
    private readonly limits: SlackLimits = DEFAULT_SLACK_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Entries held (tests check the bound). */
  get size(): { line: number; buckets: number } {
    return { line: this.line.size, buckets: this.buckets.size };
  }

  async take(request: SlackCallRequest): Promise<number> {
    const now = this.now();
    this.prune(now);
    const score = lineScore(request.priority, now);
    const mine = this.line.get(request.ticket);
    this.line.set(request.ticket, {
      score: mine && mine.score <= score ? mine.score : score,
      seenAt: now,
      request,
    });
    // Those ahead in line that could go now hold a token each; those that cannot count as debt.
    const avail = new Map<string, number>();
    const blocked = new Map<string, number>();
    const level = (b: Bucket) => {
      let v = avail.get(b.key);
      if (v === undefined) {
        v = this.level(b, now);
        avail.set(b.key, v);
      }
      return v;
    };
    const ordered = [...this.line].sort((a, b) => a[1].score - b[1].score);
    for (const [ticket, { request: other }] of ordered) {
      if (ticket === request.ticket) break;
      if (this.pausedFor(other.method, now) > 0) continue;
      const bs = bucketsOf(this.limits, other.method, other.channel);
      if (bs.every((b) => level(b) >= 1)) for (const b of bs) avail.set(b.key, level(b) - 1);
      else for (const b of bs) blocked.set(b.key, (blocked.get(b.key) ?? 0) + 1);
    }
    const paused = this.pausedFor(request.method, now);
    if (paused > 0) return paused;
    const bs = bucketsOf(this.limits, request.method, request.channel);
    let wait = 0;
    for (const b of bs) {
      const v = level(b);
      if (v < 1) wait = Math.max(wait, Math.ceil(((blocked.get(b.key) ?? 0) + 1 - v) / b.perMs));
    }
    if (wait > 0) return wait;
    for (const b of bs) this.buckets.set(b.key, { ...b, tokens: this.level(b, now) - 1, at: now });
    this.line.delete(request.ticket);
    return 0;
  }

  async pause(method: string, ms: number): Promise<void> {
    const until = this.now() + ms;
    if ((this.pauses.get(method) ?? 0) < until) this.pauses.set(method, until);
  }

  async waiting(): Promise<number> {
    this.prune(this.now());
    return this.line.size;
  }

  async markPending(card: string, replica: string, priority: SlackPriority): Promise<boolean> {
    await this.alive(replica);
    const held = this.pending.get(card);
    if (!held) {
      this.pending.set(card, { owner: replica, generation: 1, priority });
      return true;
    }
    held.generation += 1;
    const urgent = lineScore(priority, 0) < lineScore(held.priority, 0);
    if (urgent) held.priority = priority;
    if (held.owner === replica) return true;
    if (!urgent && this.isAlive(held.owner)) return false;
    held.owner = replica;
    return true;
  }

  async pendingGeneration(card: string, replica: string): Promise<number | undefined> {
    const held = this.pending.get(card);
    if (held && held.owner !== replica) return undefined;
    return held?.generation ?? 0;
  }

  async sent(card: string, replica: string, generation: number): Promise<boolean> {
    const held = this.pending.get(card);
    if (!held || held.owner !== replica) return true;
    if (held.generation !== generation) return false;
    this.pending.delete(card);
    return true;
  }

  async alive(replica: string): Promise<void> {
    const now = this.now();
    this.replicas.set(replica, now);
    for (const [r, at] of this.replicas)
      if (now - at > PENDING_OWNER_TTL_MS) this.replicas.delete(r);
  }

  private isAlive(replica: string): boolean {
    const at = this.replicas.get(replica);
    return at !== undefined && this.now() - at <= PENDING_OWNER_TTL_MS;
  }

  private level(b: Bucket, now: number): number {
    const held = this.buckets.get(b.key);
    if (!held) return b.burst;
    return Math.min(b.burst, held.tokens + (now - held.at) * b.perMs);
  }

  private pausedFor(method: string, now: number): number {
    const until = this.pauses.get(method);
    if (until === undefined) return 0;
    if (until <= now) {
      this.pauses.delete(method);
      return 0;
    }
    return until - now;
  }

  private prune(now: number): void {
    for (const [ticket, w] of this.line)
      if (now - w.seenAt > TICKET_TTL_MS) this.line.delete(ticket);
    for (const [key, held] of this.buckets)
      if (this.level(held, now) >= held.burst) this.buckets.delete(key);
  }
}
