import type { Clock } from '../../shared/clock.js';
import type { OnceClaims } from '../../shared/ports/once-claims.js';

/** How often expired claims are dropped, so local mode holds only the live ones. */
const PRUNE_EVERY_MS = 60_000;

/** As `RedisOnceClaims`: plain claims expire on their own, grouped ones when their group does. */
export class MemoryOnceClaims implements OnceClaims {
  /** Plain claims: key → when it expires. */
  private readonly claims = new Map<string, number>();
  /** Grouped claims: group → its keys and when the group expires. */
  private readonly groups = new Map<string, { keys: Set<string>; expires: number }>();
  private prunedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: Clock) {}

  /** Records held (plain claims and groups), expired ones not yet dropped included (tests). */
  get size(): number {
    return this.claims.size + this.groups.size;
  }

  async claim(key: string, ttlMs: number, group?: string): Promise<boolean> {
    const now = this.clock.now();
    this.prune(now);
    if (group !== undefined) {
      let held = this.groups.get(group);
      if (held && held.expires <= now) held = undefined;
      if (held?.keys.has(key)) return false;
      if (!held) this.groups.set(group, (held = { keys: new Set(), expires: now }));
      held.keys.add(key);
      held.expires = Math.max(held.expires, now + ttlMs);
      return true;
    }
    const expires = this.claims.get(key);
    if (expires !== undefined && expires > now) return false;
    this.claims.set(key, now + ttlMs);
    return true;
  }

  async release(key: string, group?: string): Promise<void> {
    if (group !== undefined) this.groups.get(group)?.keys.delete(key);
    else this.claims.delete(key);
  }

  private prune(now: number): void {
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    for (const [held, expires] of this.claims) if (expires <= now) this.claims.delete(held);
    for (const [group, held] of this.groups) if (held.expires <= now) this.groups.delete(group);
  }
}
