import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { silentLogger } from '../../shared/log.js';
import { e2ePolicyYaml } from '../../test/support/e2e-policy.js';
import { aRolloutState } from '../../test/support/state-builders.js';
import { MemoryCardStore } from '../adapters/memory-card-store.js';
import { MemoryOnceClaims } from '../adapters/memory-once-claims.js';
import type { CardLanes } from './card-lanes.js';
import { SurfaceMetrics } from './metrics.js';
import { SlackNotifier } from './slack-notifier.js';

describe('SlackNotifier: cards of finished rollouts', () => {
  it("sets a finished rollout's card to expire with the rollout's retention, and no running one's", async () => {
    let now = 1_000_000;
    const cards = new MemoryCardStore(() => now);
    const policy = parsePolicy(
      `${e2ePolicyYaml()}\nretention: { finishedRollouts: 2d }\n`,
      'p.yaml',
    );
    const lanes = { refresh: () => {}, reply: async () => {} } as unknown as CardLanes;
    const notifier = new SlackNotifier({
      lanes,
      cards,
      claims: new MemoryOnceClaims({ now: () => now }),
      policy: () => policy,
      metrics: new SurfaceMetrics({ processMetrics: false }),
      logger: silentLogger,
    });
    const running = aRolloutState().withId('running').withStatus('baking').build();
    const ended = aRolloutState().withId('ended').withStatus('succeeded').build();
    for (const state of [running, ended]) await cards.save(state.id, { channel: 'C1', ts: '1.1' });

    await notifier.rolloutChanged(running, {
      actor: 'system:gate',
      input: 'gate_result',
      status: 'baking',
    });
    await notifier.rolloutChanged(ended, {
      actor: 'agent',
      input: 'promoted',
      status: 'succeeded',
    });
    now += 2 * 86_400_000 - 1;
    expect(await cards.get('ended')).toBeDefined();
    now += 1;
    expect(await cards.get('ended')).toBeUndefined();
    expect(await cards.get('running')).toBeDefined();
  });

  it('tells the lanes how urgent each call is: approvals and alerts first, routine ticks and per-cluster lines last', async () => {
    const policy = parsePolicy(e2ePolicyYaml(), 'p.yaml');
    const refreshes: string[] = [];
    const replies: [string, string | undefined][] = [];
    const lanes = {
      refresh: (_id: string, priority: string) => refreshes.push(priority),
      reply: async (_id: string, m: { text: string; priority?: string }) =>
        void replies.push([m.text.split(' ')[0]!, m.priority]),
    } as unknown as CardLanes;
    const notifier = new SlackNotifier({
      lanes,
      cards: new MemoryCardStore(),
      claims: new MemoryOnceClaims({ now: () => 0 }),
      policy: () => policy,
      metrics: new SurfaceMetrics({ processMetrics: false }),
      logger: silentLogger,
    });
    const state = aRolloutState().withStatus('baking').build();
    await notifier.rolloutChanged(state, { actor: 'system:gate', input: 'unrecorded' });
    await notifier.rolloutChanged(state, {
      actor: 'agent',
      input: 'stage_applied',
      detail: 'eu-west at 25%',
      status: 'baking',
      version: 4,
    });
    await notifier.rolloutChanged(state, {
      actor: 'system:gate',
      input: 'gate_result',
      status: 'awaiting_approval',
      version: 5,
    });
    await notifier.rolloutChanged(state, {
      actor: 'U0LEAD',
      input: 'approve',
      status: 'baking',
      version: 6,
    });
    await notifier.alert(state, 'gate_breached', 'error rate 9% over 5%');
    await notifier.rolloutChanged(state, {
      actor: 'system:gate',
      input: 'gate_result',
      status: 'rolled_back',
      version: 7,
    });
    // The end goes before other cards' transitions: the card's last update is never starved.
    expect(refreshes).toEqual(['refresh', 'transition', 'alert', 'transition', 'terminal']);
    expect(replies.map(([, priority]) => priority)).toEqual([
      'routine',
      'transition',
      'transition',
      'alert',
      'transition',
    ]);
  });
});
