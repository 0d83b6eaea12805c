/**
 * One budget of Slack Web API calls for every bot replica, so N replicas together stay within
 * Slack's published limits (per method per workspace, and one message a second per channel),
 * with a line in front of it: a call waiting at a higher priority goes before every call at a
 * lower one, and within a priority the first to ask goes first.
 */

/**
 * Highest first: alerts and approval requests; a card's last update (the rollout ended: people
 * wait for it, and there are few, so many cards' transitions never hold one back); card
 * transitions; routine card refreshes; routine thread lines.
 */
export const SLACK_PRIORITIES = ['alert', 'terminal', 'transition', 'refresh', 'routine'] as const;
export type SlackPriority = (typeof SLACK_PRIORITIES)[number];

export interface SlackCallRequest {
  /**
   * Who waits: one caller, stable while it asks again for the same call (its place in line is
   * kept by it). Unique across replicas. A ticket nobody asks for within `TICKET_TTL_MS` is dropped.
   */
  ticket: string;
  method: string;
  channel: string;
  priority: SlackPriority;
}

/** Calls allowed per method across the workspace, and posts per channel (token buckets). */
export interface SlackLimits {
  /** By method (`chat.update`): the sustained rate and the burst above it. Methods not listed are not paced. */
  methods: Record<string, { perMinute: number; burst: number }>;
  /** `chat.postMessage` per channel. */
  channelPosts: { perSecond: number; burst: number };
}

/**
 * What the bot keeps within: Slack's Tier 3 (`chat.update`, "50+ per minute") and its "one message
 * per second per channel, short bursts allowed" for `chat.postMessage`.
 */
export const DEFAULT_SLACK_LIMITS: SlackLimits = {
  methods: { 'chat.update': { perMinute: 50, burst: 10 } },
  channelPosts: { perSecond: 1, burst: 3 },
};

/**
 * A ticket not asked for again within this long loses its place (its caller is gone: a replica
 * that died while waiting). Short, because until then a dead ticket at the head holds a token.
 * Callers ask again at least every 5 s.
 */
export const TICKET_TTL_MS = 20_000;

/**
 * A replica that owns a card's pending update and has not been heard from for this long is
 * replaced by the next replica that sees the card change. Replicas say they are alive well within it.
 */
export const PENDING_OWNER_TTL_MS = 30_000;

export interface SlackBudget {
  /**
   * Asks for one call. Resolves 0 when it may be made now (it is taken from the budget: the caller
   * must then make it, or lose it), else the ms to wait before asking again with the same ticket
   * (nothing taken; the ticket keeps its place in line, moved up if `priority` is now higher).
   */
  take(request: SlackCallRequest): Promise<number>;
  /** Slack answered 429: no replica calls `method` for `ms` (a longer pause already set stays). */
  pause(method: string, ms: number): Promise<void>;
  /** Tickets waiting in line, across replicas where the budget is shared. */
  waiting(): Promise<number>;
  /**
   * The card `card` changed on `replica` (call it for each change), as urgent as `priority`. True
   * when this replica owns the card's pending update (it was free, its owner is gone, it is this
   * replica's, or this change is more urgent than every one before it: an ended rollout's card is
   * then sent at its priority, not at a routine refresh's): it must send it. False: another
   * replica owns it and sends the latest state, read when it sends. A sign of life of `replica`.
   */
  markPending(card: string, replica: string, priority: SlackPriority): Promise<boolean>;
  /**
   * Changes to `card` so far (0 when none is pending): read before reading the state to send.
   * `undefined` when another replica owns the update now (a more urgent change moved it there):
   * do not send it.
   */
  pendingGeneration(card: string, replica: string): Promise<number | undefined>;
  /**
   * The owner sent `card` as it was after `generation` changes. True: nothing changed since, the
   * update is no longer pending (or another replica took it over). False: it changed since, the
   * owner still owns it and sends again.
   */
  sent(card: string, replica: string, generation: number): Promise<boolean>;
  /** `replica` is alive: its pending updates stay its own for `PENDING_OWNER_TTL_MS`. */
  alive(replica: string): Promise<void>;
}

/** Which token buckets a call draws from: its method's (workspace) and, for posts, its channel's. */
export function bucketsOf(
  limits: SlackLimits,
  method: string,
  channel: string,
): { key: string; perMs: number; burst: number }[] {
  const buckets: { key: string; perMs: number; burst: number }[] = [];
  const m = limits.methods[method];
  if (m) buckets.push({ key: `method:${method}`, perMs: m.perMinute / 60_000, burst: m.burst });
  if (method === 'chat.postMessage') {
    const c = limits.channelPosts;
    buckets.push({ key: `channel:${channel}`, perMs: c.perSecond / 1000, burst: c.burst });
  }
  return buckets;
}

/** The ticket's place in line: priority first, then when it first asked. */
export function lineScore(priority: SlackPriority, firstAskedAt: number): number {
  return SLACK_PRIORITIES.indexOf(priority) * 1e13 + firstAskedAt;
}
