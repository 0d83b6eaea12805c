import type { Clock } from '../../shared/clock.js';
import type { OnceClaims } from '../../shared/ports/once-claims.js';

/** How often expired claims are dropped, so local mode holds only the live ones. */
const PRUNE_EVERY_MS = 60_000;

export class MemoryOnceClaims implements OnceClaims {
  private readonly claims = new Map<string, number>();
  private prunedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: Clock) {}

  /** Claims held, expired ones not yet dropped included (tests). */
  get size(): number {
    return this.claims.size;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now;
      for (const [held, expires] of this.claims) if (expires <= now) this.claims.delete(held);
    }
    const expires = this.claims.get(key);
    if (expires !== undefined && expires > now) return false;
    this.claims.set(key, now + ttlMs);
    return true;
  }

  async release(key: string): Promise<void> {
    this.claims.delete(key);
  }
}
