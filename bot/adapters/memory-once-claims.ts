import type { Clock } from '../../shared/clock.js';
import type { OnceClaims } from '../../shared/ports/once-claims.js';

export class MemoryOnceClaims implements OnceClaims {
  private readonly claims = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    const expires = this.claims.get(key);
    if (expires !== undefined && expires > now) return false;
    this.claims.set(key, now + ttlMs);
    return true;
  }

  async release(key: string): Promise<void> {
    this.claims.delete(key);
  }
}
