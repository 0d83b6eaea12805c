import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySlackBudget } from '../../bot/adapters/memory-slack-budget.js';
import { RedisSlackBudget } from '../../bot/adapters/redis-slack-budget.js';
import {
  PENDING_OWNER_TTL_MS,
  type SlackBudget,
  type SlackCallRequest,
  type SlackLimits,
  type SlackPriority,
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

/** One token at most: whoever is first in line holds it, however late the test's own calls run. */
const ONE_UPDATE_AT_A_TIME: SlackLimits = {
  ...LIMITS,
  methods: { 'chat.update': { perMinute: 600, burst: 1 } },
};

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
    (limits = LIMITS): Shared => {
      const one = new MemorySlackBudget(limits);
      return () => one;
    },
  ],
  [
    'redis',
    (limits = LIMITS): Shared => {
      const prefix = redis.prefix();
      return () => new RedisSlackBudget(redis.client(), limits, prefix);
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
    // With a burst of one, a refresh could go before the alert only by jumping the line: with a
    // burst of two, a slow round (a loaded machine) rightly lets the first refresh take the second token.
    const budget = shared(ONE_UPDATE_AT_A_TIME)();
    await granted(budget, update('warm'));
    const refreshes = Array.from({ length: 100 }, (_, i) => update(`refresh-${i}`));
    // A stalled machine may let the token come back while they first ask: the first in line then
    // rightly takes it. Those served before the alert asked are no part of what is tested.
    const served: string[] = [];
    for (const r of refreshes) if ((await budget.take(r)) === 0) served.push(r.ticket);
    const early = served.length;
    const alert = update('alert', 'alert');
    if ((await budget.take(alert)) === 0) served.push('alert');
    const waiting = () => refreshes.filter((r) => !served.includes(r.ticket));
    // Everyone asks again, refreshes first in each round: the next one served is the alert.
    while (!served.includes('alert')) {
      await sleep(20);
      for (const r of [...waiting(), alert])
        if (!served.includes(r.ticket) && (await budget.take(r)) === 0) served.push(r.ticket);
    }
    expect(served.indexOf('alert')).toBe(early);
    // The refreshes then go in the order they first asked.
    const next = waiting()
      .slice(0, 3)
      .map((r) => r.ticket);
    while (served.length < early + 4) {
      await sleep(20);
      for (const r of waiting()) if ((await budget.take(r)) === 0) served.push(r.ticket);
    }
    expect(served.slice(early + 1, early + 4)).toEqual(next);
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

  it('has one replica own a card’s pending update, and tells it to send again what changed meanwhile', async () => {
    const replicas = shared();
    const a = replicas();
    const b = replicas();
    const generation = async (budget: SlackBudget, replica: string) =>
      (await budget.pendingGeneration('card-1', replica)) ?? -1;
    expect(await generation(a, 'A')).toBe(0);
    expect(await a.markPending('card-1', 'A', 'refresh')).toBe(true);
    // A is alive: B's change (no more urgent) is counted, A sends it.
    expect(await b.markPending('card-1', 'B', 'refresh')).toBe(false);
    expect(await b.pendingGeneration('card-1', 'B')).toBeUndefined();
    expect(await a.markPending('card-1', 'A', 'routine')).toBe(true);
    const read = await generation(a, 'A');
    expect(read).toBe(3);
    expect(await b.markPending('card-1', 'B', 'routine')).toBe(false);
    // Changed after A read the state: A still owns it and sends again.
    expect(await a.sent('card-1', 'A', read)).toBe(false);
    expect(await a.sent('card-1', 'A', await generation(a, 'A'))).toBe(true);
    expect(await generation(b, 'B')).toBe(0);
    // Free again: the next replica to see a change owns it.
    expect(await b.markPending('card-1', 'B', 'refresh')).toBe(true);
    // A replica that does not own it cannot end it.
    expect(await a.sent('card-1', 'A', 1)).toBe(true);
    expect(await a.markPending('card-1', 'A', 'refresh')).toBe(false);
    // A more urgent change (the rollout ended) takes the update to its replica, at its priority.
    expect(await a.markPending('card-1', 'A', 'terminal')).toBe(true);
    expect(await b.pendingGeneration('card-1', 'B')).toBeUndefined();
    expect(await b.markPending('card-1', 'B', 'terminal')).toBe(false);
    // Cards are apart.
    expect(await b.markPending('card-2', 'B', 'refresh')).toBe(true);
  });

  it('refuses nothing it cannot read: an unknown method is not paced, a served ticket leaves the line', async () => {
    const budget = shared()();
    for (let i = 0; i < 5; i++)
      expect(await budget.take({ ...update(`r${i}`), method: 'reactions.add' })).toBe(0);
    expect(await budget.waiting()).toBe(0);
  });
});

describe('SlackBudget: a pending card update whose owner is gone', () => {
  it('memory: is taken over by the next replica to see a change once the owner is silent', async () => {
    let now = 1_000;
    const budget = new MemorySlackBudget(LIMITS, () => now);
    expect(await budget.markPending('card', 'A', 'refresh')).toBe(true);
    now += PENDING_OWNER_TTL_MS;
    expect(await budget.markPending('card', 'B', 'refresh')).toBe(false);
    await budget.alive('A');
    now += PENDING_OWNER_TTL_MS + 1;
    expect(await budget.markPending('card', 'B', 'refresh')).toBe(true);
    // The old owner learns it before sending, and its send would not end it.
    expect(await budget.pendingGeneration('card', 'A')).toBeUndefined();
    expect(await budget.sent('card', 'A', 3)).toBe(true);
    expect(await budget.pendingGeneration('card', 'B')).toBe(3);
  });

  it('redis: is taken over once the owner’s sign of life has expired', async () => {
    const prefix = redis.prefix();
    const client = redis.client();
    const budget = new RedisSlackBudget(client, LIMITS, prefix);
    expect(await budget.markPending('card', 'A', 'refresh')).toBe(true);
    expect(await client.pttl(`${prefix}slack:alive:A`)).toBeGreaterThan(0);
    expect(await budget.markPending('card', 'B', 'refresh')).toBe(false);
    await client.del(`${prefix}slack:alive:A`); // A died: its key expired
    expect(await budget.markPending('card', 'B', 'refresh')).toBe(true);
    expect(await budget.pendingGeneration('card', 'A')).toBeUndefined();
    expect(await budget.sent('card', 'A', 3)).toBe(true);
    expect(await budget.sent('card', 'B', (await budget.pendingGeneration('card', 'B'))!)).toBe(
      true,
    );
    expect(await client.exists(`${prefix}slack:pending:card`)).toBe(0);
  });
});
