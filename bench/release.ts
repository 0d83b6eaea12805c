/**
 * The `release` section of `npm run bench` (issue 12): what coordinating a release costs on top of
 * its bakes, and how fast a breach in its last member takes every member back to weight 0. Local
 * mode (bot, scheduler and simulated agents in this process), so the figures are the
 * orchestration's own, not Kafka's or Redis's.
 *
 * Five services, four clusters in three waves: ledger → payments → checkout and
 * ledger → fraud → checkout, search independent. The critical path is ledger, payments (or fraud),
 * checkout: each bakes stages × waves times, one after the other (a consumer starts when its
 * providers hold), so no release can end sooner than their sum.
 *
 * (a) overhead: wall time from `releases.start` to the stored end of a succeeded release, minus
 *     the critical path's bake sum; also as a ratio of that sum. Median of a few runs.
 * (b) breach → weight 0: a fault injected into checkout's canary (the last member) once it takes
 *     traffic; the last rollback route write across every member and cluster minus the moment of
 *     the injection, beside the gate interval (the floor: a breach cannot be seen sooner).
 */
import { RecordingNotifier } from '../bot/adapters/recording-notifier.js';
import { RecordingReleaseNotifier } from '../bot/adapters/recording-release-notifier.js';
import { startLocalMode, type LocalMode } from '../local/local-mode.js';
import { systemClock } from '../shared/clock.js';
import { parsePolicy } from '../shared/config/policy-loader.js';
import { silentLogger } from '../shared/log.js';
import {
  isReleaseTerminal,
  memberRolloutId,
  type MemberState,
  type ReleaseState,
} from '../shared/release/state.js';
import { percentile, round } from './stats.js';

export const RELEASE_SETTINGS = {
  overheadRuns: 3,
  breachRuns: 3,
  bakeMs: 300,
  stages: [10, 50, 100],
  waves: [['w1'], ['w2'], ['w3a', 'w3b']],
  gateIntervalMs: 100,
  failureLimit: 2,
  samplingIntervalMs: 50,
  /** Members on the longest dependency chain (ledger → payments → checkout). */
  criticalPath: ['ledger', 'payments', 'checkout'],
};
export type ReleaseSettings = typeof RELEASE_SETTINGS;

/** checkout depends on payments and fraud, which both depend on ledger; search stands alone. */
const SERVICES: Record<string, string[]> = {
  ledger: [],
  payments: ['ledger'],
  fraud: ['ledger'],
  checkout: ['payments', 'fraud'],
  search: [],
};
const LAST_MEMBER = 'checkout';
const ACTOR = { id: 'user:U0BENCH', userId: 'U0BENCH' };
/** Generous: a run is a few seconds; a release stuck this long is a bug, not a slow machine. */
const RELEASE_TIMEOUT_MS = 120_000;

export interface ReleaseBench {
  settings: ReleaseSettings;
  overhead: {
    runs: number;
    criticalPathBakeMs: number;
    wallP50Ms: number;
    overheadP50Ms: number;
    overheadMaxMs: number;
    /** overheadP50Ms / criticalPathBakeMs. */
    p50RatioToBakes: number;
    /** Every run's end, so a caller can see each succeeded. */
    statuses: ReleaseState['status'][];
  };
  breachToZeroWeight: {
    runs: number;
    p50Ms: number;
    maxMs: number;
    gateIntervalMs: number;
    p50RatioToGateInterval: number;
    statuses: ReleaseState['status'][];
    /** The member each run's rollback was attributed to (should be the last member, checkout). */
    failedMembers: (string | undefined)[];
    /** The last run's members as they ended. */
    memberStates: Record<string, MemberState>;
    /** The last run's route weight per member and cluster after the release ended. */
    weights: Record<string, Record<string, number | undefined>>;
  };
  durationMs: number;
}

export interface ReleaseBenchOptions {
  overheadRuns?: number;
  breachRuns?: number;
}

export function releasePolicyYaml(s: ReleaseSettings = RELEASE_SETTINGS): string {
  const clusters = s.waves.flat();
  const services = Object.entries(SERVICES)
    .map(
      ([name, providers]) => `  ${name}:
    channel: C0${name.toUpperCase()}
    clusters: [${clusters.join(', ')}]
    stableVersion: 1.0.0${providers.length > 0 ? `\n    dependsOn: [${providers.join(', ')}]` : ''}`,
    )
    .join('\n');
  return `
clusters:
${clusters.map((c) => `  ${c}: {}`).join('\n')}
defaults:
  stages: [${s.stages.join(', ')}]
  bake: ${s.bakeMs}ms
  waves: ${JSON.stringify(s.waves)}
  gate:
    interval: ${s.gateIntervalMs}ms
    minRequests: 20
    failureLimit: ${s.failureLimit}
    checks:
      - { metric: error_rate, mode: absolute, max: 0.05 }
      - { metric: latency_p99, mode: relative, max: 1.5 }
services:
${services}
release:
  maxParallel: 3
  onFailure: rollback-all
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 20000
  faults: []
`;
}

async function startProduct(): Promise<LocalMode> {
  return startLocalMode({
    adapters: { releaseNotifier: new RecordingReleaseNotifier() },
    policy: parsePolicy(releasePolicyYaml(), 'bench-release-policy.yaml'),
    notifier: new RecordingNotifier(),
    clock: systemClock,
    logger: silentLogger,
    samplingIntervalMs: RELEASE_SETTINGS.samplingIntervalMs,
    heartbeatIntervalMs: 200,
    sweepTimer: false,
  });
}

/** Polls until `probe` gives a value; throws naming `what` after the timeout. */
async function poll<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + RELEASE_TIMEOUT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`release bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function startRelease(local: LocalMode, run: number): Promise<ReleaseState> {
  const members = Object.keys(SERVICES).map((service) => ({ service, version: `2.0.${run}` }));
  return local.bot.releases.start(members, ACTOR, `bench run ${run}`);
}

async function ended(local: LocalMode, id: string): Promise<ReleaseState> {
  return poll(`release ${id} to end`, async () => {
    const state = await local.bot.releases.get(id);
    return state && isReleaseTerminal(state.status) && state.endedAt !== undefined
      ? state
      : undefined;
  });
}

/** Runs the section; a fresh local mode per run, so one run's leftovers cannot slow the next. */
export async function runReleaseBench(options: ReleaseBenchOptions = {}): Promise<ReleaseBench> {
  const began = performance.now();
  const s = RELEASE_SETTINGS;
  const overheadRuns = options.overheadRuns ?? s.overheadRuns;
  const breachRuns = options.breachRuns ?? s.breachRuns;
  for (const [name, runs] of Object.entries({ overheadRuns, breachRuns })) {
    // A median of no runs is NaN in the report: refuse it here, where the cause is plain.
    if (!Number.isInteger(runs) || runs < 1) {
      throw new RangeError(`release bench: ${name} must be a whole number ≥ 1 (got ${runs})`);
    }
  }
  const criticalPathBakeMs = s.criticalPath.length * s.stages.length * s.waves.length * s.bakeMs;

  const walls: number[] = [];
  const statuses: ReleaseState['status'][] = [];
  for (let run = 0; run < overheadRuns; run++) {
    const local = await startProduct();
    try {
      const startedAt = Date.now();
      const release = await startRelease(local, run);
      const done = await ended(local, release.id);
      statuses.push(done.status);
      walls.push(done.endedAt! - startedAt);
    } finally {
      await local.stop();
    }
  }
  const overheads = walls.map((w) => w - criticalPathBakeMs);

  const breaches: number[] = [];
  const breachStatuses: ReleaseState['status'][] = [];
  const failedMembers: (string | undefined)[] = [];
  let memberStates: Record<string, MemberState> = {};
  let weights: Record<string, Record<string, number | undefined>> = {};
  for (let run = 0; run < breachRuns; run++) {
    const local = await startProduct();
    try {
      const release = await startRelease(local, run);
      const firstWave = s.waves[0]![0]!;
      const lastId = memberRolloutId(release.id, LAST_MEMBER);
      // Injected once checkout's canary takes traffic: the breach is in the last member to start.
      await poll(`${LAST_MEMBER} to take traffic in ${firstWave}`, async () => {
        const rollout = await local.bot.service.get(lastId);
        return (rollout?.clusters[firstWave]?.weight ?? 0) > 0 ? true : undefined;
      });
      const injectedAt = Date.now();
      local.faults.inject(firstWave, { service: LAST_MEMBER, role: 'canary', errorRate: 0.3 });
      const done = await ended(local, release.id);
      breachStatuses.push(done.status);
      failedMembers.push(done.failure?.service);
      memberStates = Object.fromEntries(
        Object.entries(done.members).map(([service, m]) => [service, m.state]),
      );
      const rollbacks = [...local.clusters.values()].flatMap((cluster) =>
        cluster.routeWrites().filter((w) => w.operation === 'rollback' && w.canaryWeight === 0),
      );
      if (rollbacks.length === 0) {
        throw new Error(`release bench: release ${release.id} ended with no rollback written`);
      }
      breaches.push(Math.max(...rollbacks.map((w) => w.at)) - injectedAt);
      weights = Object.fromEntries(
        Object.keys(SERVICES).map((service) => [
          service,
          Object.fromEntries(
            [...local.clusters].map(([name, cluster]) => [
              name,
              cluster.route(service)?.canaryWeight,
            ]),
          ),
        ]),
      );
    } finally {
      await local.stop();
    }
  }

  const overheadP50 = percentile(overheads, 50);
  const breachP50 = percentile(breaches, 50);
  return {
    settings: s,
    overhead: {
      runs: walls.length,
      criticalPathBakeMs,
      wallP50Ms: round(percentile(walls, 50)),
      overheadP50Ms: round(overheadP50),
      overheadMaxMs: round(Math.max(...overheads)),
      p50RatioToBakes: round(overheadP50 / criticalPathBakeMs, 2),
      statuses,
    },
    breachToZeroWeight: {
      runs: breaches.length,
      p50Ms: round(breachP50),
      maxMs: round(Math.max(...breaches)),
      gateIntervalMs: s.gateIntervalMs,
      p50RatioToGateInterval: round(breachP50 / s.gateIntervalMs, 2),
      statuses: breachStatuses,
      failedMembers,
      memberStates,
      weights,
    },
    durationMs: Math.round(performance.now() - began),
  };
}

export function releaseTable(r: ReleaseBench): string {
  const s = r.settings;
  const o = r.overhead;
  const b = r.breachToZeroWeight;
  return [
    `release: local mode, 5 services (ledger → payments|fraud → checkout, search alone), waves ${JSON.stringify(s.waves)}, stages ${s.stages.join('/')}, bake ${s.bakeMs} ms, gate every ${s.gateIntervalMs} ms`,
    `critical path ${s.criticalPath.join(' → ')}: ${o.criticalPathBakeMs} ms of bakes`,
    `overhead (wall − critical-path bakes), p50: ${o.overheadP50Ms} ms = ${o.p50RatioToBakes}× the bakes (wall p50 ${o.wallP50Ms} ms, max overhead ${o.overheadMaxMs} ms, ${o.runs} runs)`,
    `breach in ${LAST_MEMBER} → weight 0 for every member, p50: ${b.p50Ms} ms = ${b.p50RatioToGateInterval}× gate interval (${b.gateIntervalMs} ms; rollback after ${s.failureLimit} failed evaluations) (max ${b.maxMs} ms, ${b.runs} runs)`,
    `took ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}
