import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aGate, aPlan, aVerdict } from '../../test/support/plan-builders.js';
import { RolloutDriver, T0 } from '../../test/support/rollout-driver.js';
import type { GateOutcome } from '../gate/verdict.js';
import type { RolloutPlan } from './plan.js';
import { isTerminal, type RolloutInput, type RolloutState, type RolloutStatus } from './state.js';
import { createRollout, transition } from './transition.js';
import { startedClusters, waveClusters } from './draft.js';

/**
 * Random plans and random input sequences: mostly inputs that fit the current state (so runs get
 * deep: stages advance, approvals land, rollbacks complete) mixed with stale, duplicate, unknown
 * and out-of-place ones, random gate verdicts, pauses, aborts and command failures.
 */

const CLUSTERS = ['eu', 'us', 'ap'];
const PEOPLE = ['U-a', 'U-b', 'U-starter', 'U-x'];

const planArb: fc.Arbitrary<RolloutPlan> = fc
  .record({
    blueGreen: fc.boolean(),
    canaryWeights: fc.uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 3 }),
    previews: fc.integer({ min: 1, max: 2 }),
    clusters: fc.shuffledSubarray(CLUSTERS, { minLength: 1 }),
    // Where the clusters are cut into waves (none: one wave, the plan has no `waves`).
    waveCuts: fc.subarray([1, 2]),
    bakeMs: fc.constantFrom(0, 1_000, 5_000),
    failureLimit: fc.integer({ min: 1, max: 3 }),
    sequential: fc.constantFrom('none', 'rollback', 'promote'),
    approvals: fc.array(
      fc.option(
        fc.record({
          approvers: fc.constantFrom<string[]>(
            ['U-a'],
            ['U-a', 'U-b'],
            ['S-g'],
            ['U-starter', 'U-a'],
          ),
          required: fc.integer({ min: 1, max: 2 }),
          allowSelfApproval: fc.boolean(),
        }),
        { freq: 2 },
      ),
      { maxLength: 4 },
    ),
  })
  .map((p) => {
    const weights = p.blueGreen
      ? [...Array<number>(p.previews).fill(0), 100]
      : [...[...p.canaryWeights].sort((a, b) => a - b), 100];
    const builder = p.blueGreen ? aPlan().blueGreen() : aPlan();
    builder.withStages(...weights).withClusters(...p.clusters);
    const cuts = p.waveCuts.filter((c) => c < p.clusters.length);
    if (cuts.length > 0) {
      builder.withWaves(
        ...[0, ...cuts].map((from, i) => p.clusters.slice(from, cuts[i] ?? p.clusters.length)),
      );
    }
    builder.withBake(p.bakeMs).withGate(
      p.sequential === 'none'
        ? aGate().withFailureLimit(p.failureLimit).withInterval(1_000)
        : aGate()
            .withFailureLimit(p.failureLimit)
            .withInterval(1_000)
            .withSequential({
              metric: 'error_rate',
              ...(p.sequential === 'promote'
                ? { promoteEarly: { alpha: 0.05, minBakeMs: 1_000 } }
                : {}),
            }),
    );
    p.approvals.slice(0, weights.length).forEach((rule, atStage) => {
      if (rule !== null) builder.withApproval(rule, { atStage });
    });
    return builder.build();
  });

/** A step names an input relative to the state it meets, so it stays meaningful as the run goes. */
type Step =
  | { kind: 'expected'; pick: number }
  | { kind: 'start' | 'pause' | 'resume' | 'abort' }
  | { kind: 'approve'; who: string; groups: string[] }
  | { kind: 'stage_applied'; cluster: number; stageDelta: number; weightOk: boolean }
  | { kind: 'promoted' | 'rolled_back'; cluster: number }
  | { kind: 'command_failed'; cluster: number; commandType: string; command: number }
  | { kind: 'health_counts'; cluster: number; canaryErrors: number; overlap: boolean }
  | {
      kind: 'gate_result';
      stageDelta: number;
      tickDelta: number;
      outcome: GateOutcome;
      failures: number;
    };

const cluster = fc.integer({ min: 0, max: 3 }); // 3 is never a target: an unknown cluster
const delta = fc.constantFrom(0, 0, 0, 0, -1, 1);
const outcome = fc.constantFrom<GateOutcome>(
  'pass',
  'pass',
  'pass',
  'failing',
  'inconclusive',
  'fail',
);

const stepArb: fc.Arbitrary<{ dt: number; step: Step }> = fc.record({
  dt: fc.integer({ min: 0, max: 3_000 }),
  step: fc.oneof(
    // Half the steps are what the rollout waits for, so runs reach every state.
    {
      weight: 14,
      arbitrary: fc.record({ kind: fc.constant('expected' as const), pick: fc.nat(5) }),
    },
    { weight: 1, arbitrary: fc.constant<Step>({ kind: 'start' }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Step>({ kind: 'pause' }, { kind: 'resume' }, { kind: 'abort' }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('approve' as const),
        who: fc.constantFrom(...PEOPLE),
        groups: fc.subarray(['S-g', 'S-other']),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('stage_applied' as const),
        cluster,
        stageDelta: delta,
        weightOk: fc.integer({ min: 0, max: 9 }).map((n) => n > 0), // mostly the commanded weight
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constantFrom('promoted' as const, 'rolled_back' as const),
        cluster,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('command_failed' as const),
        cluster,
        commandType: fc.constantFrom('rollback', 'rollback', 'set_weight', 'promote'),
        // A few command ids: the same one again is a redelivery, another a new failure.
        command: fc.integer({ min: 0, max: 3 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('health_counts' as const),
        cluster: fc.integer({ min: 0, max: 3 }),
        // From far fewer errors than stable's rate predicts to far more.
        canaryErrors: fc.integer({ min: 0, max: 12 }),
        overlap: fc.boolean(),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('gate_result' as const),
        stageDelta: delta,
        tickDelta: delta,
        outcome,
        failures: fc.integer({ min: 0, max: 3 }),
      }),
    },
  ),
});

/** The input the state waits for: a cluster that has not reported, the awaited gate tick, an approver… */
function expectedInput(state: RolloutState, pick: number): RolloutInput {
  const { plan, stageIndex } = state;
  const notYet = (
    done: (c: RolloutState['clusters'][string]) => boolean,
    among = startedClusters(state),
  ) => {
    const names = among.filter((n) => !done(state.clusters[n]!));
    return names[pick % Math.max(1, names.length)] ?? plan.clusters[0]!;
  };
  switch (state.status) {
    case 'pending':
      return { type: 'start', actor: plan.startedBy };
    case 'progressing':
      return {
        type: 'stage_applied',
        cluster: notYet((c) => c.appliedStage >= stageIndex, waveClusters(state)),
        stageIndex,
        weight: plan.stages[stageIndex]!.weight,
      };
    case 'baking':
      return { type: 'gate_result', stageIndex, tick: state.gate.tick, verdict: aVerdict('pass') };
    case 'awaiting_approval': {
      const approvers = plan.stages[stageIndex]!.gate.approval!.approvers;
      const actor = PEOPLE[pick % PEOPLE.length]!;
      return { type: 'approve', actor, groups: [approvers[pick % approvers.length]!] };
    }
    case 'paused':
      return { type: 'resume', actor: 'U-x' };
    case 'promoting':
      return { type: 'promoted', cluster: notYet((c) => c.status === 'promoted') };
    default:
      return { type: 'rolled_back', cluster: notYet((c) => c.status === 'rolled_back') };
  }
}

function inputFor(step: Step, state: RolloutState): RolloutInput {
  const clusterName = (i: number) => state.plan.clusters[i] ?? 'zz';
  switch (step.kind) {
    case 'expected':
      return expectedInput(state, step.pick);
    case 'start':
    case 'pause':
    case 'resume':
      return { type: step.kind, actor: 'U-x' };
    case 'abort':
      return { type: 'abort', actor: 'U-x', reason: 'property test' };
    case 'approve':
      return { type: 'approve', actor: step.who, groups: step.groups };
    case 'stage_applied': {
      const stageIndex = Math.max(0, state.stageIndex + step.stageDelta);
      const weight = state.plan.stages[stageIndex]?.weight ?? 100;
      return {
        type: 'stage_applied',
        cluster: clusterName(step.cluster),
        stageIndex,
        weight: step.weightOk ? weight : 50,
      };
    }
    case 'promoted':
    case 'rolled_back':
      return { type: step.kind, cluster: clusterName(step.cluster) };
    case 'command_failed':
      return {
        type: 'command_failed',
        cluster: clusterName(step.cluster),
        commandId: `00000000-0000-4000-8000-00000000000${step.command}`,
        commandType: step.commandType,
        reason: 'injected',
      };
    case 'health_counts': {
      const cluster = clusterName(step.cluster);
      const until = state.judge?.countedUntil[cluster] ?? 0;
      const fromMs = step.overlap && until > 0 ? until - 1_000 : until;
      const interval = (requests: number, errors: number) => ({
        fromMs,
        toMs: fromMs + 5_000,
        requests,
        errors,
      });
      return {
        type: 'health_counts',
        cluster,
        canary: interval(250, step.canaryErrors),
        stable: interval(4_750, 24),
      };
    }
    case 'gate_result':
      return {
        type: 'gate_result',
        stageIndex: Math.max(0, state.stageIndex + step.stageDelta),
        tick: Math.max(0, state.gate.tick + step.tickDelta),
        verdict: aVerdict(step.outcome, { consecutiveFailures: step.failures }),
      };
  }
}

const ROLLED_BACK_OR_ABORTED: RolloutStatus[] = ['rolled_back', 'aborted'];
const seen = new Set<RolloutStatus>();
/** `status@wave` for rollouts of several waves: runs must reach later waves too. */
const seenInWaves = new Set<string>();

/** Runs one sequence and checks every invariant after every input. */
function run(plan: RolloutPlan, steps: { dt: number; step: Step }[]): void {
  let state = createRollout('r-prop', plan, T0);
  let now = T0;
  let lastSeq = 0;
  let rollbackCommanded = false;
  const commanded = new Map<string, number>();
  for (const { dt, step } of steps) {
    now += dt;
    const input = inputFor(step, state);
    const before = structuredClone(state);
    const result = transition(state, input, now);
    expect(state, 'the given state is never changed').toEqual(before);

    if (isTerminal(state.status)) {
      expect(result).toMatchObject({ ok: false, code: 'terminal' });
    }
    if (!result.ok) {
      expect(Object.keys(result).sort(), 'a rejection carries no state').toEqual([
        'code',
        'ok',
        'reason',
      ]);
      expect(result.reason.length).toBeGreaterThan(20);
      continue;
    }
    const next = result.state;
    expect(next.version).toBe(state.version + 1);
    expect(next.updatedAt).toBe(now);

    expect(
      result.effects.some((e) => e.type === 'release_lock'),
      'the lock is released exactly when the rollout ends',
    ).toBe(isTerminal(result.state.status));
    if (
      state.status === 'rolling_back' &&
      input.type === 'command_failed' &&
      input.commandType === 'rollback'
    ) {
      expect(result.state.status, 'a failed rollback never ends the rollout').toBe('rolling_back');
      expect(
        result.effects.filter((e) => e.type === 'publish_command'),
        'a failed rollback is not sent again at once (no hammering a broken cluster)',
      ).toEqual([]);
      expect(
        result.effects.filter((e) => e.type === 'schedule_gate').length,
        'a failed rollback sets the retry timer (or keeps one due sooner)',
      ).toBeLessThanOrEqual(1);
      expect(result.state.gate.retryDueAt, 'a retry is always due').toBeDefined();
    }
    for (const effect of result.effects) {
      if (effect.type !== 'publish_command') continue;
      expect(effect.seq, 'command seqs strictly increase').toBeGreaterThan(lastSeq);
      lastSeq = effect.seq;
      expect(startedClusters(next), 'no command goes to a cluster of a wave not started').toContain(
        effect.cluster,
      );
      if (effect.command.type === 'rollback') rollbackCommanded = true;
      if (effect.command.type === 'set_weight' && !rollbackCommanded) {
        const weight = effect.command.payload.weight;
        expect(weight, 'commanded weight never decreases').toBeGreaterThanOrEqual(
          commanded.get(effect.cluster) ?? 0,
        );
        commanded.set(effect.cluster, weight);
      }
    }
    expect(next.seq).toBe(lastSeq);

    if (next.rollback === undefined) {
      for (const name of plan.clusters) {
        expect(
          next.clusters[name]!.weight,
          'cluster weight never decreases before a rollback',
        ).toBeGreaterThanOrEqual(state.clusters[name]!.weight);
      }
    }
    if (ROLLED_BACK_OR_ABORTED.includes(next.status)) {
      expect(Object.values(next.clusters).map((c) => c.weight)).toEqual(plan.clusters.map(() => 0));
      for (const name of startedClusters(next)) {
        expect(next.clusters[name]!.status, 'every started cluster confirmed its rollback').toBe(
          next.rollback?.cause === 'aborted' && state.status === 'pending'
            ? 'pending'
            : 'rolled_back',
        );
      }
    }
    const untouched = plan.clusters.filter((n) => !startedClusters(next).includes(n));
    for (const name of untouched) {
      expect(next.clusters[name], 'a wave not started is left as it was').toEqual({
        status: 'pending',
        weight: 0,
        appliedStage: -1,
      });
    }
    seen.add(next.status);
    if (plan.waves !== undefined) seenInWaves.add(`${next.status}@${next.waveIndex ?? 0}`);
    state = next;
  }
}

describe('transition, for any plan and any input sequence', () => {
  it('keeps its invariants', () => {
    fc.assert(
      fc.property(
        planArb,
        fc.array(stepArb, { minLength: 1, maxLength: 80, size: 'max' }),
        (plan, steps) => run(plan, steps),
      ),
      { numRuns: 500 },
    );
    // The generator must actually reach every state, or the invariants prove little. Every state
    // but `failed`: no input leads there since a failed rollback is retried instead (it stays a
    // terminal status only for rollouts stored as failed before). Random inputs include plenty of
    // rollback failures, so never seeing it here is evidence, not an accident of the generator.
    expect([...seen].sort()).toEqual(
      [
        'aborted',
        'awaiting_approval',
        'baking',
        'paused',
        'progressing',
        'promoting',
        'rolled_back',
        'rolling_back',
        'succeeded',
      ].sort(),
    );
    for (const reached of ['progressing@2', 'rolling_back@2', 'rolled_back@1', 'succeeded@1']) {
      expect([...seenInWaves], 'runs reach the later waves').toContain(reached);
    }
  });

  it('takes a healthy rollout with its approvals to success, 100% everywhere', () => {
    fc.assert(
      fc.property(planArb, (plan) => {
        const d = new RolloutDriver(plan).to('succeeded');
        expect(Object.values(d.state.clusters).map((c) => c.weight)).toEqual(
          plan.clusters.map(() => 100),
        );
        expect(d.history.filter((e) => e.type === 'release_lock')).toHaveLength(1);
      }),
      { numRuns: 200 },
    );
  });
});
