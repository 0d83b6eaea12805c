import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryServiceLocks } from '../../bot/adapters/memory-service-locks.js';
import { RedisServiceLocks } from '../../bot/adapters/redis-service-locks.js';
import type { ServiceLocks } from '../../shared/ports/service-locks.js';
import { privateRedis } from '../support/redis-adapters.js';

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

describe.each([
  ['memory', (): ServiceLocks => new MemoryServiceLocks()],
  ['redis', (): ServiceLocks => new RedisServiceLocks(redis.client(), redis.prefix())],
])('ServiceLocks contract: %s', (_name, create) => {
  it('gives a free service to the first rollout and names it to the second', async () => {
    const locks = create();
    expect(await locks.acquire('checkout', 'r1')).toBe('r1');
    expect(await locks.acquire('checkout', 'r2')).toBe('r1');
    expect(await locks.holder('checkout')).toBe('r1');
    expect(await locks.acquire('search', 'r2')).toBe('r2');
  });

  it('lets only one of many concurrent claims win', async () => {
    const locks = create();
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map((id) => locks.acquire('checkout', id)),
    );
    expect(new Set(results).size).toBe(1);
    expect(results).toContain(await locks.holder('checkout'));
  });

  it('is re-entrant for the holder', async () => {
    const locks = create();
    await locks.acquire('checkout', 'r1');
    expect(await locks.acquire('checkout', 'r1')).toBe('r1');
  });

  it('frees the lock on release by the holder only', async () => {
    const locks = create();
    await locks.acquire('checkout', 'r1');
    await locks.release('checkout', 'r-other');
    expect(await locks.holder('checkout')).toBe('r1');
    await locks.release('checkout', 'r1');
    expect(await locks.holder('checkout')).toBeUndefined();
    expect(await locks.acquire('checkout', 'r2')).toBe('r2');
  });
});
