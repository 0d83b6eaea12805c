import type { Redis } from 'ioredis';
import type { OnceClaims } from '../../shared/ports/once-claims.js';

/** `SET key 1 NX PX ttl`: atomic across every replica sharing the Redis. */
export class RedisOnceClaims implements OnceClaims {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'rollout:',
  ) {}

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return (
      (await this.redis.set(
        `${this.prefix}claim:${key}`,
        '1',
        'PX',
        Math.max(1, Math.ceil(ttlMs)),
        'NX',
      )) === 'OK'
    );
  }

  async release(key: string): Promise<void> {
    await this.redis.del(`${this.prefix}claim:${key}`);
  }
}
