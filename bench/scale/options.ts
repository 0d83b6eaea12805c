/**
 * The scale bench's command line: `--scale [--sizes 100x10,300x10] [--bake 30s] [--gate-interval 5s]
 * [--sampling 5s] [--stages 5,50,100] [--retention 20s] [--replicas 1,2]` and `--soak [--soak-rollouts
 * 2000] [--soak-concurrency 10] [--soak-clusters 2] …`. Parsing is pure; a bad flag throws a
 * `BenchUsageError` that names the flag, what it got and what would be right.
 */

export class BenchUsageError extends Error {
  readonly code = 'bench_usage';
  constructor(flag: string, got: string | undefined, want: string) {
    super(`${flag}: got ${got === undefined ? 'nothing' : JSON.stringify(got)}; want ${want}`);
    this.name = 'BenchUsageError';
  }
}

export interface ScaleSize {
  rollouts: number;
  clusters: number;
}

/** Policy and timing of every scale run: the example policy's production settings by default. */
export interface ScaleSettings {
  stages: number[];
  bakeMs: number;
  gateIntervalMs: number;
  samplingIntervalMs: number;
  /** The policy's `retention.finishedRollouts`: short, so the bench sees what is left after it. */
  retentionMs: number;
  /** Slash commands in flight at once while starting a size's rollouts. */
  startConcurrency: number;
  /** How long one size may take before the bench reports it unfinished. */
  deadlineMs: number;
}

export interface ScaleOptions {
  mode: 'scale';
  sizes: ScaleSize[];
  /** Bot processes on the same Kafka and Redis; each count is its own run of every size. */
  replicas: number[];
  settings: ScaleSettings;
}

export interface SoakOptions {
  mode: 'soak';
  /** Rollouts in all, run `concurrency` at a time (a new one starts as one ends). */
  rollouts: number;
  concurrency: number;
  clusters: number;
  /** How often RSS and Redis memory are sampled. */
  sampleEveryMs: number;
  settings: ScaleSettings;
}

export const DEFAULT_SIZES: ScaleSize[] = [
  { rollouts: 100, clusters: 10 },
  { rollouts: 300, clusters: 10 },
  { rollouts: 1000, clusters: 10 },
];

export const DEFAULT_SETTINGS: ScaleSettings = {
  stages: [5, 50, 100],
  bakeMs: 30_000,
  gateIntervalMs: 5_000,
  samplingIntervalMs: 5_000,
  retentionMs: 20_000,
  startConcurrency: 20,
  deadlineMs: 20 * 60_000,
};

/** A soak's rollouts are short: the point is many of them in sequence, not long bakes. */
const SOAK_SETTINGS: ScaleSettings = {
  ...DEFAULT_SETTINGS,
  bakeMs: 1_000,
  gateIntervalMs: 500,
  samplingIntervalMs: 500,
  retentionMs: 10_000,
  deadlineMs: 60 * 60_000,
};

/** `--sizes 100x10,300x10`: rollouts × clusters, each at least 1 (clusters at most 100). */
export function parseSizes(text: string | undefined): ScaleSize[] {
  const want = 'a comma-separated list of ROLLOUTSxCLUSTERS, e.g. 100x10,300x10';
  if (!text) throw new BenchUsageError('--sizes', text, want);
  return text.split(',').map((part) => {
    const match = /^(\d+)x(\d+)$/.exec(part.trim());
    const rollouts = Number(match?.[1]);
    const clusters = Number(match?.[2]);
    if (!match || rollouts < 1 || clusters < 1 || clusters > 100)
      throw new BenchUsageError('--sizes', part, `${want} (1 ≤ clusters ≤ 100)`);
    return { rollouts, clusters };
  });
}

/** `30s`, `500ms`, `2m`: a positive duration in ms. */
export function parseDuration(flag: string, text: string | undefined): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text ?? '');
  const ms = match ? Number(match[1]) * { ms: 1, s: 1_000, m: 60_000 }[match[2]!]! : NaN;
  if (!(ms > 0))
    throw new BenchUsageError(flag, text, 'a positive duration such as 500ms, 5s or 2m');
  return Math.round(ms);
}

function parseCount(flag: string, text: string | undefined, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text ?? '') || n < 1 || n > max)
    throw new BenchUsageError(flag, text, `a whole number from 1 to ${max}`);
  return n;
}

function parseStages(text: string | undefined): number[] {
  const stages = (text ?? '').split(',').map(Number);
  const increasing = stages.every((w, i) => i === 0 || w > stages[i - 1]!);
  if (
    !text ||
    !stages.every((w) => Number.isInteger(w) && w >= 0 && w <= 100) ||
    !increasing ||
    stages.at(-1) !== 100
  )
    throw new BenchUsageError(
      '--stages',
      text,
      'increasing weights that end at 100, e.g. 5,50,100',
    );
  return stages;
}

function parseReplicas(text: string | undefined): number[] {
  const want = 'a comma-separated list of bot process counts, 1 to 4, e.g. 1,2';
  const counts = (text ?? '').split(',').map((part) => parseCount('--replicas', part, 4));
  if (counts.length === 0) throw new BenchUsageError('--replicas', text, want);
  return counts;
}

/** The value after `flag` in `argv`, or undefined when the flag is absent. */
function valueOf(argv: readonly string[], flag: string): string | undefined | null {
  const at = argv.indexOf(flag);
  if (at < 0) return null;
  return argv[at + 1];
}

const SCALE_FLAGS = [
  '--sizes',
  '--bake',
  '--gate-interval',
  '--sampling',
  '--stages',
  '--retention',
  '--replicas',
  '--start-concurrency',
  '--deadline',
];
const SOAK_FLAGS = [
  '--soak-rollouts',
  '--soak-concurrency',
  '--soak-clusters',
  '--sample-every',
  '--bake',
  '--gate-interval',
  '--sampling',
  '--stages',
  '--retention',
  '--deadline',
];
const BOOLEAN_FLAGS = ['--scale', '--soak', '--json'];

function settingsFrom(argv: readonly string[], base: ScaleSettings): ScaleSettings {
  const read = <T>(flag: string, parse: (text: string | undefined) => T, fallback: T): T => {
    const value = valueOf(argv, flag);
    return value === null ? fallback : parse(value);
  };
  return {
    stages: read('--stages', parseStages, base.stages),
    bakeMs: read('--bake', (t) => parseDuration('--bake', t), base.bakeMs),
    gateIntervalMs: read(
      '--gate-interval',
      (t) => parseDuration('--gate-interval', t),
      base.gateIntervalMs,
    ),
    samplingIntervalMs: read(
      '--sampling',
      (t) => parseDuration('--sampling', t),
      base.samplingIntervalMs,
    ),
    retentionMs: read('--retention', (t) => parseDuration('--retention', t), base.retentionMs),
    startConcurrency: read(
      '--start-concurrency',
      (t) => parseCount('--start-concurrency', t, 1_000),
      base.startConcurrency,
    ),
    deadlineMs: read('--deadline', (t) => parseDuration('--deadline', t), base.deadlineMs),
  };
}

/** Refuses a flag the mode does not know, so a typo never runs a different bench than asked. */
function refuseUnknown(argv: readonly string[], known: readonly string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (BOOLEAN_FLAGS.includes(arg)) continue;
    if (!known.includes(arg))
      throw new BenchUsageError('flag', arg, `one of ${[...BOOLEAN_FLAGS, ...known].join(', ')}`);
    i++; // its value
  }
}

/** `argv` after `npm run bench --`, when it holds `--scale` or `--soak`; else undefined. */
export function parseScaleArgs(argv: readonly string[]): ScaleOptions | SoakOptions | undefined {
  const scale = argv.includes('--scale');
  const soak = argv.includes('--soak');
  if (scale && soak) throw new BenchUsageError('--scale/--soak', 'both', 'one of them per run');
  if (scale) {
    refuseUnknown(argv, SCALE_FLAGS);
    const sizes = valueOf(argv, '--sizes');
    const replicas = valueOf(argv, '--replicas');
    return {
      mode: 'scale',
      sizes: sizes === null ? DEFAULT_SIZES : parseSizes(sizes),
      replicas: replicas === null ? [1] : parseReplicas(replicas),
      settings: settingsFrom(argv, DEFAULT_SETTINGS),
    };
  }
  if (soak) {
    refuseUnknown(argv, SOAK_FLAGS);
    const count = (flag: string, max: number, fallback: number) => {
      const value = valueOf(argv, flag);
      return value === null ? fallback : parseCount(flag, value, max);
    };
    const every = valueOf(argv, '--sample-every');
    return {
      mode: 'soak',
      rollouts: count('--soak-rollouts', 100_000, 2_000),
      concurrency: count('--soak-concurrency', 100, 10),
      clusters: count('--soak-clusters', 100, 2),
      sampleEveryMs: every === null ? 10_000 : parseDuration('--sample-every', every),
      settings: settingsFrom(argv, SOAK_SETTINGS),
    };
  }
  return undefined;
}
