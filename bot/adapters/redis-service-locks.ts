import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { HeldLock, ServiceLocks } from '../../shared/ports/service-locks.js';
import { RedisScript } from './redis-script.js';

/**
 * KEYS: lock, acquired-at. ARGV: rollout id, now. Takes a free lock (and notes when) or answers
 * its holder, in one step, so a lock is never seen without the time it was taken.
 */
const ACQUIRE = new RedisScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], ARGV[2])
  return ARGV[1]
end
return redis.call('GET', KEYS[1])
`);

// Compare-and-delete, so a late release from a finished rollout never frees a newer one's lock.
const RELEASE = new RedisScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  return redis.call('DEL', KEYS[1])
end
return 0
`);

/** KEYS: fence. ARGV: now. The larger of the last fence + 1 and now, stored and returned in one step. */
const NEXT_FENCE = new RedisScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local fence = last + 1
if now > fence then fence = now end
redis.call('SET', KEYS[1], string.format('%.0f', fence))
return string.format('%.0f', fence)
`);

/**
 * One key per service (`p lock:<service>`, the holder's id) and when it was taken
 * (`p lock-at:<service>`); no expiry, since a rollout may legitimately bake for hours. Locks whose
 * holder never came to exist are freed by the bot's sweep, which lists them with `holders()`.
 */
export class RedisServiceLocks implements ServiceLocks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'rollout:',
    private readonly clock: Clock = systemClock,
  ) {}

  async acquire(service: string, rolloutId: string): Promise<string> {
    const holder = await ACQUIRE.run(
      this.redis,
      [this.key(service), this.atKey(service)],
      [rolloutId, String(this.clock.now())],
    );
    return String(holder);
  }

  async release(service: string, rolloutId: string): Promise<void> {
    await RELEASE.run(this.redis, [this.key(service), this.atKey(service)], [rolloutId]);
  }

  async holder(service: string): Promise<string | undefined> {
    return (await this.redis.get(this.key(service))) ?? undefined;
  }

  async holders(): Promise<HeldLock[]> {
    const lockPrefix = `${this.prefix}lock:`;
    const keys = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(
        cursor,
        'MATCH',
        `${globEscape(lockPrefix)}*`,
        'COUNT',
        500,
      );
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== '0');
    const held: HeldLock[] = [];
    for (const key of keys) {
      const service = key.slice(lockPrefix.length);
      const [rolloutId, at] = await this.redis.mget(key, this.atKey(service));
      // Released between the scan and the read: not held any more.
      if (rolloutId === null || rolloutId === undefined) continue;
      const acquiredAt = Number(at);
      held.push({ service, rolloutId, acquiredAt: Number.isFinite(acquiredAt) ? acquiredAt : 0 });
    }
    return held;
  }

  async nextFence(service: string): Promise<number> {
    const fence = await NEXT_FENCE.run(
      this.redis,
      [`${this.prefix}fence:${service}`],
      [String(this.clock.now())],
    );
    return Number(fence);
  }

  private key(service: string): string {
    return `${this.prefix}lock:${service}`;
  }

  private atKey(service: string): string {
    return `${this.prefix}lock-at:${service}`;
  }
}

/** Escapes Redis glob metacharacters, so a prefix matches only itself in `SCAN MATCH`. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
