import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { silentLogger } from '../../shared/log.js';
import type { ReleaseState } from '../../shared/release/state.js';
import { aReleaseState } from '../../test/support/release-builders.js';
import { MemoryCardStore } from '../adapters/memory-card-store.js';
import { MemoryOnceClaims } from '../adapters/memory-once-claims.js';
import { MemorySlackBudget } from '../adapters/memory-slack-budget.js';
import { CardLanes } from './card-lanes.js';
import { releaseCardId, releaseCardRenderer, SlackReleaseNotifier } from './release-notifier.js';
import { SlackRateLimitedError, type OutgoingMessage, type SlackCalls } from './slack-calls.js';

/** Virtual time for the lanes: sleeping moves the clock, so waits never depend on speed. */
class VirtualClock {
  t = 1_000_000;
  now = () => this.t;
  sleep = async (ms: number) => {
    this.t += Math.max(0, ms);
    await new Promise((resolve) => setImmediate(resolve));
  };
}

type Sent =
  | { kind: 'post'; channel: string; text: string; threadTs?: string }
  | { kind: 'update'; channel: string; text: string };

/** A Slack that records what arrived, in order, and answers a 429 when told to. */
class FakeSlack implements Pick<SlackCalls, 'postMessage' | 'update'> {
  sent: Sent[] = [];
  refusals: Error[] = [];
  private n = 0;

  async postMessage(message: OutgoingMessage) {
    const refusal = this.refusals.shift();
    if (refusal) throw refusal;
    this.sent.push({
      kind: 'post',
      channel: message.channel,
      text: message.text,
      ...(message.threadTs !== undefined && { threadTs: message.threadTs }),
    });
    return { channel: message.channel, ts: `1.${++this.n}` };
  }

  async update(channel: string, _ts: string, view: { text: string }) {
    this.sent.push({ kind: 'update', channel, text: view.text });
  }
}

const policy = parsePolicy(
  `
clusters:
  eu-west: {}
services:
  payments: { channel: C0PAYMENTS, oncall: S0PAYMENTS, clusters: [eu-west] }
  checkout: { channel: C0CHECKOUT, oncall: S0CHECKOUT, clusters: [eu-west], dependsOn: [payments] }
  search: { channel: C0SEARCH, clusters: [eu-west] }
`,
  'policy.yaml',
);

/** Lets the lanes run (each virtual sleep yields) until `done`, or fails after many rounds. */
async function until(done: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 5_000 && !(await done()); i++) await new Promise((r) => setImmediate(r));
  expect(await done()).toBe(true);
}

/**
 * One process's lanes carrying both a rollout card (`r1`, in C0SEARCH) and the release card, the
 * release notifier on them, and (optionally) a budget on a clock only the test moves.
 */
function setup(budget?: MemorySlackBudget) {
  const clock = new VirtualClock();
  const slack = new FakeSlack();
  let release: ReleaseState = aReleaseState('rel-1');
  const rollout = { version: 1 };
  const renderRelease = releaseCardRenderer({
    releases: () => ({ get: async (id: string) => (id === release.id ? release : undefined) }),
    policy: () => policy,
    clock: { now: clock.now },
  });
  const lanes = new CardLanes({
    calls: slack,
    cards: new MemoryCardStore(),
    claims: new MemoryOnceClaims({ now: clock.now }),
    render: async (id) =>
      id === releaseCardId(release.id)
        ? renderRelease(release.id)
        : {
            channel: 'C0SEARCH',
            view: { text: `r1 v${rollout.version}`, blocks: [] },
            ended: false,
          },
    logger: silentLogger,
    updateIntervalMs: 1000,
    now: clock.now,
    sleep: clock.sleep,
    ...(budget && { budget }),
  });
  const notifier = new SlackReleaseNotifier({
    lanes,
    cards: new MemoryCardStore(),
    policy: () => policy,
    logger: silentLogger,
  });
  return {
    slack,
    lanes,
    notifier,
    rollout,
    /** The release as stored now: what the card renders when it is sent. */
    store(next: Partial<ReleaseState>): ReleaseState {
      release = { ...release, ...next, version: release.version + 1 };
      return release;
    },
  };
}

const cardTexts = (slack: FakeSlack, kind: Sent['kind'], channel = 'C0PAYMENTS') =>
  slack.sent.filter(
    (s) => s.kind === kind && s.channel === channel && !('threadTs' in s && s.threadTs),
  );

describe('SlackReleaseNotifier on the card lanes', () => {
  it("posts the release card once in its first member's channel, then coalesces its updates to the latest state", async () => {
    const { slack, lanes, notifier, store } = setup();
    await notifier.releaseChanged(store({ status: 'running' }));
    await lanes.idle();
    expect(cardTexts(slack, 'post')).toHaveLength(1);
    expect(cardTexts(slack, 'post')[0]!.text).toContain('running');
    // Five changes in a row: one update, showing the last.
    for (const status of ['paused', 'running', 'paused', 'running'] as const) {
      await notifier.releaseChanged(store({ status }));
    }
    await notifier.releaseChanged(store({ status: 'rolling_back' }));
    await lanes.idle();
    const updates = cardTexts(slack, 'update');
    expect(updates).toHaveLength(1);
    expect(updates[0]!.text).toMatch(/rolling back/i);
    expect(slack.sent.filter((s) => s.kind === 'post')).toHaveLength(1);
  });

  it("sends the release's end (terminal) before a rollout card's refresh that waited longer for the budget", async () => {
    const time = { t: 0 };
    const budget = new MemorySlackBudget(
      {
        methods: { 'chat.update': { perMinute: 60, burst: 1 } },
        channelPosts: { perSecond: 10, burst: 10 },
      },
      () => time.t,
    );
    const { slack, lanes, notifier, rollout, store } = setup(budget);
    lanes.refresh('r1');
    await notifier.releaseChanged(store({ status: 'running' }));
    await lanes.idle();
    expect(slack.sent.filter((s) => s.kind === 'post')).toHaveLength(2);
    // The one chat.update token goes to r1; its next refresh then waits, and the release's end
    // after it.
    rollout.version = 2;
    lanes.refresh('r1', 'refresh');
    await until(() => slack.sent.some((s) => s.kind === 'update'));
    rollout.version = 3;
    lanes.refresh('r1', 'refresh');
    await until(async () => (await budget.waiting()) === 1);
    await notifier.releaseChanged(store({ status: 'rolled_back', endedAt: 5 }));
    // The process holds one ticket per group of calls (see BudgetDrainer): both wait behind it.
    for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
    expect(slack.sent.filter((s) => s.kind === 'update')).toHaveLength(1);
    time.t += 1_000;
    await until(() => slack.sent.filter((s) => s.kind === 'update').length === 2);
    time.t += 1_000;
    await lanes.idle();
    const updates = slack.sent.filter((s) => s.kind === 'update').map((u) => u.text);
    expect(updates).toHaveLength(3);
    expect(updates[0]).toBe('r1 v2');
    expect(updates[1]).toMatch(/rolled back/i);
    expect(updates[2]).toBe('r1 v3');
  });

  it('puts a page before the thread lines still waiting, pages once per message, and says each line once per key', async () => {
    const { slack, lanes, notifier, store } = setup();
    const state = store({ status: 'rolling_back' });
    await notifier.releaseChanged(state);
    await lanes.idle();
    slack.refusals.push(new SlackRateLimitedError('chat.postMessage', 1_000));
    await notifier.releaseLine(state, 'starting payments', 'effect-1');
    await notifier.releaseLine(state, 'starting search', 'effect-2');
    await notifier.releaseLine(state, 'starting search', 'effect-2'); // a replay of the same effect
    const page = notifier.releasePage(state, ['payments', 'checkout'], 'release rel-1 rolled back');
    await page;
    await notifier.releasePage(state, ['payments', 'checkout'], 'release rel-1 rolled back');
    await lanes.idle();
    const thread = slack.sent.filter((s) => s.kind === 'post' && s.threadTs !== undefined);
    expect(thread.map((s) => s.text)).toEqual([
      'starting payments',
      '<!subteam^S0PAYMENTS> <!subteam^S0CHECKOUT> :rotating_light: release rel-1 rolled back',
      'starting search',
    ]);
    expect(thread.every((s) => s.channel === 'C0PAYMENTS')).toBe(true);
  });
});
