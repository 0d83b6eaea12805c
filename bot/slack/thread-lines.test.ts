import { describe, expect, it } from 'vitest';
import { aPlan } from '../../test/support/plan-builders.js';
import { RolloutDriver } from '../../test/support/rollout-driver.js';
import { aRolloutState } from '../../test/support/state-builders.js';
import { actorLabel, slackify } from './slack-text.js';
import { threadLine } from './thread-lines.js';

const state = aRolloutState()
  .withPlan(aPlan().withClusters('eu-west', 'us-east').withStages(5, 50, 100).build())
  .build();

describe('threadLine', () => {
  it('says who did what for people’s actions', () => {
    expect(threadLine(state, { actor: 'user:U0LEAD', input: 'pause' })).toBe(
      ':double_vertical_bar: <@U0LEAD> paused the rollout',
    );
    expect(
      threadLine(state, { actor: 'user:U0LEAD', input: 'approve', status: 'awaiting_approval' }),
    ).toBe(':white_check_mark: <@U0LEAD> approved; more approvals are needed');
    expect(
      threadLine(state, {
        actor: 'user:U0LEAD',
        input: 'abort',
        detail: 'wrong build',
        status: 'rolling_back',
      }),
    ).toBe(':no_entry: <@U0LEAD> aborted the rollout: wrong build; rolling back');
  });

  it('reports a failed command, but not each retry of a failed rollback (its alert covers it)', () => {
    const failed = (detail: string) =>
      threadLine(state, {
        actor: 'agent:us-east',
        input: 'command_failed',
        detail,
        status: 'rolling_back',
      });
    expect(failed('us-east: set_weight failed: HTTPRoute checkout not found')).toBe(
      ':warning: us-east: set_weight failed: HTTPRoute checkout not found',
    );
    expect(
      failed('us-east: rollback failed: API server unavailable (tried 5 times)'),
    ).toBeUndefined();
  });

  it('skips routine gate ticks but reports the ones that change something', () => {
    const gate = (detail: string, status: 'baking' | 'progressing' | 'rolling_back') =>
      threadLine(state, { actor: 'system:gate', input: 'gate_result', detail, status });
    expect(gate('pass: all 2 checks passed in eu-west', 'baking')).toBeUndefined();
    expect(gate('inconclusive: 3 requests < 20 in eu-west', 'baking')).toBeUndefined();
    expect(gate('pass: all 2 checks passed in eu-west', 'progressing')).toBe(
      ':white_check_mark: The gate passed (all 2 checks passed in eu-west); moving to the next stage',
    );
    expect(gate('failing: error_rate 9.0% > 5.0% (absolute) in eu-west', 'baking')).toBe(
      ':warning: The gate failed an evaluation: error_rate 9.0% &gt; 5.0% (absolute) in eu-west',
    );
    expect(gate('fail: error_rate 9.0% > 5.0% (absolute) in eu-west', 'rolling_back')).toContain(
      ':rotating_light: The gate is breached',
    );
  });

  it('adds how the rollout ended to the transition that ended it', () => {
    expect(
      threadLine(state, {
        actor: 'agent:us-east',
        input: 'promoted',
        detail: 'us-east',
        status: 'succeeded',
      }),
    ).toBe(':rocket: us-east runs `2.4.1` as stable\n:white_check_mark: *The rollout succeeded.*');
  });

  it('writes nothing for the rollout’s creation: the card says it', () => {
    expect(threadLine(state, { actor: 'system:bot', input: 'create' })).toBeUndefined();
    expect(threadLine(state, { actor: 'system:bot', input: 'unrecorded' })).toBeUndefined();
  });
});

describe('slackify and actorLabel', () => {
  it('mentions bare Slack ids, keeps written mentions, escapes the rest', () => {
    expect(slackify('approvers are U0LEAD, S0LEADS; ask <@U0OTHER> & <!channel>')).toBe(
      'approvers are <@U0LEAD>, <!subteam^S0LEADS>; ask <@U0OTHER> &amp; &lt;!channel&gt;',
    );
    expect(slackify('STARTED in us-east at 5%')).toBe('STARTED in us-east at 5%');
  });

  it('names actors as people read them', () => {
    expect(actorLabel('user:U0LEAD')).toBe('<@U0LEAD>');
    expect(actorLabel('agent:eu-west')).toBe('the agent in eu-west');
    expect(actorLabel('system:gate')).toBe('the gate');
  });
});

describe('threadLine for the sequential judge', () => {
  const counts = (status: 'baking' | 'rolling_back' | 'progressing', outcome?: string) =>
    threadLine(
      { ...state, ...(outcome ? { outcome } : {}) },
      { actor: 'agent:eu-west', input: 'health_counts', status },
    );

  it('is silent for counts that decided nothing', () => {
    expect(counts('baking')).toBeUndefined();
  });

  it('says why when the judge rolled back, and when it ended a stage early', () => {
    expect(
      counts('rolling_back', 'sequential check breached at stage 1/3 (5%): errors 14 in 500'),
    ).toBe(
      ':rotating_light: sequential check breached at stage 1/3 (5%): errors 14 in 500; rolling back',
    );
    expect(counts('progressing')).toMatch(/^:fast_forward: The sequential checks ended the stage/);
  });

  it('names the waves at the start and says when a gate pass starts the next wave', () => {
    const d = new RolloutDriver(
      aPlan().withStages(5, 100).withWaves(['staging'], ['eu-west', 'us-east']).build(),
    );
    d.start();
    expect(threadLine(d.state, { actor: 'user:U0LEAD', input: 'start' })).toBe(
      ':arrow_forward: <@U0LEAD> started the rollout: 5% → 100% in waves staging → eu-west, us-east',
    );
    d.completeStage();
    const pass = {
      actor: 'system:gate',
      input: 'gate_result',
      detail: 'pass: all 1 checks passed in staging',
    } as const;
    expect(threadLine(d.state, pass)).toBe(
      ':white_check_mark: The gate passed (all 1 checks passed in staging); moving to the next stage',
    );
    d.completeStage();
    expect(threadLine(d.state, pass)).toBe(
      ':white_check_mark: The gate passed (all 1 checks passed in staging); starting wave 2/2 (eu-west, us-east)',
    );
  });
});
