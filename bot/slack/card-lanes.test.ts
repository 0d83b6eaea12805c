import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.js';
import { MemoryCardStore } from '../adapters/memory-card-store.js';
import { MemoryOnceClaims } from '../adapters/memory-once-claims.js';
import { MemorySlackBudget } from '../adapters/memory-slack-budget.js';
import { CardLanes, MESSAGE_CLAIM_MS } from './card-lanes.js';
import {
  SlackCallError,
  SlackRateLimitedError,
  type OutgoingMessage,
  type SlackCalls,
} from './slack-calls.js';

/** Virtual time: sleeping moves the clock, so waits are exact and tests never depend on speed. */
class VirtualClock {
  t = 1_000_000;
  now = () => this.t;
  sleep = async (ms: number) => {
    this.t += Math.max(0, ms);
    await new Promise((resolve) => setImmediate(resolve));
  };
}

type Sent =
  | { kind: 'post'; at: number; message: OutgoingMessage; ts: string }
  | { kind: 'update'; at: number; channel: string; ts: string; text: string };

/** A Slack that records what arrived and answers 429 (or an error) when told to. */
class FakeSlack implements Pick<SlackCalls, 'postMessage' | 'update'> {
  sent: Sent[] = [];
  refusals: (Error | undefined)[] = [];
  private n = 0;

  constructor(private readonly clock: VirtualClock) {}

  async postMessage(message: OutgoingMessage) {
    await this.maybeRefuse();
    const ts = `1.${++this.n}`;
    this.sent.push({ kind: 'post', at: this.clock.t, message, ts });
    return { channel: message.channel, ts };
  }

  async update(channel: string, ts: string, view: { text: string }) {
    await this.maybeRefuse();
    this.sent.push({ kind: 'update', at: this.clock.t, channel, ts, text: view.text });
  }

  posts() {
    return this.sent.filter((s): s is Extract<Sent, { kind: 'post' }> => s.kind === 'post');
  }

  updates() {
    return this.sent.filter((s): s is Extract<Sent, { kind: 'update' }> => s.kind === 'update');
  }

  private async maybeRefuse() {
    const refusal = this.refusals.shift();
    if (refusal) throw refusal;
  }
}

/** A budget on its own clock, moved only by the test: one `chat.update` a second, burst 1. */
function slowBudget() {
  const time = { t: 0 };
  const budget = new MemorySlackBudget(
    {
      methods: { 'chat.update': { perMinute: 60, burst: 1 } },
      channelPosts: { perSecond: 1, burst: 1 },
    },
    () => time.t,
  );
  return { time, budget };
}

/** Lets the lanes run (each of their virtual sleeps yields) until `done` or a round limit. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 5_000 && !done(); i++) await new Promise((r) => setImmediate(r));
  expect(done()).toBe(true);
}

function setup(options: { replicas?: number; budget?: MemorySlackBudget } = {}) {
  const clock = new VirtualClock();
  const slack = new FakeSlack(clock);
  const cards = new MemoryCardStore();
  const claims = new MemoryOnceClaims({ now: clock.now });
  const rollout = { version: 1, ended: false };
  const lanes = Array.from(
    { length: options.replicas ?? 1 },
    () =>
      new CardLanes({
        calls: slack,
        cards,
        claims,
        render: async () => ({
          channel: 'C1',
          view: { text: `v${rollout.version}`, blocks: [] },
          ended: rollout.ended,
        }),
        logger: silentLogger,
        updateIntervalMs: 1000,
        now: clock.now,
        sleep: clock.sleep,
        ...(options.budget ? { budget: options.budget } : {}),
      }),
  );
  return { clock, slack, cards, claims, lanes, rollout };
}

describe('CardLanes', () => {
  it('posts a card once, then coalesces updates to one per second showing the latest state', async () => {
    const { slack, lanes, rollout } = setup();
    const [lane] = lanes;
    lane!.refresh('r1');
    await lane!.idle();
    for (let v = 2; v <= 6; v++) {
      rollout.version = v;
      lane!.refresh('r1');
    }
    await lane!.idle();
    rollout.version = 7;
    lane!.refresh('r1');
    await lane!.idle();

    expect(slack.posts().map((p) => p.message.text)).toEqual(['v1']);
    const updates = slack.updates();
    expect(updates.map((u) => u.text)).toEqual(['v6', 'v7']);
    expect(updates.every((u) => u.ts === slack.posts()[0]!.ts)).toBe(true);
    const times = [slack.posts()[0]!.at, ...updates.map((u) => u.at)];
    for (let i = 1; i < times.length; i++)
      expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1000);
  });

  it('after a 429 waits Retry-After and sends the state as it is then', async () => {
    const { clock, slack, lanes, rollout } = setup();
    const [lane] = lanes;
    lane!.refresh('r1');
    await lane!.idle();
    slack.refusals.push(new SlackRateLimitedError('chat.update', 30_000));
    rollout.version = 2;
    lane!.refresh('r1');
    // While the lane waits out the 429, the rollout moves on twice.
    await new Promise((resolve) => setImmediate(resolve));
    rollout.version = 3;
    lane!.refresh('r1');
    await lane!.idle();
    expect(slack.updates().map((u) => u.text)).toEqual(['v3']);
    expect(slack.updates()[0]!.at - slack.posts()[0]!.at).toBeGreaterThanOrEqual(30_000);
    expect(clock.t).toBeGreaterThan(0);
  });

  it('posts thread replies after the card, in order, once each, also through 429s', async () => {
    const { slack, lanes } = setup();
    const [lane] = lanes;
    slack.refusals.push(
      new SlackRateLimitedError('chat.postMessage', 5_000),
      undefined,
      new SlackRateLimitedError('chat.postMessage', 5_000),
    );
    lane!.reply('r1', { text: 'started', claimKey: 'thread:r1:1' });
    lane!.reply('r1', { text: 'stage 1', claimKey: 'thread:r1:2' });
    lane!.reply('r1', { text: 'started', claimKey: 'thread:r1:1' }); // a replayed effect
    lane!.refresh('r1');
    await lane!.idle();
    const posts = slack.posts();
    expect(posts.map((p) => p.message.text)).toEqual(['v1', 'started', 'stage 1']);
    expect(posts.slice(1).every((p) => p.message.threadTs === posts[0]!.ts)).toBe(true);
  });

  it('lets two replicas share one card and post each reply once', async () => {
    const { slack, lanes, cards } = setup({ replicas: 2 });
    const [a, b] = lanes;
    a!.refresh('r1');
    b!.refresh('r1');
    a!.reply('r1', { text: 'started', claimKey: 'thread:r1:1' });
    b!.reply('r1', { text: 'started', claimKey: 'thread:r1:1' });
    await Promise.all([a!.idle(), b!.idle()]);
    const posts = slack.posts();
    expect(posts.map((p) => p.message.text)).toEqual(['v1', 'started']);
    expect(await cards.get('r1')).toEqual({ channel: 'C1', ts: posts[0]!.ts });
  });

  it('claims a rollout’s replies in its group: once across replicas, one record per rollout', async () => {
    const { slack, lanes, claims } = setup({ replicas: 2 });
    const [a, b] = lanes;
    for (const id of ['r1', 'r2']) {
      a!.refresh(id);
      // The same short key in two rollouts' groups: two different lines.
      for (const lane of [a!, b!])
        lane.reply(id, {
          text: `${id} started`,
          claimKey: 't:1',
          claimGroup: id,
          claimTtlMs: 5_000,
        });
    }
    await Promise.all([a!.idle(), b!.idle()]);
    const lines = slack.posts().filter((p) => p.message.threadTs !== undefined);
    expect(lines.map((p) => p.message.text).sort()).toEqual(['r1 started', 'r2 started']);
    expect(claims.size).toBe(2 + 2); // the two card-post claims, and one group per rollout
  });

  it('gives up a call Slack refuses for good, and goes on with the next', async () => {
    const { slack, lanes } = setup();
    const [lane] = lanes;
    lane!.refresh('r1');
    await lane!.idle();
    slack.refusals.push(new SlackCallError('chat.postMessage', 'msg_too_long', 'msg_too_long'));
    lane!.reply('r1', { text: 'too long', claimKey: 'a' });
    lane!.reply('r1', { text: 'fine', claimKey: 'b' });
    await lane!.idle();
    expect(slack.posts().map((p) => p.message.text)).toEqual(['v1', 'fine']);
  });

  it('resolves a reply once it is posted', async () => {
    const { slack, lanes } = setup();
    const [lane] = lanes;
    const delivered = lane!.reply('r1', { text: 'rolled back', claimKey: 'alert:r1' });
    expect(lane!.reply('r1', { text: 'rolled back', claimKey: 'alert:r1' })).toBe(delivered);
    lane!.refresh('r1');
    await delivered;
    expect(slack.posts().map((p) => p.message.text)).toEqual(['v1', 'rolled back']);
  });

  it('rejects a reply it gives up and frees its claim, so another replica can post it', async () => {
    const { slack, lanes } = setup({ replicas: 2 });
    const [a, b] = lanes;
    a!.refresh('r1');
    await a!.idle();
    const down = () => new SlackCallError('chat.postMessage', 'internal_error', 'internal_error');
    slack.refusals.push(down(), down(), down(), down(), down());
    const alert = { text: 'rolled back', claimKey: 'alert:r1', priority: 'alert' as const };

    await expect(a!.reply('r1', alert)).rejects.toThrow(/given up/);
    expect(slack.posts().map((p) => p.message.text)).toEqual(['v1']);
    await b!.reply('r1', alert);
    expect(slack.posts().map((p) => p.message.text)).toEqual(['v1', 'rolled back']);
    await a!.reply('r1', alert); // a replay: already posted, resolves without posting again
    expect(slack.posts()).toHaveLength(2);
  });

  it('claims a reply for a day (a replay within it is refused), and the claim then expires', async () => {
    expect(MESSAGE_CLAIM_MS).toBe(24 * 3_600_000);
    const { clock, slack, claims, lanes } = setup();
    const [lane] = lanes;
    lane!.refresh('r1');
    await lane!.reply('r1', { text: 'started', claimKey: 'thread:r1:1' });
    clock.t += MESSAGE_CLAIM_MS - 60_000;
    await lane!.reply('r1', { text: 'started', claimKey: 'thread:r1:1' }); // replayed in the day
    expect(slack.posts().map((p) => p.message.text)).toEqual(['v1', 'started']);
    clock.t += 60_000;
    // Expired: memory claims drop it at their next pass, as Redis drops the key.
    expect(await claims.claim('other', 1)).toBe(true);
    expect(claims.size).toBe(1);
  });

  it('retries a call that failed for a passing reason', async () => {
    const { slack, lanes } = setup();
    const [lane] = lanes;
    slack.refusals.push(new SlackCallError('chat.postMessage', undefined, 'ECONNRESET'));
    lane!.refresh('r1');
    await lane!.idle();
    expect(slack.posts()).toHaveLength(1);
  });

  it('posts channel messages (cluster alerts) outside any card', async () => {
    const { slack, lanes } = setup();
    const [lane] = lanes;
    lane!.post('C9', { text: 'agent silent', claimKey: 'cluster:x' });
    lane!.post('C9', { text: 'agent silent', claimKey: 'cluster:x' });
    await lane!.idle();
    expect(
      slack.posts().map((p) => [p.message.channel, p.message.text, p.message.threadTs]),
    ).toEqual([['C9', 'agent silent', undefined]]);
  });

  it('coalesces the changes made while a card waits for the budget into one update of the latest', async () => {
    const { time, budget } = slowBudget();
    const { slack, lanes, rollout, cards } = setup({ budget });
    const [lane] = lanes;
    await cards.save('r1', { channel: 'C1', ts: '1.1' });
    await cards.save('r0', { channel: 'C1', ts: '1.0' });
    lane!.refresh('r0'); // takes the only token
    await until(() => slack.updates().length === 1);
    for (let v = 2; v <= 11; v++) {
      rollout.version = v;
      lane!.refresh('r1', 'refresh');
      await new Promise((r) => setImmediate(r));
    }
    expect(slack.updates()).toHaveLength(1);
    time.t += 1_000;
    await lane!.idle();
    expect(slack.updates().map((u) => [u.ts, u.text])).toEqual([
      ['1.0', 'v1'],
      ['1.1', 'v11'],
    ]);
  });

  it('updates a card with a transition before 100 cards waiting with routine refreshes', async () => {
    const { time, budget } = slowBudget();
    const { slack, lanes, cards } = setup({ budget });
    const [lane] = lanes;
    const ids = Array.from({ length: 100 }, (_, i) => `r${i}`);
    for (const id of [...ids, 'urgent']) await cards.save(id, { channel: 'C1', ts: `ts-${id}` });
    for (const id of ids) lane!.refresh(id, 'refresh');
    await until(() => slack.updates().length === 1);
    // The 99 waiting cards hold one ticket in the shared line (this replica's chat.update group).
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(await budget.waiting()).toBe(1);
    lane!.refresh('urgent', 'transition');
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    time.t += 1_000;
    await until(() => slack.updates().length === 2);
    time.t += 1_000;
    await until(() => slack.updates().length === 3);
    expect(slack.updates().map((u) => u.ts)).toEqual(['ts-r0', 'ts-urgent', 'ts-r1']);
  });

  it('sends an alert before the routine lines queued in its lane, and keeps retrying a card while Slack is down', async () => {
    const { slack, lanes, rollout } = setup();
    const [lane] = lanes;
    lane!.refresh('r1');
    await lane!.idle();
    const down = () => new SlackCallError('chat.update', undefined, 'HTTP 503');
    slack.refusals.push(...Array.from({ length: 12 }, down));
    rollout.version = 2;
    lane!.refresh('r1');
    await lane!.idle();
    // Twelve failures, well past `maxAttempts`: the card is still brought up to date.
    expect(slack.updates().map((u) => u.text)).toEqual(['v2']);

    slack.refusals.push(new SlackRateLimitedError('chat.postMessage', 1_000));
    lane!.reply('r1', { text: 'line 1', claimKey: 'l1', priority: 'routine' });
    lane!.reply('r1', { text: 'line 2', claimKey: 'l2', priority: 'routine' });
    lane!.reply('r1', { text: 'rolled back', claimKey: 'a1', priority: 'alert' });
    await lane!.idle();
    expect(slack.posts().map((p) => p.message.text)).toEqual([
      'v1',
      'line 1',
      'rolled back',
      'line 2',
    ]);
  });

  it('holds a bounded number of messages per lane, dropping the oldest routine one', async () => {
    const { slack, cards, claims } = setup();
    const clock = new VirtualClock();
    const lane = new CardLanes({
      calls: slack,
      cards,
      claims,
      render: async () => ({ channel: 'C1', view: { text: 'card', blocks: [] }, ended: false }),
      logger: silentLogger,
      now: clock.now,
      sleep: clock.sleep,
      maxQueuedMessages: 3,
    });
    const sent = ['a', 'b', 'c', 'd', 'e'].map((k) =>
      lane.reply('r1', { text: k, claimKey: k, priority: k === 'e' ? 'alert' : 'routine' }),
    );
    const outcomes = await Promise.allSettled(sent);
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect(lane.depth()).toEqual({ cards: 0, messages: 0 });
  });

  it('posts a card that waited for the budget with the state as it is when posted, not when it began to wait', async () => {
    const { time, budget } = slowBudget();
    const { slack, lanes, rollout } = setup({ budget });
    const [lane] = lanes;
    lane!.post('C1', { text: 'takes the channel', claimKey: 'c1' });
    await until(() => slack.posts().length === 1);
    lane!.refresh('r1');
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(await budget.waiting()).toBe(1);
    rollout.version = 2;
    lane!.refresh('r1');
    time.t += 5_000;
    await lane!.idle();
    expect(slack.posts().map((p) => p.message.text)).toEqual(['takes the channel', 'v2']);
    expect(slack.updates()).toEqual([]);
  });
});
