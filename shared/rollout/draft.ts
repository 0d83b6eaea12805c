import type { CommandBody } from '../contracts/commands.js';
import type { Stage } from './plan.js';
import type { ClusterState, Effect, RejectionCode, RolloutState } from './state.js';

/**
 * The working copy one transition edits: a private clone of the caller's state plus the effects
 * it emits. Handlers change the draft in place; `transition` hands the caller a fresh state and
 * never touches the one it was given.
 */
export interface Draft {
  readonly state: RolloutState;
  readonly effects: Effect[];
  readonly now: number;
}

export interface Rejection {
  ok: false;
  code: RejectionCode;
  reason: string;
}

/** A handler returns a rejection, or nothing when it accepted the input and edited the draft. */
export type Outcome = Rejection | undefined;

export function reject(code: RejectionCode, reason: string): Rejection {
  return { ok: false, code, reason };
}

export function currentStage(state: RolloutState): Stage {
  return stageAt(state, state.stageIndex);
}

export function stageAt(state: RolloutState, index: number): Stage {
  const stage = state.plan.stages[index];
  if (stage === undefined) {
    throw new Error(
      `rollout ${state.id} has no stage ${index} (${state.plan.stages.length} stages)`,
    );
  }
  return stage;
}

export function isLastStage(state: RolloutState): boolean {
  return state.stageIndex === state.plan.stages.length - 1;
}

/** The state of a target cluster, or undefined when `name` is not a target of this rollout. */
export function clusterOf(state: RolloutState, name: string): ClusterState | undefined {
  return Object.hasOwn(state.clusters, name) ? state.clusters[name] : undefined;
}

/** Target clusters in plan order, with their state. */
export function targets(state: RolloutState): [string, ClusterState][] {
  return state.plan.clusters.map((name) => {
    const cluster = clusterOf(state, name);
    if (cluster === undefined)
      throw new Error(`rollout ${state.id} has no state for cluster ${name}`);
    return [name, cluster];
  });
}

/** The started clusters (see `startedClusters`) that `keep` holds, in plan order. */
export function clustersWhere(
  state: RolloutState,
  keep: (cluster: ClusterState) => boolean,
): string[] {
  return startedTargets(state)
    .filter(([, c]) => keep(c))
    .map(([name]) => name);
}

// ---- Waves: a rollout runs its stages in one wave of clusters at a time (plan.waves). ----

/** The plan's waves, first to last; a plan without `waves` is one wave of all its clusters. */
export function wavesOf(state: RolloutState): string[][] {
  return state.plan.waves ?? [state.plan.clusters];
}

/** Index of the wave the stages run in now (0 before and during the first). */
export function waveIndexOf(state: RolloutState): number {
  return state.waveIndex ?? 0;
}

export function isLastWave(state: RolloutState): boolean {
  return waveIndexOf(state) === wavesOf(state).length - 1;
}

/** The clusters of the current wave, in plan order. */
export function waveClusters(state: RolloutState): string[] {
  const wave = new Set(wavesOf(state)[waveIndexOf(state)] ?? []);
  return state.plan.clusters.filter((c) => wave.has(c));
}

/**
 * The clusters of every wave started so far (the current one and those before it), in plan
 * order: what rolls back, pauses and feeds the gate. Clusters of later waves were never sent
 * anything and are left as they are.
 */
export function startedClusters(state: RolloutState): string[] {
  const started = new Set(
    wavesOf(state)
      .slice(0, waveIndexOf(state) + 1)
      .flat(),
  );
  return state.plan.clusters.filter((c) => started.has(c));
}

/** `startedClusters` with their state. */
export function startedTargets(state: RolloutState): [string, ClusterState][] {
  const started = new Set(startedClusters(state));
  return targets(state).filter(([name]) => started.has(name));
}

/** `waveClusters` with their state. */
export function waveTargets(state: RolloutState): [string, ClusterState][] {
  const wave = new Set(waveClusters(state));
  return targets(state).filter(([name]) => wave.has(name));
}

/**
 * Publishes `bodies(cluster)` to each of `clusters`, in their order. Every published message gets
 * its own seq (`state.seq + 1, + 2, …`), so seqs strictly increase across all of a rollout's
 * effects and per cluster, which is what an agent's "ignore anything not newer" rule needs.
 */
export function publishToEach(
  draft: Draft,
  clusters: readonly string[],
  bodies: (cluster: string) => CommandBody[],
): void {
  for (const cluster of clusters) {
    for (const command of bodies(cluster)) {
      publishTo(draft, cluster, command);
    }
  }
}

/** Publishes one command to one cluster, with the next seq (see `publishToEach`). */
export function publishTo(draft: Draft, cluster: string, command: CommandBody): void {
  draft.state.seq += 1;
  const { fence } = draft.state;
  draft.effects.push({
    type: 'publish_command',
    cluster,
    seq: draft.state.seq,
    ...(fence !== undefined && { fence }),
    command,
  });
}

export function notify(
  draft: Draft,
  kind: Extract<Effect, { type: 'notify' }>['kind'],
  message: string,
): void {
  draft.effects.push({ type: 'notify', kind, message });
}

// ---- Words for people: every rejection and alert names the rollout and where it stands. ----

/** `checkout 2.4.1 (r-42)` */
export function rolloutLabel(state: RolloutState): string {
  return `${state.plan.service} ${state.plan.version} (${state.id})`;
}

/** `stage 2/4 (25%)`, `stage 2/4 (25%) of wave 2/3`: numbered from 1 for people. */
export function stageLabel(state: RolloutState, index = state.stageIndex): string {
  const stage = state.plan.stages[index];
  const weight = stage === undefined ? '' : ` (${stage.weight}%)`;
  return `stage ${index + 1}/${state.plan.stages.length}${weight}${waveLabel(state)}`;
}

/** ` of wave 2/3`, or nothing for a rollout of one wave. */
export function waveLabel(state: RolloutState): string {
  const count = wavesOf(state).length;
  return count > 1 ? ` of wave ${waveIndexOf(state) + 1}/${count}` : '';
}

/** Where the rollout stands, e.g. `baking stage 2/4 (25%)`, `paused (was awaiting approval for stage 1/3 (5%))`. */
export function describeStatus(state: RolloutState): string {
  const stage = stageLabel(state);
  switch (state.status) {
    case 'pending':
      return 'pending (not started)';
    case 'progressing':
      return `applying ${stage}`;
    case 'baking':
      return `baking ${stage}`;
    case 'awaiting_approval':
      return `awaiting approval for ${stage}`;
    case 'paused':
      return `paused (was ${describeStatus({ ...state, status: state.pausedFrom ?? 'progressing' })})`;
    case 'promoting':
      return 'promoting';
    case 'held':
      return holdsBeforeWidening(state)
        ? `holding at ${stage} for release ${state.plan.releaseId ?? '(none)'}'s contract check before widening`
        : `holding at 100% for release ${state.plan.releaseId ?? '(none)'}`;
    case 'rolling_back':
      return `rolling back (${state.outcome ?? 'no reason recorded'})`;
    default:
      return `${state.status.replace('_', ' ')} (${state.outcome ?? 'finished'})`;
  }
}

/** What a person could do now, and what the rollout waits for. */
export function whatIsPossible(state: RolloutState): string {
  const waitingFor = (event: string, pending: string[]) =>
    pending.length === 0 ? '' : `; waiting for ${event} from ${pending.join(', ')}`;
  switch (state.status) {
    case 'pending':
      return 'possible now: start, abort';
    case 'progressing':
      return (
        'possible now: pause, abort' +
        waitingFor(
          'stage_applied',
          waveTargets(state)
            .filter(([, c]) => c.appliedStage < state.stageIndex)
            .map(([name]) => name),
        )
      );
    case 'baking':
      return `possible now: pause, abort; waiting for gate tick ${state.gate.tick}`;
    case 'awaiting_approval':
      return 'possible now: approve, pause, abort';
    case 'paused':
      return 'possible now: resume, abort';
    case 'held':
      return holdsBeforeWidening(state)
        ? "possible now: abort; waiting for its release's contract check before it widens"
        : 'possible now: abort; waiting for its release to promote it';
    case 'promoting':
      return (
        'possible now: abort' +
        waitingFor(
          'promoted',
          clustersWhere(state, (c) => c.status !== 'promoted'),
        )
      );
    case 'rolling_back': {
      const failing = targets(state)
        .filter(([, c]) => c.status === 'failed')
        .map(([name, c]) => `${name} (${c.failure ?? 'no reason recorded'})`);
      return (
        'nothing to do but wait' +
        waitingFor(
          'rolled_back',
          clustersWhere(state, (c) => c.status !== 'rolled_back'),
        ) +
        (failing.length === 0
          ? ''
          : `; the rollback keeps failing in ${failing.join(', ')} and is retried: a person must fix that`)
      );
    }
    default:
      return 'it has ended; start a new rollout to change anything';
  }
}

/** The standard refusal for an input that the current status does not take. */
export function notNow(state: RolloutState, what: string): Rejection {
  return reject(
    'invalid_transition',
    `cannot ${what}: ${rolloutLabel(state)} is ${describeStatus(state)}; ${whatIsPossible(state)}`,
  );
}

/**
 * A release member whose widening waits for its release's contract check, at the end of its first
 * stage of its first wave (`RolloutPlan.holdBeforeWidening`).
 */
export function holdsBeforeWidening(state: RolloutState): boolean {
  return (
    state.plan.holdBeforeWidening === true &&
    waveIndexOf(state) === 0 &&
    state.stageIndex === 0 &&
    !(isLastStage(state) && isLastWave(state))
  );
}
