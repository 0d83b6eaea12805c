import { webApi } from '@slack/bolt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCardStore } from '../../bot/adapters/memory-card-store.js';
import { MemoryOnceClaims } from '../../bot/adapters/memory-once-claims.js';
import { MemorySlackBudget } from '../../bot/adapters/memory-slack-budget.js';
import { RedisSlackBudget } from '../../bot/adapters/redis-slack-budget.js';
import { CardLanes } from '../../bot/slack/card-lanes.js';
import { SurfaceMetrics } from '../../bot/slack/metrics.js';
import { SlackCalls } from '../../bot/slack/slack-calls.js';
import { systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/log.js';
import type { SlackBudget, SlackLimits } from '../../shared/ports/slack-budget.js';
import { privateRedis } from '../support/redis-adapters.js';
import { SlackApiDouble } from '../support/slack-api-double.js';
import { BOT_TOKEN } from '../support/slack-product.js';
import { waitFor } from '../support/wait-for.js';

/** Faster than Slack's, so the test is short: five updates a second, five posts a second per channel. */
const SLACK: SlackLimits = {
  methods: { 'chat.update': { perMinute: 300, burst: 5 } },
  channelPosts: { perSecond: 5, burst: 5 },
};
/** What each bot keeps to: the same rates, a smaller burst. */
const BOT: SlackLimits = {
  methods: { 'chat.update': { perMinute: 300, burst: 3 } },
  channelPosts: { perSecond: 5, burst: 3 },
};

const CARDS = Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, channel: `C0CH${i % 4}` }));

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

describe('one Slack budget for every replica (Redis)', () => {
  let api: SlackApiDouble | undefined;
  const lanes: CardLanes[] = [];
  afterEach(async () => {
    await Promise.all(lanes.splice(0).map((l) => l.stop(0)));
    await api?.close();
  });

  /** Two replicas' card lanes on shared card and claim stores, each with its budget, talking to Slack over HTTP. */
  async function twoReplicas(budgets: [SlackBudget, SlackBudget]) {
    api = await SlackApiDouble.start({ token: BOT_TOKEN, limits: SLACK });
    const cards = new MemoryCardStore();
    const claims = new MemoryOnceClaims(systemClock);
    const versions = new Map<string, number>();
    for (const budget of budgets) {
      const client = new webApi.WebClient(BOT_TOKEN, {
        slackApiUrl: api.apiUrl,
        retryConfig: { retries: 0 },
        rejectRateLimitedCalls: true,
      });
      lanes.push(
        new CardLanes({
          calls: new SlackCalls(client, new SurfaceMetrics({ processMetrics: false })),
          cards,
          claims,
          budget,
          render: async (id) => ({
            channel: CARDS.find((c) => c.id === id)!.channel,
            view: { text: `${id} v${versions.get(id) ?? 0}`, blocks: [] },
            ended: false,
          }),
          logger: silentLogger,
          updateIntervalMs: 0,
        }),
      );
    }
    // Each card changes ten times, each change told to one replica or the other.
    for (let v = 1; v <= 10; v++) {
      for (const { id } of CARDS) {
        versions.set(id, v);
        lanes[v % 2]!.refresh(id, v === 10 ? 'transition' : 'refresh');
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const slack = api;
    for (const { id, channel } of CARDS) {
      await waitFor(() => slack.channelMessages(channel).find((m) => m.text === `${id} v10`), {
        what: `card ${id} to show v10`,
        timeoutMs: 60_000,
      });
    }
    await Promise.all(lanes.map((l) => l.idle()));
    return slack;
  }

  it('two replicas drawing on one Redis budget never exceed it together: no 429, each card once, on its latest state', async () => {
    const prefix = redis.prefix();
    const slack = await twoReplicas([
      new RedisSlackBudget(redis.client(), BOT, prefix),
      new RedisSlackBudget(redis.client(), BOT, prefix),
    ]);
    expect(slack.calls().filter((c) => c.status === 429)).toEqual([]);
    for (const { channel } of CARDS.slice(0, 4))
      expect(slack.channelMessages(channel)).toHaveLength(5);
    // 200 changes, far fewer updates: coalesced.
    expect(slack.calls('chat.update').length).toBeLessThan(100);
    expect(await new RedisSlackBudget(redis.client(), BOT, prefix).waiting()).toBe(0);
  }, 120_000);

  it('two replicas each with a budget of its own do exceed it (what the shared one prevents), and still end right', async () => {
    const slack = await twoReplicas([new MemorySlackBudget(BOT), new MemorySlackBudget(BOT)]);
    expect(slack.calls().filter((c) => c.status === 429).length).toBeGreaterThan(0);
  }, 120_000);

  it('a card changed on both replicas while its update waits is sent once, by one of them, with the latest state', async () => {
    const prefix = redis.prefix();
    // One update a second, no burst: while r0's update uses the token, r1's changes pile up.
    const slow: SlackLimits = {
      methods: { 'chat.update': { perMinute: 60, burst: 1 } },
      channelPosts: { perSecond: 5, burst: 5 },
    };
    const cards = new MemoryCardStore();
    await cards.save('r0', { channel: 'C0CH0', ts: '1.0' });
    await cards.save('r1', { channel: 'C0CH0', ts: '1.1' });
    const claims = new MemoryOnceClaims(systemClock);
    const versions = new Map<string, number>([['r0', 1]]);
    const updates: { ts: string; text: string }[] = [];
    const replicas = [0, 1].map(
      () =>
        new CardLanes({
          calls: {
            postMessage: async () => {
              throw new Error('no post in this test');
            },
            update: async (_channel, ts, view) => void updates.push({ ts, text: view.text }),
          },
          cards,
          claims,
          budget: new RedisSlackBudget(redis.client(), slow, prefix),
          render: async (id) => ({
            channel: 'C0CH0',
            view: { text: `${id} v${versions.get(id) ?? 0}`, blocks: [] },
            ended: false,
          }),
          logger: silentLogger,
          updateIntervalMs: 0,
        }),
    );
    lanes.push(...replicas);
    replicas[0]!.refresh('r0');
    await waitFor(() => updates.find((u) => u.ts === '1.0'), { what: 'r0 updated' });
    // r1 changes six times, the changes handled alternately by each replica.
    for (let v = 1; v <= 6; v++) {
      versions.set('r1', v);
      replicas[v % 2]!.refresh('r1');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await waitFor(() => updates.find((u) => u.ts === '1.1'), {
      what: 'r1 updated',
      timeoutMs: 20_000,
    });
    await Promise.all(replicas.map((l) => l.idle()));
    // One update for all six changes, from one replica, showing the last.
    expect(updates.filter((u) => u.ts === '1.1').map((u) => u.text)).toEqual(['r1 v6']);
    const budget = new RedisSlackBudget(redis.client(), slow, prefix);
    expect(await budget.pendingGeneration('r1', 'anyone')).toBe(0);
  }, 60_000);
});
