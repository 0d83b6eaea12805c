/**
 * The `judge` section of `npm run bench`: how fast four ways of judging a canary stage catch a
 * regression, and how often they roll back a healthy one. Pure seeded simulation, no I/O besides
 * reading the example policy; the same simulated intervals feed all four in each run.
 *
 * One cluster, one stage held at the cell's canary weight for the bake; an interval's counts are
 * Poisson: requests at rate × interval × split, errors and slow requests per request. Latency is
 * log-normal (see `judge-sim.ts`); the bound for slow requests is the stable version's p99.
 *
 * (a) sequential: the judge of `shared/judge`, an errors check and a slow-requests check, each at
 *     α/2 (so the rollout's false-alarm rate is ≤ α), tolerance maxRatio, judged on every sample;
 * (b) threshold: today's gate, the example policy's (config/policy.yaml), through the real
 *     `evaluateGate`, evaluated on every sample;
 * (c) Flagger-like: every minute on the minute's counts, rollback after 5 failed checks in a row,
 *     request success rate ≥ 99% and request duration p99 ≤ 500 ms (Flagger's documented example);
 * (d) fixed horizon (Kayenta-like): one one-sided Mann–Whitney test per metric at the end of the
 *     bake, on the per-interval error rates and p99s of canary against stable, each at α/2.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { planFromPolicy } from '../shared/config/plan-from-policy.js';
import { parsePolicy } from '../shared/config/policy-loader.js';
import type { Measurement } from '../shared/contracts/events.js';
import { evaluateGate } from '../shared/gate/evaluate.js';
import { emptyEvidence, foldInterval, logMixture } from '../shared/judge/evidence.js';
import { poissonCount, seededUniform } from '../shared/judge/seeded-counts.js';
import type { Gate } from '../shared/rollout/plan.js';
import { empiricalP99, latencyQuantile, mannWhitneyGreater, slowShare } from './judge-sim.js';
import { percentile } from './stats.js';

const EXAMPLE_POLICY = fileURLToPath(new URL('../config/policy.yaml', import.meta.url));

export const JUDGE_SETTINGS = {
  seed: 13,
  runs: 1_000,
  /** The example policy's gate interval, and the agent's default sampling interval. */
  samplingIntervalMs: 5_000,
  /**
   * How long the stage bakes. The example policy's 30 s bake is a demo setting (its own comment
   * says production bakes are 5–15 minutes), and a Flagger-like gate (5 × 1 minute) could never
   * decide within it; 10 minutes lets every method decide.
   */
  bakeMs: 600_000,
  trafficRps: [100, 1_000, 10_000],
  canaryWeights: [0.01, 0.05],
  baseErrorRate: 0.005,
  alpha: 0.01,
  maxRatio: 1.2,
  /** Slow means above the stable version's p99 (≈ 320 ms): 1% of stable requests. */
  latencyBoundMs: Math.round(latencyQuantile(0.99)),
  flagger: { intervalMs: 60_000, threshold: 5, minSuccessRate: 0.99, maxP99Ms: 500 },
};

export const SCENARIOS = [
  { name: 'healthy', errorFactor: 1, latencyFactor: 1 },
  { name: 'errors ×1.5', errorFactor: 1.5, latencyFactor: 1 },
  { name: 'errors ×2', errorFactor: 2, latencyFactor: 1 },
  { name: 'errors ×5', errorFactor: 5, latencyFactor: 1 },
  { name: 'p99 +50%', errorFactor: 1, latencyFactor: 1.5 },
] as const;
export type ScenarioName = (typeof SCENARIOS)[number]['name'];

export const METHODS = ['sequential', 'threshold', 'flagger', 'fixedHorizon'] as const;
export type Method = (typeof METHODS)[number];

export interface MethodFigures {
  /** Fraction of runs rolled back within the bake (for `healthy`: the false-alarm rate). */
  rolledBack: number;
  /** Seconds from the stage's start to the rollback; null when fewer runs were rolled back. */
  p50S: number | null;
  p95S: number | null;
}

export interface JudgeCell {
  trafficRps: number;
  canaryWeight: number;
  scenario: ScenarioName;
  runs: number;
  methods: Record<Method, MethodFigures>;
}

export interface JudgeBench {
  settings: typeof JUDGE_SETTINGS & { gate: Gate };
  cells: JudgeCell[];
  durationMs: number;
}

export interface JudgeBenchOptions {
  runs?: number;
  trafficRps?: number[];
  canaryWeights?: number[];
  scenarios?: ScenarioName[];
}

/** The example policy's gate, as a plan made from it carries it. */
export function exampleGate(): Gate {
  const policy = parsePolicy(readFileSync(EXAMPLE_POLICY, 'utf8'), EXAMPLE_POLICY);
  const plan = planFromPolicy(policy, { service: 'checkout', version: '2.5.0', startedBy: 'U0B' });
  return plan.stages[0]!.gate;
}

function measured(requests: number, errors: number, p99: number, factor: number): Measurement {
  if (requests === 0)
    return { status: 'ok', requests, errors, latencyMs: { p50: 0, p95: 0, p99: 0 } };
  return {
    status: 'ok',
    requests,
    errors,
    latencyMs: { p50: latencyQuantile(0.5, factor), p95: latencyQuantile(0.95, factor), p99 },
  };
}

/** Rollback times (s) of one cell's runs per method, null for a run not rolled back. */
function simulateCell(
  gate: Gate,
  cellSeed: number,
  runs: number,
  rps: number,
  weight: number,
  scenario: (typeof SCENARIOS)[number],
): Record<Method, (number | null)[]> {
  const s = JUDGE_SETTINGS;
  const u = seededUniform(cellSeed);
  const interval = s.samplingIntervalMs / 1000;
  const intervals = Math.round(s.bakeMs / s.samplingIntervalMs);
  const perMinute = Math.round(s.flagger.intervalMs / s.samplingIntervalMs);
  const stableSlow = slowShare(s.latencyBoundMs);
  const canarySlow = slowShare(s.latencyBoundMs, scenario.latencyFactor);
  const canaryError = s.baseErrorRate * scenario.errorFactor;
  const times: Record<Method, (number | null)[]> = {
    sequential: [],
    threshold: [],
    flagger: [],
    fixedHorizon: [],
  };
  for (let run = 0; run < runs; run++) {
    let errors = emptyEvidence(s.maxRatio, false);
    let slow = emptyEvidence(s.maxRatio, false);
    let sequential: number | null = null;
    let threshold: number | null = null;
    let flagger: number | null = null;
    let failures = 0;
    let flaggerFailures = 0;
    let minute = { requests: 0, errors: 0 };
    const series = {
      canaryRate: [] as number[],
      stableRate: [] as number[],
      canaryP99: [] as number[],
      stableP99: [] as number[],
    };
    for (let t = 0; t < intervals; t++) {
      const at = (t + 1) * interval;
      const nc = poissonCount(u, rps * interval * weight);
      const ns = poissonCount(u, rps * interval * (1 - weight));
      const xc = poissonCount(u, nc * canaryError);
      const xs = poissonCount(u, ns * s.baseErrorRate);
      const p99c = empiricalP99(u, nc, scenario.latencyFactor);
      const p99s = empiricalP99(u, ns);
      if (sequential === null) {
        const sc = poissonCount(u, nc * canarySlow);
        const ss = poissonCount(u, ns * stableSlow);
        errors = foldInterval(errors, {
          canaryRequests: nc,
          canaryEvents: xc,
          stableRequests: ns,
          stableEvents: xs,
        });
        slow = foldInterval(slow, {
          canaryRequests: nc,
          canaryEvents: sc,
          stableRequests: ns,
          stableEvents: ss,
        });
        // Only the rollback test matters here; `judge` would also read the promotion evidence.
        const needed = Math.log(2 / s.alpha);
        if (logMixture(errors.regression) >= needed || logMixture(slow.regression) >= needed) {
          sequential = at;
        }
      }
      if (threshold === null) {
        const verdict = evaluateGate(
          gate,
          [
            {
              cluster: 'sim',
              canary: measured(nc, xc, p99c, scenario.latencyFactor),
              stable: measured(ns, xs, p99s, 1),
            },
          ],
          failures,
        );
        failures = verdict.consecutiveFailures;
        if (verdict.outcome === 'fail') threshold = at;
      }
      minute.requests += nc;
      minute.errors += xc;
      if ((t + 1) % perMinute === 0) {
        if (flagger === null && minute.requests > 0) {
          const p99 = empiricalP99(u, minute.requests, scenario.latencyFactor);
          const failed =
            1 - minute.errors / minute.requests < s.flagger.minSuccessRate ||
            p99 > s.flagger.maxP99Ms;
          flaggerFailures = failed ? flaggerFailures + 1 : 0;
          if (flaggerFailures >= s.flagger.threshold) flagger = at;
        }
        minute = { requests: 0, errors: 0 };
      }
      if (nc > 0) {
        series.canaryRate.push(xc / nc);
        series.canaryP99.push(p99c);
      }
      if (ns > 0) {
        series.stableRate.push(xs / ns);
        series.stableP99.push(p99s);
      }
    }
    const fixed =
      Math.min(
        mannWhitneyGreater(series.canaryRate, series.stableRate),
        mannWhitneyGreater(series.canaryP99, series.stableP99),
      ) <
      s.alpha / 2;
    times.sequential.push(sequential);
    times.threshold.push(threshold);
    times.flagger.push(flagger);
    times.fixedHorizon.push(fixed ? intervals * interval : null);
  }
  return times;
}

/** p-th percentile of the rollback times, counting runs never rolled back as infinitely late. */
function censoredPercentile(times: (number | null)[], p: number): number | null {
  const value = percentile(
    times.map((t) => t ?? Infinity),
    p,
  );
  return Number.isFinite(value) ? value : null;
}

export function runJudgeBench(options: JudgeBenchOptions = {}): JudgeBench {
  const began = performance.now();
  const s = JUDGE_SETTINGS;
  const gate = exampleGate();
  const runs = options.runs ?? s.runs;
  const cells: JudgeCell[] = [];
  for (const [ti, rps] of s.trafficRps.entries()) {
    if (options.trafficRps && !options.trafficRps.includes(rps)) continue;
    for (const [wi, weight] of s.canaryWeights.entries()) {
      if (options.canaryWeights && !options.canaryWeights.includes(weight)) continue;
      for (const [si, scenario] of SCENARIOS.entries()) {
        if (options.scenarios && !options.scenarios.includes(scenario.name)) continue;
        // Each cell has its own stream, so a subset of cells gives the same figures as the full run.
        const cellSeed = s.seed * 1_000_003 + ti * 10_007 + wi * 101 + si;
        const times = simulateCell(gate, cellSeed, runs, rps, weight, scenario);
        const methods = Object.fromEntries(
          METHODS.map((m): [Method, MethodFigures] => [
            m,
            {
              rolledBack: times[m].filter((t) => t !== null).length / runs,
              p50S: censoredPercentile(times[m], 50),
              p95S: censoredPercentile(times[m], 95),
            },
          ]),
        ) as Record<Method, MethodFigures>;
        cells.push({
          trafficRps: rps,
          canaryWeight: weight,
          scenario: scenario.name,
          runs,
          methods,
        });
      }
    }
  }
  return { settings: { ...s, gate }, cells, durationMs: Math.round(performance.now() - began) };
}

const LABELS: Record<Method, string> = {
  sequential: 'sequential',
  threshold: 'threshold',
  flagger: 'Flagger-like',
  fixedHorizon: 'fixed (MW)',
};

/** A Markdown table: per cell, p50 / p95 seconds to rollback, or the false-alarm rate. */
export function judgeTable(bench: JudgeBench): string {
  const s = bench.settings;
  const secs = (v: number | null) => (v === null ? '—' : `${v}`);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const header = `| req/s | weight | scenario | ${METHODS.map((m) => LABELS[m]).join(' | ')} |`;
  const rule = `|---:|---:|---|${METHODS.map(() => '---:').join('|')}|`;
  const rows = bench.cells.map((c) => {
    const figures = METHODS.map((m) => {
      const f = c.methods[m];
      if (c.scenario === 'healthy') return `FA ${pct(f.rolledBack)}`;
      return `${secs(f.p50S)} / ${secs(f.p95S)} (${pct(f.rolledBack)})`;
    });
    return `| ${c.trafficRps} | ${c.canaryWeight * 100}% | ${c.scenario} | ${figures.join(' | ')} |`;
  });
  return [
    `judge: seed ${s.seed}, ${bench.cells[0]?.runs ?? 0} runs per cell, sampling every ${s.samplingIntervalMs / 1000} s, bake ${s.bakeMs / 60_000} min, baseline errors ${s.baseErrorRate * 100}%, α ${s.alpha}, maxRatio ${s.maxRatio}, slow > ${s.latencyBoundMs} ms`,
    `cells: seconds to rollback p50 / p95 (share of runs rolled back within the bake); healthy: false-alarm rate (FA); — = not rolled back in that share of runs`,
    '',
    header,
    rule,
    ...rows,
    '',
    `took ${(bench.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}
