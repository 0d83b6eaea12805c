import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySlackBudget } from '../../bot/adapters/memory-slack-budget.js';
import { RedisSlackBudget } from '../../bot/adapters/redis-slack-budget.js';
import type {
  SlackBudget,
  SlackCallRequest,
  SlackLimits,
  SlackPriority,
} from '../../shared/ports/slack-budget.js';
import { privateRedis } from '../support/redis-adapters.js';

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

/** Fast limits, so a test sees refills: 10 updates a second (burst 2), 10 posts a second per channel (burst 2). */
const LIMITS: SlackLimits = {
  methods: { 'chat.update': { perMinute: 600, burst: 2 } },
  channelPosts: { perSecond: 10, burst: 2 },
};

/** Replicas of one budget: they share its state (one memory budget, or one Redis prefix). */
type Shared = () => SlackBudget;

const update = (ticket: string, priority: SlackPriority = 'refresh'): SlackCallRequest => ({
  ticket,
  method: 'chat.update',
  channel: 'C1',
  priority,
});
const post = (ticket: string, channel: string): SlackCallRequest => ({
  ticket,
  method: 'chat.postMessage',
  channel,
  priority: 'routine',
});

/** Asks again with the ticket until granted (waiting as told); the time of the grant. */
async function granted(budget: SlackBudget, request: SlackCallRequest): Promise<number> {
  for (;;) {
    const wait = await budget.take(request);
    if (wait === 0) return Date.now();
    await sleep(Math.min(wait, 50));
  }
}

describe.each([
  [
    'memory',
    (): Shared => {
      const one = new MemorySlackBudget(LIMITS);
      return () => one;
    },
  ],
  [
    'redis',
    (): Shared => {
      const prefix = redis.prefix();
      return () => new RedisSlackBudget(redis.client(), LIMITS, prefix);
    },
  ],
])('SlackBudget contract: %s', (_name, shared) => {
  it('grants a burst, then asks to wait; the wait is enough for the next call', async () => {
    const budget = shared()();
    expect(await budget.take(update('a'))).toBe(0);
    expect(await budget.take(update('b'))).toBe(0);
    const wait = await budget.take(update('c'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(100);
    await sleep(wait + 5);
    expect(await budget.take(update('c'))).toBe(0);
  });

  it('serves an alert queued after 100 waiting refreshes first', async () => {
    const budget = shared()();
    await granted(budget, update('warm-1'));
    await granted(budget, update('warm-2'));
    const refreshes = Array.from({ length: 100 }, (_, i) => update(`refresh-${i}`));
    for (const r of refreshes) expect(await budget.take(r)).toBeGreaterThan(0);
    const alert = update('alert', 'alert');
    // Served at once if a token came back meanwhile (it is ahead of every refresh), else below.
    const served: string[] = (await budget.take(alert)) === 0 ? ['alert'] : [];
    // Everyone asks again, refreshes first in each round: the first one served is the alert.
    while (served.length === 0) {
      await sleep(20);
      for (const r of [...refreshes, alert])
        if ((await budget.take(r)) === 0) served.push(r.ticket);
    }
    expect(served[0]).toBe('alert');
    // The refreshes then go in the order they first asked.
    while (served.length < 4) {
      await sleep(20);
      for (const r of refreshes.filter((x) => !served.includes(x.ticket)))
        if ((await budget.take(r)) === 0) served.push(r.ticket);
    }
    expect(served.slice(1)).toEqual(['refresh-0', 'refresh-1', 'refresh-2']);
  });

  it('paces posts per channel: a busy channel does not hold up another', async () => {
    const budget = shared()();
    expect(await budget.take(post('p1', 'C1'))).toBe(0);
    expect(await budget.take(post('p2', 'C1'))).toBe(0);
    expect(await budget.take(post('p3', 'C1'))).toBeGreaterThan(0);
    expect(await budget.take(post('q1', 'C2'))).toBe(0);
    // chat.update has its own budget.
    expect(await budget.take(update('u1'))).toBe(0);
  });

  it('pauses a method for everyone after a 429, and a shorter pause does not cut a longer one', async () => {
    const replicas = shared();
    const a = replicas();
    const b = replicas();
    await a.pause('chat.update', 300);
    await b.pause('chat.update', 10);
    const wait = await b.take(update('x', 'alert'));
    expect(wait).toBeGreaterThan(200);
    expect(await a.take(post('y', 'C1'))).toBe(0);
    await sleep(wait + 5);
    expect(await b.take(update('x', 'alert'))).toBe(0);
  });

  it('never grants more than the budget to several replicas asking at once', async () => {
    const replicas = shared();
    const drainers = [replicas(), replicas()];
    const start = Date.now();
    const grants: number[] = [];
    await Promise.all(
      drainers.flatMap((budget, d) =>
        Array.from({ length: 5 }, async (_, i) => {
          grants.push(await granted(budget, update(`d${d}-${i}`)));
        }),
      ),
    );
    const elapsed = Math.max(...grants) - start;
    expect(grants).toHaveLength(10);
    // A token bucket: at most the burst plus what refilled while they asked (10 a second).
    expect(grants.length).toBeLessThanOrEqual(2 + Math.floor((elapsed + 20) / 100));
    expect(await drainers[0]!.waiting()).toBe(0);
  });

  it('refuses nothing it cannot read: an unknown method is not paced, a served ticket leaves the line', async () => {
    const budget = shared()();
    for (let i = 0; i < 5; i++)
      expect(await budget.take({ ...update(`r${i}`), method: 'reactions.add' })).toBe(0);
    expect(await budget.waiting()).toBe(0);
  });
});
