import { afterEach, describe, expect, it } from 'vitest';
import { MemorySlackBudget } from '../../bot/adapters/memory-slack-budget.js';
import { SLACK_PEOPLE } from '../support/slack-policy.js';
import { startSlackProduct, type SlackProduct } from '../support/slack-product.js';
import { ENDED, buttonsOf, startedId, waitForStatus } from './slack-helpers.js';
import { waitFor } from '../support/wait-for.js';

const ROLLOUTS = 8;

/**
 * Services that each have their own channel, with gates every 100 ms: every tick refreshes the
 * card, so the rollouts together ask for far more `chat.update` calls than Slack's 50 a minute.
 */
function busyPolicy(): string {
  const services = Array.from(
    { length: ROLLOUTS },
    (_, i) => `  svc-${i}:
    channel: C0BUSY${i}
    clusters: [eu-west, us-east]
    stableVersion: 1.0.0`,
  ).join('\n');
  return `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [5, 50, 100]
  bake: 1s
  gate:
    interval: 100ms
    minRequests: 1
    checks: []
services:
${services}
simulation:
  seed: 7
`;
}

describe('Slack within its limits under load', () => {
  let product: SlackProduct | undefined;
  afterEach(async () => {
    await product?.stop();
    product = undefined;
  });

  /** Starts the rollouts together; resolves once each succeeded and its card shows it. */
  async function runAll(p: SlackProduct): Promise<void> {
    const ids = await Promise.all(
      Array.from({ length: ROLLOUTS }, async (_, i) =>
        startedId(
          await p.slack.ask(`start svc-${i} 2.0.0`, {
            user: SLACK_PEOPLE.STARTER,
            channel: `C0BUSY${i}`,
          }),
        ),
      ),
    );
    const states = await Promise.all(ids.map((id) => waitForStatus(p, id, ENDED)));
    expect(states.map((s) => s.status)).toEqual(ids.map(() => 'succeeded'));
    // The rollouts asked for far more updates than Slack takes: the cards catch up afterwards.
    for (let i = 0; i < ROLLOUTS; i++) {
      const card = await waitFor(
        () => {
          const c = p.api.channelMessages(`C0BUSY${i}`)[0];
          return c && c.text.includes('succeeded') ? c : undefined;
        },
        { what: `svc-${i}'s card to show it succeeded`, timeoutMs: 120_000 },
      );
      expect(buttonsOf(card)).toEqual([]);
      expect(p.api.channelMessages(`C0BUSY${i}`)).toHaveLength(1);
    }
    await p.surface.idle();
  }

  it('keeps many concurrent rollouts’ cards within Slack’s limits (no 429), each card ending on its final state', async () => {
    // The double enforces Slack's limits (SLACK_DOUBLE_LIMITS): a call over them would be a 429.
    product = await startSlackProduct({ policyYaml: busyPolicy() });
    const p = product;
    await runAll(p);

    const calls = p.api.calls();
    expect(calls.filter((c) => c.status === 429)).toEqual([]);
    // Many more changes than updates: coalesced.
    const metrics = await (await fetch(`${p.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/rollout_slack_card_delay_seconds_count [1-9]/);
    expect(metrics).toMatch(
      /rollout_slack_queue_delay_seconds_count\{kind="update",priority="(transition|refresh)"\} [1-9]/,
    );
    expect(metrics).toMatch(/rollout_slack_queued\{what="cards"\} 0/);
    expect(metrics).toMatch(/rollout_slack_budget_waiting 0/);
    expect(metrics).not.toMatch(/rollout_slack_api_rate_limited_total\{/);
  }, 180_000);

  it('is what keeps it so: a bot allowing itself ten times Slack’s rate meets 429s, waits them out, and still ends right', async () => {
    product = await startSlackProduct({
      policyYaml: busyPolicy(),
      budget: new MemorySlackBudget({
        methods: { 'chat.update': { perMinute: 500, burst: 100 } },
        channelPosts: { perSecond: 10, burst: 30 },
      }),
    });
    const p = product;
    await runAll(p);
    expect(p.api.calls().filter((c) => c.status === 429).length).toBeGreaterThan(0);
  }, 180_000);
});
