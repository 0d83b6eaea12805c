/**
 * What the scale bench reads off the processes it runs, each a small pure parser or one read:
 * CPU and RSS from /proc, Prometheus text, a histogram's quantiles, Redis INFO.
 */
import { readFile } from 'node:fs/promises';

/** Kernel clock ticks per second: `getconf CLK_TCK` is 100 on every Linux Node supports. */
const CLOCK_TICKS = 100;

export interface ProcessReading {
  /** User plus system CPU time so far, in seconds. */
  cpuSeconds: number;
  rssBytes: number;
}

/** CPU seconds and RSS of `pid` from /proc/<pid>/stat (Linux only; the bench needs Linux anyway). */
export async function readProcess(pid: number): Promise<ProcessReading> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return parseProcStat(stat);
}

/** Parses one /proc/<pid>/stat line; the command name may hold spaces and parentheses. */
export function parseProcStat(stat: string, pageBytes = 4096): ProcessReading {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: field 3 (state) is fields[0]; utime is field 14, stime 15, rss 24.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  if (![utime, stime, rssPages].every(Number.isFinite))
    throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  return { cpuSeconds: (utime + stime) / CLOCK_TICKS, rssBytes: rssPages * pageBytes };
}

/** The whole machine's CPU time so far, in seconds summed over its CPUs: busy, and all. */
export interface MachineCpuReading {
  busySeconds: number;
  totalSeconds: number;
}

/** Reads the `cpu` line of /proc/stat (every CPU summed). */
export async function readMachineCpu(): Promise<MachineCpuReading> {
  return parseMachineCpu(await readFile('/proc/stat', 'utf8'));
}

/** `cpu user nice system idle iowait irq softirq steal …`: idle and iowait are not busy. */
export function parseMachineCpu(stat: string): MachineCpuReading {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  const ticks = line?.trim().split(/\s+/).slice(1, 9).map(Number) ?? [];
  if (ticks.length < 8 || !ticks.every(Number.isFinite))
    throw new Error(`not a /proc/stat text: ${stat.slice(0, 80)}`);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = ticks[3]! + ticks[4]!;
  return { busySeconds: (total - idle) / CLOCK_TICKS, totalSeconds: total / CLOCK_TICKS };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of Prometheus text exposition format (comments skipped). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumOf(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}

export interface HistogramBuckets {
  /** Upper bound (seconds) → cumulative count, `+Inf` last. */
  bounds: number[];
  counts: number[];
}

/** A histogram's cumulative buckets (summed over label sets) from Prometheus samples. */
export function histogramOf(samples: Sample[], name: string): HistogramBuckets {
  const byBound = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const bound = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byBound.set(bound, (byBound.get(bound) ?? 0) + s.value);
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return { bounds, counts: bounds.map((b) => byBound.get(b)!) };
}

/** `later` minus `earlier`, bucket by bucket (the run's own observations). */
export function histogramDelta(
  later: HistogramBuckets,
  earlier: HistogramBuckets,
): HistogramBuckets {
  return {
    bounds: later.bounds,
    counts: later.counts.map((c, i) => {
      const at = earlier.bounds.indexOf(later.bounds[i]!);
      return c - (at >= 0 ? earlier.counts[at]! : 0);
    }),
  };
}

/**
 * The q-quantile (0 < q ≤ 1) of a histogram, interpolated linearly within its bucket as
 * Prometheus's `histogram_quantile` does: as coarse as the buckets. A quantile in the `+Inf`
 * bucket reads as the last finite bound (a lower bound of the truth). NaN with no observations.
 */
export function histogramQuantile(h: HistogramBuckets, q: number): number {
  const total = h.counts.at(-1) ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  for (let i = 0; i < h.bounds.length; i++) {
    if (h.counts[i]! < rank) continue;
    const upper = h.bounds[i]!;
    const lower = i === 0 ? 0 : h.bounds[i - 1]!;
    if (upper === Infinity) return lower;
    const below = i === 0 ? 0 : h.counts[i - 1]!;
    const inBucket = h.counts[i]! - below;
    return inBucket === 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
  }
  return h.bounds.at(-2) ?? Number.NaN;
}

/** `INFO` text as field → value (numbers where they parse). */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf(':');
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1);
  }
  return fields;
}

/** `INFO commandstats` as command → calls. */
export function commandCalls(info: Record<string, string>): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const [field, value] of Object.entries(info)) {
    if (!field.startsWith('cmdstat_')) continue;
    const n = /calls=(\d+)/.exec(value)?.[1];
    if (n !== undefined) calls[field.slice('cmdstat_'.length)] = Number(n);
  }
  return calls;
}
