import type { Redis } from 'ioredis';
import type { ServiceLocks } from '../../shared/ports/service-locks.js';

// Compare-and-delete, so a late release from a finished rollout never frees a newer one's lock.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** One key per service; no expiry, since a rollout may legitimately bake for hours. */
export class RedisServiceLocks implements ServiceLocks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'rollout:',
  ) {}

  async acquire(service: string, rolloutId: string): Promise<string> {
    const key = this.key(service);
    const claimed = await this.redis.set(key, rolloutId, 'NX');
    if (claimed === 'OK') return rolloutId;
    // Held: by whom? If it was released in between, try once more rather than report a ghost.
    const holder = await this.redis.get(key);
    if (holder !== null) return holder;
    return (await this.redis.set(key, rolloutId, 'NX')) === 'OK'
      ? rolloutId
      : ((await this.redis.get(key)) ?? rolloutId);
  }

  async release(service: string, rolloutId: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(service), rolloutId);
  }

  async holder(service: string): Promise<string | undefined> {
    return (await this.redis.get(this.key(service))) ?? undefined;
  }

  private key(service: string): string {
    return `${this.prefix}lock:${service}`;
  }
}
