import { describe, expect, it } from 'vitest';
import { aPlan } from '../../test/support/plan-builders.js';
import {
  commandsIn,
  effectsOf,
  RolloutDriver,
  rolloutIn,
} from '../../test/support/rollout-driver.js';
import { startedClusters, waveClusters } from './draft.js';

/** Three waves: a canary cluster, a region, then the rest. */
const threeWaves = () =>
  aPlan()
    .withStages(5, 50, 100)
    .withWaves(['staging'], ['eu-west'], ['us-east', 'ap-south'])
    .build();

/** Drives the current wave through all its stages (applied, gate passed). */
function completeWave(d: RolloutDriver): void {
  const wave = d.state.waveIndex ?? 0;
  while ((d.state.waveIndex ?? 0) === wave && d.state.status === 'progressing') d.completeStage();
}

describe('a rollout of several waves', () => {
  it('starts only the first wave', () => {
    const d = new RolloutDriver(threeWaves());
    expect(commandsIn(d.start())).toEqual(['staging:start', 'staging:set_weight 5']);
    expect(waveClusters(d.state)).toEqual(['staging']);
    expect(d.state.clusters['eu-west']).toEqual({ status: 'pending', weight: 0, appliedStage: -1 });
  });

  it('does not start wave 2 until wave 1 passed its last stage, then starts it at stage 1', () => {
    const d = new RolloutDriver(threeWaves());
    d.start();
    d.completeStage(); // 5% passed
    d.completeStage(); // 50% passed
    expect(
      d.history.filter((e) => e.type === 'publish_command' && e.cluster !== 'staging'),
    ).toEqual([]);
    d.applyStage();
    expect(d.state).toMatchObject({ status: 'baking', stageIndex: 2 });
    expect(d.state.waveIndex).toBeUndefined();
    const effects = d.passGate(); // 100% in staging passed
    expect(commandsIn(effects)).toEqual(['eu-west:start', 'eu-west:set_weight 5']);
    expect(d.state).toMatchObject({ status: 'progressing', stageIndex: 0, waveIndex: 1 });
    // Wave 1 stays at 100% of the new version, waiting for the promotion.
    expect(d.state.clusters['staging']).toMatchObject({ status: 'applied', weight: 100 });
  });

  it('keeps gate ticks counting across waves, so no (stage, tick) is scheduled twice', () => {
    const d = new RolloutDriver(threeWaves());
    d.start();
    completeWave(d);
    completeWave(d);
    completeWave(d);
    const scheduled = effectsOf(d.history, 'schedule_gate').map((e) => `${e.stageIndex}:${e.tick}`);
    expect(new Set(scheduled).size).toBe(scheduled.length);
  });

  it('promotes every cluster only after the last stage of the last wave', () => {
    const d = new RolloutDriver(threeWaves());
    d.start();
    completeWave(d);
    completeWave(d);
    expect(d.state.waveIndex).toBe(2);
    expect(effectsOf(d.history, 'publish_command').some((e) => e.command.type === 'promote')).toBe(
      false,
    );
    d.applyStage().passGate();
    d.applyStage().passGate();
    d.applyStage();
    expect(commandsIn(d.passGate())).toEqual([
      'staging:promote',
      'eu-west:promote',
      'us-east:promote',
      'ap-south:promote',
    ]);
    for (const cluster of d.plan.clusters) d.accept({ type: 'promoted', cluster });
    expect(d.state.status).toBe('succeeded');
  });

  it('rolls back waves 1 and 2 on a failure in wave 2; wave 3 never gets a command', () => {
    const d = new RolloutDriver(threeWaves());
    d.start();
    completeWave(d);
    d.applyStage(); // wave 2 baking at 5%
    const effects = d.gate('fail');
    expect(commandsIn(effects)).toEqual(['staging:rollback', 'eu-west:rollback']);
    expect(d.state.status).toBe('rolling_back');
    d.rollBackEverywhere();
    expect(d.state.status).toBe('rolled_back');
    expect(d.state.clusters['staging']).toMatchObject({ status: 'rolled_back', weight: 0 });
    expect(d.state.clusters['eu-west']).toMatchObject({ status: 'rolled_back', weight: 0 });
    for (const untouched of ['us-east', 'ap-south']) {
      expect(d.state.clusters[untouched]).toEqual({
        status: 'pending',
        weight: 0,
        appliedStage: -1,
      });
    }
    expect(
      effectsOf(d.history, 'publish_command').filter((e) =>
        ['us-east', 'ap-south'].includes(e.cluster),
      ),
    ).toEqual([]);
    expect(d.history.filter((e) => e.type === 'release_lock')).toHaveLength(1);
  });

  it('rolls back on a command failure in an earlier wave too (it stays watched)', () => {
    const d = new RolloutDriver(threeWaves());
    d.start();
    completeWave(d);
    const effects = d.accept({
      type: 'command_failed',
      cluster: 'staging',
      commandId: '00000000-0000-4000-8000-000000000001',
      commandType: 'set_weight',
      reason: 'HTTPRoute update forbidden',
    });
    expect(commandsIn(effects)).toEqual(['staging:rollback', 'eu-west:rollback']);
  });

  it('refuses reports from clusters of a wave not started, and stale ones of a wave done', () => {
    const d = new RolloutDriver(threeWaves());
    d.start();
    const early = d.send({ type: 'stage_applied', cluster: 'eu-west', stageIndex: 0, weight: 5 });
    expect(early).toMatchObject({ ok: false, code: 'invalid_transition' });
    expect(!early.ok && early.reason).toMatch(/eu-west's wave has not started/);
    completeWave(d);
    const late = d.send({ type: 'stage_applied', cluster: 'staging', stageIndex: 0, weight: 5 });
    expect(late).toMatchObject({ ok: false, code: 'stale_event' });
    d.applyStage().gate('fail');
    expect(d.send({ type: 'rolled_back', cluster: 'us-east' })).toMatchObject({
      ok: false,
      code: 'stale_event',
    });
  });

  it('pauses and resumes every started wave, and names the wave where it stands', () => {
    const d = new RolloutDriver(threeWaves());
    d.start();
    completeWave(d);
    const paused = d.accept({ type: 'pause', actor: 'U-x' });
    expect(commandsIn(paused)).toEqual(['staging:pause', 'eu-west:pause']);
    const refused = d.send({ type: 'start', actor: 'U-x' });
    expect(!refused.ok && refused.reason).toMatch(/stage 1\/3 \(5%\) of wave 2\/3/);
    expect(startedClusters(d.state)).toEqual(['staging', 'eu-west']);
  });

  it('asks approval of the last stage before the next wave, not before promotion', () => {
    const plan = aPlan()
      .withStages(5, 100)
      .withWaves(['staging'], ['eu-west'])
      .withApproval({}, { atStage: 1 })
      .build();
    const d = rolloutIn('awaiting_approval', plan, { stage: 1 });
    const notice = effectsOf(d.effects, 'notify')[0]!;
    expect(notice.message).toMatch(/approval\(s\) needed before wave 2\/2/);
    d.approve();
    expect(d.state).toMatchObject({ status: 'progressing', waveIndex: 1, stageIndex: 0 });
  });
});

describe('a plan of one wave', () => {
  it('produces exactly the effects of a plan without waves', () => {
    const drive = (d: RolloutDriver) => {
      d.start();
      d.completeStage();
      d.applyStage().gate('fail');
      d.rollBackEverywhere();
      return d;
    };
    const without = drive(
      new RolloutDriver(aPlan().withStages(5, 25, 100).withClusters('eu', 'us').build()),
    );
    const oneWave = drive(
      new RolloutDriver(aPlan().withStages(5, 25, 100).withWaves(['eu', 'us']).build()),
    );
    expect(oneWave.history).toEqual(without.history);
    const { plan: planWithWaves, ...rest } = oneWave.state;
    const { plan: planWithout, ...restWithout } = without.state;
    expect(rest).toEqual(restWithout);
    expect({ ...planWithWaves, waves: undefined }).toEqual({ ...planWithout, waves: undefined });
  });
});
