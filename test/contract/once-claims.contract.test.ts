import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryOnceClaims } from '../../bot/adapters/memory-once-claims.js';
import { RedisOnceClaims } from '../../bot/adapters/redis-once-claims.js';
import type { OnceClaims } from '../../shared/ports/once-claims.js';
import { privateRedis } from '../support/redis-adapters.js';

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

describe.each([
  ['memory', (): OnceClaims => new MemoryOnceClaims({ now: () => Date.now() })],
  ['redis', (): OnceClaims => new RedisOnceClaims(redis.client(), redis.prefix())],
])('OnceClaims contract: %s', (_name, create) => {
  it('grants a key to exactly one of many concurrent claimers', async () => {
    const claims = create();
    const results = await Promise.all(
      Array.from({ length: 6 }, () => claims.claim('sweep:42', 60_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await claims.claim('sweep:43', 60_000)).toBe(true);
  });

  it('grants the key again once its time-to-live has passed', async () => {
    const claims = create();
    expect(await claims.claim('short', 20)).toBe(true);
    await expect.poll(() => claims.claim('short', 20), { timeout: 2000, interval: 10 }).toBe(true);
  });

  it('grants the key again at once after its winner released it; releasing is idempotent', async () => {
    const claims = create();
    expect(await claims.claim('effect:e-1', 60_000)).toBe(true);
    expect(await claims.claim('effect:e-1', 60_000)).toBe(false);
    await claims.release('effect:e-1');
    await claims.release('effect:e-1');
    await claims.release('never-claimed');
    expect(await claims.claim('effect:e-1', 60_000)).toBe(true);
    expect(await claims.claim('effect:e-1', 60_000)).toBe(false);
  });
});
