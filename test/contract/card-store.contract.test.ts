import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCardStore } from '../../bot/adapters/memory-card-store.js';
import { RedisCardStore } from '../../bot/adapters/redis-card-store.js';
import type { CardStore } from '../../shared/ports/card-store.js';
import { privateRedis } from '../support/redis-adapters.js';

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

describe.each([
  ['memory', (): CardStore => new MemoryCardStore()],
  ['redis', (): CardStore => new RedisCardStore(redis.client(), redis.prefix())],
])('CardStore contract: %s', (_name, create) => {
  it('has no card for a rollout until one is saved, then returns it', async () => {
    const cards = create();
    expect(await cards.get('checkout-1')).toBeUndefined();
    expect(await cards.save('checkout-1', { channel: 'C1', ts: '1.000100' })).toEqual({
      channel: 'C1',
      ts: '1.000100',
    });
    expect(await cards.get('checkout-1')).toEqual({ channel: 'C1', ts: '1.000100' });
    expect(await cards.get('checkout-2')).toBeUndefined();
  });

  it('forgets a retained card once its time is up, and retaining an unknown card does nothing', async () => {
    const cards = create();
    await cards.save('ended-1', { channel: 'C1', ts: '1.000100' });
    await cards.save('running-1', { channel: 'C1', ts: '1.000200' });
    await cards.retain('ended-1', 100);
    await cards.retain('never-posted', 100);
    expect(await cards.get('ended-1')).toEqual({ channel: 'C1', ts: '1.000100' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await cards.get('ended-1')).toBeUndefined();
    expect(await cards.get('never-posted')).toBeUndefined();
    expect(await cards.get('running-1')).toEqual({ channel: 'C1', ts: '1.000200' });
  });

  it('keeps the first card saved: a later save returns it unchanged', async () => {
    const cards = create();
    await cards.save('checkout-1', { channel: 'C1', ts: '1.000100' });
    expect(await cards.save('checkout-1', { channel: 'C1', ts: '2.000200' })).toEqual({
      channel: 'C1',
      ts: '1.000100',
    });
    expect(await cards.get('checkout-1')).toEqual({ channel: 'C1', ts: '1.000100' });
  });

  it('lets exactly one of several concurrent saves win, and every caller learns which', async () => {
    const cards = create();
    const results = await Promise.all(
      ['1.1', '2.2', '3.3', '4.4'].map((ts) => cards.save('checkout-1', { channel: 'C1', ts })),
    );
    expect(new Set(results.map((r) => r.ts)).size).toBe(1);
    expect(await cards.get('checkout-1')).toEqual(results[0]);
  });

  it('returns copies: changing what it returned changes nothing stored', async () => {
    const cards = create();
    const saved = await cards.save('checkout-1', { channel: 'C1', ts: '1.1' });
    saved.ts = 'changed';
    const read = await cards.get('checkout-1');
    read!.channel = 'changed';
    expect(await cards.get('checkout-1')).toEqual({ channel: 'C1', ts: '1.1' });
  });
});

describe('MemoryCardStore: bounded', () => {
  it('drops finished rollouts’ cards whose time is up without their being read again', async () => {
    let now = 0;
    const cards = new MemoryCardStore(() => now);
    for (let i = 0; i < 50; i++) {
      await cards.save(`r${i}`, { channel: 'C1', ts: `${i}.0` });
      await cards.retain(`r${i}`, 1_000);
    }
    await cards.save('running', { channel: 'C1', ts: '99.0' });
    now += 61_000;
    await cards.save('next', { channel: 'C1', ts: '100.0' });
    expect(cards.size).toBe(2); // the running rollout's and the new one
    expect(await cards.get('running')).toEqual({ channel: 'C1', ts: '99.0' });
  });
});
