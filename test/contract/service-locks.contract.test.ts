import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryServiceLocks } from '../../bot/adapters/memory-service-locks.js';
import { RedisServiceLocks } from '../../bot/adapters/redis-service-locks.js';
import type { ServiceLocks } from '../../shared/ports/service-locks.js';
import { privateRedis } from '../support/redis-adapters.js';

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

/** A clock the tests set, shared by every lock adapter they make. */
let now = 1_800_000_000_000;
const clock = { now: () => now };

describe.each([
  ['memory', (): ServiceLocks => new MemoryServiceLocks(clock)],
  ['redis', (): ServiceLocks => new RedisServiceLocks(redis.client(), redis.prefix(), clock)],
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

  it('lists every lock held, with its holder and when it was taken; released ones drop out', async () => {
    const locks = create();
    const other = create(); // another key space: its locks are not listed here
    expect(await locks.holders()).toEqual([]);
    now = 1_800_000_000_000;
    await locks.acquire('checkout', 'r1');
    now += 5_000;
    await locks.acquire('search', 'r2');
    await locks.acquire('checkout', 'r3'); // refused: the first holder and its time stay
    await other.acquire('payments', 'r9');

    const byService = (a: { service: string }, b: { service: string }) =>
      a.service.localeCompare(b.service);
    expect((await locks.holders()).sort(byService)).toEqual([
      { service: 'checkout', rolloutId: 'r1', acquiredAt: 1_800_000_000_000 },
      { service: 'search', rolloutId: 'r2', acquiredAt: 1_800_000_005_000 },
    ]);
    await locks.release('checkout', 'r1');
    now += 5_000;
    await locks.acquire('checkout', 'r4');
    expect((await locks.holders()).sort(byService)).toEqual([
      { service: 'checkout', rolloutId: 'r4', acquiredAt: 1_800_000_010_000 },
      { service: 'search', rolloutId: 'r2', acquiredAt: 1_800_000_005_000 },
    ]);
  });

  it('hands out fencing numbers that only grow per service, even when the clock goes back', async () => {
    const locks = create();
    now = 1_800_000_000_000;
    const first = await locks.nextFence('checkout');
    expect(first).toBeGreaterThanOrEqual(now);
    now -= 60_000; // another replica whose clock is a minute behind
    const second = await locks.nextFence('checkout');
    expect(second).toBeGreaterThan(first);
    const concurrent = await Promise.all([1, 2, 3, 4].map(() => locks.nextFence('checkout')));
    expect(new Set(concurrent).size).toBe(4);
    expect(Math.min(...concurrent)).toBeGreaterThan(second);
    // Another service counts on its own, from the clock.
    expect(await locks.nextFence('search')).toBe(now);
  });
});

describe('RedisServiceLocks: keys', () => {
  it('lists a lock taken before acquiredAt was kept with acquiredAt 0, and matches its prefix literally', async () => {
    const client = redis.client();
    const base = redis.prefix();
    const prefix = `${base}[x]*:`;
    const locks = new RedisServiceLocks(client, prefix, clock);
    await client.set(`${prefix}lock:checkout`, 'r-old'); // as the adapter wrote it before
    await client.set(`${base}xyz:lock:search`, 'r-elsewhere'); // what the prefix matches as a glob
    expect(await locks.holders()).toEqual([
      { service: 'checkout', rolloutId: 'r-old', acquiredAt: 0 },
    ]);
    await locks.release('checkout', 'r-old');
    expect(await locks.holders()).toEqual([]);
  });
});
