import type { types } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import type { StoredSample } from '../../shared/ports/health-samples.js';
import type { RolloutState } from '../../shared/rollout/state.js';
import {
  aFailedCheck,
  aGate,
  aPlan,
  aVerdict,
  aWebhookResult,
  measured,
  unavailable,
} from '../../test/support/plan-builders.js';
import { aRolloutState } from '../../test/support/state-builders.js';
import { blocksText } from '../../test/support/slack-requests.js';
import { RolloutDriver } from '../../test/support/rollout-driver.js';
import { CARD_ACTIONS, renderCard } from './card.js';

const plan = aPlan()
  .withClusters('eu-west', 'us-east')
  .withStages(5, 25, 50, 100)
  .withGate(
    aGate()
      .withChecks({ metric: 'error_rate', mode: 'absolute', max: 0.05 })
      .withCheck('latency_p99', 'relative', 1.5),
  )
  .withApproval({ approvers: ['U0LEAD', 'S0LEADS'] }, { atStage: 1 })
  .build();

function state(changes: Partial<RolloutState> = {}): RolloutState {
  return { ...aRolloutState().withId('checkout-3f9a1c').withPlan(plan).build(), ...changes };
}

function buttons(view: { blocks: types.KnownBlock[] }): types.Button[] {
  const actions = view.blocks.find((b): b is types.ActionsBlock => b.type === 'actions');
  return (actions?.elements ?? []) as types.Button[];
}

function text(view: { blocks: types.KnownBlock[] }): string {
  return blocksText(view.blocks);
}

describe('renderCard', () => {
  it('says what, who, why and where it stands, with a text fallback', () => {
    const view = renderCard(
      state({
        status: 'baking',
        stageIndex: 1,
        plan: { ...plan, reason: 'fixes INC-42' },
      }),
    );
    expect(view.text).toBe('checkout 2.4.1: baking stage 2 of 4 (25%)');
    const all = text(view);
    expect(all).toContain('*checkout* `2.4.1` (from `2.4.0`) · canary · started by <@U-starter>');
    expect(all).toContain('fixes INC-42');
    expect(all).toContain('~5%~ :heavy_check_mark:  →  *25%* :large_blue_circle:  →  50%  →  100%');
    expect(all).toContain('*eu-west* · 0% on `2.4.1` · pending');
    expect(all).toContain('`checkout-3f9a1c`');
  });

  it('offers the buttons that make sense in each state, each carrying the rollout id', () => {
    const ids = (s: Partial<RolloutState>) => buttons(renderCard(state(s))).map((b) => b.action_id);
    expect(ids({ status: 'pending' })).toEqual([CARD_ACTIONS.abort]);
    expect(ids({ status: 'baking' })).toEqual([CARD_ACTIONS.pause, CARD_ACTIONS.abort]);
    expect(ids({ status: 'awaiting_approval', stageIndex: 1 })).toEqual([
      CARD_ACTIONS.approve,
      CARD_ACTIONS.pause,
      CARD_ACTIONS.abort,
    ]);
    expect(ids({ status: 'paused', pausedFrom: 'baking' })).toEqual([
      CARD_ACTIONS.resume,
      CARD_ACTIONS.abort,
    ]);
    expect(ids({ status: 'rolling_back' })).toEqual([]);
    for (const b of buttons(renderCard(state({ status: 'awaiting_approval', stageIndex: 1 })))) {
      expect(b.value).toBe('checkout-3f9a1c');
    }
  });

  it('asks for confirmation before an abort', () => {
    const abort = buttons(renderCard(state({ status: 'baking' }))).find(
      (b) => b.action_id === CARD_ACTIONS.abort,
    );
    expect(abort?.style).toBe('danger');
    expect(abort?.confirm?.title?.text).toBe('Abort this rollout?');
    expect(abort?.confirm?.text?.text).toContain('`2.4.0`');
  });

  it('shows no buttons in a status reply', () => {
    expect(buttons(renderCard(state({ status: 'baking' }), { buttons: false }))).toEqual([]);
  });

  it('names the approvers, four-eyes and approvals so far', () => {
    const all = text(
      renderCard(state({ status: 'awaiting_approval', stageIndex: 1, approvals: ['U0LEAD'] })),
    );
    expect(all).toContain(
      '1 approval(s) needed from <@U0LEAD>, <!subteam^S0LEADS> (not <@U-starter>, who started it)',
    );
    expect(all).toContain('approved so far by <@U0LEAD>');
  });

  it('shows canary against stable with the gate thresholds beside them', () => {
    const samples: StoredSample[] = [
      {
        cluster: 'eu-west',
        receivedAt: 1,
        sample: {
          stageIndex: 1,
          windowMs: 5000,
          canary: measured({ requests: 1200, errors: 6, p99: 180 }),
          stable: measured({ requests: 20000, errors: 40, p99: 150 }),
        },
      },
    ];
    const all = text(renderCard(state({ status: 'baking', stageIndex: 1 }), { samples }));
    expect(all).toContain('gate: errors ≤ 5.0%, p99 ≤ 1.5× stable, ≥ 100 canary requests');
    expect(all).toContain(
      '*eu-west* errors 0.5% vs 0.2% (limit 5.0%) · p99 180ms vs 150ms (limit 225ms = 1.5× stable) · 1,200 canary requests in 5s',
    );
    expect(all).toContain('*us-east* _no sample yet_');
  });

  it('shows a blue-green preview’s webhook checks in the gate terms and their results per cluster', () => {
    const preview = aPlan()
      .blueGreen()
      .withClusters('eu-west')
      .withGate(aGate().withWebhook('smoke'))
      .build();
    const samples: StoredSample[] = [
      {
        cluster: 'eu-west',
        receivedAt: 1,
        sample: {
          stageIndex: 0,
          windowMs: 5000,
          canary: measured({ requests: 0 }),
          stable: measured(),
          webhooks: [aWebhookResult('smoke', false, 'status 500, expected 200')],
        },
      },
    ];
    const all = text(
      renderCard({ ...state({ status: 'baking', stageIndex: 0 }), plan: preview }, { samples }),
    );
    expect(all).toContain('webhook smoke, ≥ 100 canary requests (or webhooks alone at 0%)');
    expect(all).toContain('· webhook smoke *failed* (status 500, expected 200)');
  });

  it('shows the consumers a provider’s gate watches beside its canary', () => {
    const samples: StoredSample[] = [
      {
        cluster: 'eu-west',
        receivedAt: 1,
        sample: {
          stageIndex: 1,
          windowMs: 5000,
          canary: measured({ requests: 1200, errors: 6, p99: 180 }),
          stable: measured({ requests: 20000, errors: 40, p99: 150 }),
          dependents: [
            {
              service: 'cart',
              version: '5.0.0',
              measurement: measured({ requests: 1000, errors: 80, p99: 210 }),
            },
            { service: 'web', version: '9.1.0', measurement: unavailable(), changing: true },
            { service: 'ledger', version: 'unknown', measurement: unavailable('no route') },
          ],
        },
      },
    ];
    const all = text(renderCard(state({ status: 'baking', stageIndex: 1 }), { samples }));
    expect(all).toContain(
      '1,200 canary requests in 5s · consumer cart 5.0.0 errors 8.0%, p99 210ms · consumer web 9.1.0 _mid-rollout itself, not judged_ · consumer ledger unknown metrics unavailable: no route',
    );
  });

  it('says how it ended, with no buttons', () => {
    const succeeded = renderCard(state({ status: 'succeeded', stageIndex: 3 }));
    expect(buttons(succeeded)).toEqual([]);
    expect(succeeded.text).toBe('checkout 2.4.1: succeeded: 2.4.1 is stable in eu-west, us-east');
    expect(text(succeeded)).toContain('*Succeeded* · `2.4.1` is stable in eu-west, us-east');

    const breach = aVerdict('fail', {
      checks: [aFailedCheck({ cluster: 'us-east', measured: 0.3, threshold: 0.05 })],
      summary: 'error_rate 30.0% > 5.0% (absolute) in us-east',
    });
    const rolledBack = renderCard(
      state({
        status: 'rolled_back',
        stageIndex: 1,
        outcome: 'gate breached at stage 2 (25%): error_rate 30.0% > 5.0% (absolute) in us-east',
        gate: { tick: 3, consecutiveFailures: 2, heldAlerted: false, lastVerdict: breach },
      }),
    );
    expect(buttons(rolledBack)).toEqual([]);
    expect(text(rolledBack)).toContain('*Rolled back* to `2.4.0` in eu-west, us-east');
    expect(text(rolledBack)).toContain('error_rate 30.0% &gt; 5.0% (absolute) in us-east');

    const aborted = renderCard(
      state({ status: 'aborted', rollback: { cause: 'aborted', actor: 'U0LEAD' } }),
    );
    expect(text(aborted)).toContain('*Aborted* by <@U0LEAD>, back on `2.4.0`');
  });

  it('escapes what people typed, so a reason cannot ping the channel or break the layout', () => {
    const all = text(renderCard(state({ plan: { ...plan, reason: '<!channel> fix & <b>' } })));
    expect(all).toContain('&lt;!channel&gt; fix &amp; &lt;b&gt;');
    expect(all).not.toContain('<!channel>');
  });
});

describe('renderCard, for a rollout of several waves', () => {
  const wavePlan = aPlan()
    .withStages(5, 50, 100)
    .withWaves(['staging'], ['eu-west'], ['us-east', 'ap-south'])
    .build();

  /** The card's rows of waves and clusters, one string per line. */
  const rows = (view: { blocks: types.KnownBlock[] }) =>
    text(view)
      .split('\n')
      .filter((line) => /Wave \d|^\s+\*[a-z-]+\* ·/.test(line))
      .map((line) => line.trim());

  it('shows each wave as a row (done, in progress with its stage, waiting) with each cluster’s weight', () => {
    const d = new RolloutDriver(wavePlan);
    d.start();
    for (let i = 0; i < 3; i++) d.completeStage(); // wave 1 done
    d.completeStage(); // wave 2 at stage 2
    d.applyStage('eu-west');
    expect(rows(renderCard(d.state))).toEqual([
      '*Wave 1/3* · done, at 100% until the last wave passes',
      '*staging* · 100% on `2.4.1` · applied',
      '*Wave 2/3* · in progress · stage 2/3 (50%)',
      '*eu-west* · 50% on `2.4.1` · applied',
      '*Wave 3/3* · waiting',
      '*us-east* · 0% on `2.4.1` · pending',
      '*ap-south* · 0% on `2.4.1` · pending',
    ]);
  });

  it('shows the waves a rollback touched, and the one it never started', () => {
    const d = new RolloutDriver(wavePlan);
    d.start();
    for (let i = 0; i < 3; i++) d.completeStage();
    d.applyStage().gate('fail');
    const waves = () => rows(renderCard(d.state)).filter((r) => r.startsWith('*Wave'));
    expect(waves()).toEqual([
      '*Wave 1/3* · rolling back',
      '*Wave 2/3* · rolling back',
      '*Wave 3/3* · never started',
    ]);
    d.rollBackEverywhere();
    expect(waves()).toEqual([
      '*Wave 1/3* · rolled back',
      '*Wave 2/3* · rolled back',
      '*Wave 3/3* · never started',
    ]);
  });

  it('shows the health of the started waves: the earlier ones from their last stage, none for waves waiting', () => {
    const d = new RolloutDriver(wavePlan);
    d.start();
    for (let i = 0; i < 3; i++) d.completeStage();
    d.applyStage();
    const sample = (cluster: string, stageIndex: number): StoredSample => ({
      cluster,
      receivedAt: 1,
      sample: {
        stageIndex,
        windowMs: 5000,
        canary: measured({ requests: 1200, errors: 6, p99: 180 }),
        stable: measured({ requests: 20000, errors: 40, p99: 150 }),
      },
    });
    const health = text(
      renderCard(d.state, { samples: [sample('eu-west', 0), sample('staging', 2)] }),
    )
      .split('\n')
      .filter((line) => line.startsWith('• '));
    expect(health.map((line) => line.split(' errors')[0])).toEqual(['• *staging*', '• *eu-west*']);
  });

  it('shows a plan of one wave as before: one line per cluster, no wave rows', () => {
    expect(text(renderCard(state()))).not.toMatch(/Wave/);
  });
});
