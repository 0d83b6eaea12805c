import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCardStore } from '../../bot/adapters/memory-card-store.js';
import { MemoryOnceClaims } from '../../bot/adapters/memory-once-claims.js';
import { RedisSlackBudget } from '../../bot/adapters/redis-slack-budget.js';
import { CardLanes } from '../../bot/slack/card-lanes.js';
import { systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/log.js';
import type { SlackLimits } from '../../shared/ports/slack-budget.js';
import { privateRedis } from '../support/redis-adapters.js';

/** One update a second (burst 2): far fewer than the cards waiting, so most wait the whole test. */
const LIMITS: SlackLimits = {
  methods: { 'chat.update': { perMinute: 60, burst: 2 } },
  channelPosts: { perSecond: 1, burst: 1 },
};
/** How long the cards wait while Redis's commands are counted. */
const WATCH_MS = 3_000;

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

/** Every command Redis has run (scripts' own commands included), from `INFO commandstats`. */
async function commandsRun(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    if (m[1] !== 'info') total += Number(m[2]);
  return total;
}

/** `cards` cards already posted all want an update at once; Redis commands run while they wait. */
async function waitingCards(cards: number) {
  const admin = redis.client();
  const client = redis.client();
  const prefix = redis.prefix();
  const store = new MemoryCardStore();
  const ids = Array.from({ length: cards }, (_, i) => `r${i}`);
  for (const id of ids) await store.save(id, { channel: `C${cards}`, ts: `ts-${id}` });
  const updated: string[] = [];
  const budget = new RedisSlackBudget(client, LIMITS, prefix);
  const lanes = new CardLanes({
    calls: {
      postMessage: async () => {
        throw new Error('no card is posted in this test');
      },
      update: async (_channel, ts) => void updated.push(ts),
    },
    cards: store,
    claims: new MemoryOnceClaims(systemClock),
    budget,
    render: async (id) => ({ channel: `C${cards}`, view: { text: id, blocks: [] }, ended: false }),
    logger: silentLogger,
    updateIntervalMs: 0,
  });
  // Redis has the budget's scripts before the cards ask (as it does but for the first moments after
  // a restart, when concurrent first calls have no order between them: see `RedisScript.run`).
  await budget.markPending('warm-up', 'warm-up', 'refresh');
  await budget.sent('warm-up', 'warm-up', 1);
  await budget.pendingGeneration('warm-up', 'warm-up');
  await budget.take({
    ticket: 'warm-up',
    method: 'chat.update',
    channel: 'C0',
    priority: 'refresh',
  });
  for (const id of ids) lanes.refresh(id, 'refresh');
  // Each change is told to the budget once (who owns the card's update): that costs per change,
  // not per waiting card, and is done before counting starts.
  for (;;) {
    const marked = (await admin.keys(`${prefix}slack:pending:*`)).length + updated.length;
    if (marked >= cards) break;
    await sleep(50);
  }
  const before = await commandsRun(admin);
  await sleep(WATCH_MS);
  const commands = (await commandsRun(admin)) - before;
  const line = await budget.waiting();
  await lanes.stop(0);
  return { commands, updated, line };
}

describe('the shared Slack budget under 1,000 waiting cards (Redis)', () => {
  it('costs Redis the same with 1,000 waiting cards as with 100: one ticket per replica, asked about as often as it grants', async () => {
    const few = await waitingCards(100);
    const many = await waitingCards(1_000);
    for (const run of [few, many]) {
      // The cards were served in the order they asked, within the budget (2 + 1 a second).
      expect(run.updated.length).toBeGreaterThan(0);
      expect(run.updated.length).toBeLessThanOrEqual(2 + Math.ceil(WATCH_MS / 1000) + 1);
      expect(run.updated).toEqual(run.updated.map((_, i) => `ts-r${i}`));
      // The line holds this replica's one ticket (none for the moment between a grant and its
      // next ask), not one per card.
      expect(run.line).toBeLessThanOrEqual(1);
    }
    // Asking per card (as before) cost at least one script per card every 5 s, each scanning
    // the line: thousands of commands. Now: a few scripts a second, whatever the cards.
    expect(many.commands).toBeLessThan(few.commands * 1.5 + 30);
    expect(many.commands).toBeLessThan(200);
  }, 60_000);
});
