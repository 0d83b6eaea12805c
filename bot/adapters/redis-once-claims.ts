import type { Redis } from 'ioredis';
import type { OnceClaims } from '../../shared/ports/once-claims.js';
import { RedisScript } from './redis-script.js';

/**
 * KEYS: the group's hash. ARGV: field, ttl ms. HSETNX, then the hash lives at least `ttl` more
 * (never shortened: an earlier claim may have asked for longer). 1 when this call claimed it.
 */
const CLAIM_IN_GROUP = new RedisScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then return 0 end
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`);

/**
 * `SET <p>claim:<key> 1 NX PX ttl`: atomic across every replica sharing the Redis. Grouped claims
 * are fields of one hash per group, `<p>claims:<group>`, which expires with the group's longest
 * claim: one small key per rollout instead of one per thread line.
 */
export class RedisOnceClaims implements OnceClaims {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'rollout:',
  ) {}

  async claim(key: string, ttlMs: number, group?: string): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    if (group !== undefined) {
      return (await CLAIM_IN_GROUP.run(this.redis, [this.groupKey(group)], [key, ttl])) === 1;
    }
    return (await this.redis.set(`${this.prefix}claim:${key}`, '1', 'PX', ttl, 'NX')) === 'OK';
  }

  async release(key: string, group?: string): Promise<void> {
    if (group !== undefined) await this.redis.hdel(this.groupKey(group), key);
    else await this.redis.del(`${this.prefix}claim:${key}`);
  }

  private groupKey(group: string): string {
    return `${this.prefix}claims:${group}`;
  }
}
