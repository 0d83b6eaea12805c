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

  it('keeps grouped claims apart from plain ones and from other groups', async () => {
    const claims = create();
    const [a, b] = [`r-${Math.random()}`, `r-${Math.random()}`];
    const results = await Promise.all(
      Array.from({ length: 6 }, () => claims.claim('thread:3', 60_000, a)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await claims.claim('thread:3', 60_000, b)).toBe(true);
    expect(await claims.claim('thread:3', 60_000)).toBe(true);
    expect(await claims.claim('thread:4', 60_000, a)).toBe(true);
  });

  it('holds a grouped claim until the group ends: its longest time-to-live', async () => {
    const claims = create();
    const [kept, alone] = [`r-${Math.random()}`, `r-${Math.random()}`];
    expect(await claims.claim('short', 20, kept)).toBe(true);
    expect(await claims.claim('long', 60_000, kept)).toBe(true);
    expect(await claims.claim('short', 20, alone)).toBe(true);
    // A group whose only claim asked for 20 ms ends, and its key is granted again…
    await expect
      .poll(() => claims.claim('short', 20, alone), { timeout: 2000, interval: 10 })
      .toBe(true);
    // …while the same key in a group that also holds a 60 s claim stays held.
    expect(await claims.claim('short', 20, kept)).toBe(false);
  });

  it('grants a grouped key again at once after its winner released it', async () => {
    const claims = create();
    const group = `r-${Math.random()}`;
    expect(await claims.claim('alert:x', 60_000, group)).toBe(true);
    await claims.release('alert:x', group);
    await claims.release('alert:x', group);
    await claims.release('never-claimed', 'no-such-group');
    expect(await claims.claim('alert:x', 60_000, group)).toBe(true);
    expect(await claims.claim('alert:x', 60_000, group)).toBe(false);
  });
});
