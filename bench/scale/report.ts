import type { ScaleSettings } from './options.js';
import type { ScaleSizeResult } from './scale-run.js';
import type { SoakResult } from './soak-run.js';
import { round } from '../stats.js';

export interface ScaleReport {
  generatedAt: string;
  machine: {
    node: string;
    cpus: number;
    cpuModel: string;
    memoryMb: number;
    loadAverage: number[];
  };
  settings: ScaleSettings;
  sizes: ScaleSizeResult[];
  /**
   * Cost per rollout at the largest size ÷ at the smallest (same bot replicas): 1 is flat. Absent
   * with a single size.
   */
  slope?: {
    from: string;
    to: string;
    redisCommands: number;
    kafkaMessages: number;
    slackCalls: number;
    botCpuSeconds: number;
    kubernetesCalls: number;
    prometheusQueries: number;
  };
}

const sum = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0);

/** The slope of cost per rollout between the smallest and largest one-replica sizes. */
export function slopeOf(sizes: ScaleSizeResult[]): ScaleReport['slope'] {
  const single = sizes.filter((s) => s.botReplicas === 1).sort((a, b) => a.rollouts - b.rollouts);
  const small = single[0];
  const large = single.at(-1);
  if (!small || !large || small === large) return undefined;
  const ratio = (f: (r: ScaleSizeResult) => number) =>
    f(small) > 0 ? round(f(large) / f(small), 2) : Number.NaN;
  return {
    from: `${small.rollouts}×${small.clusters}`,
    to: `${large.rollouts}×${large.clusters}`,
    redisCommands: ratio((r) => r.perRollout.redisCommands),
    kafkaMessages: ratio((r) => sum(r.perRollout.kafkaMessages)),
    slackCalls: ratio((r) => sum(r.perRollout.slackCalls)),
    botCpuSeconds: ratio((r) => r.bot.cpuSecondsPerRollout),
    kubernetesCalls: ratio((r) => sum(r.perRollout.kubernetesCalls)),
    prometheusQueries: ratio((r) => r.perRollout.prometheusQueries),
  };
}

const fmt = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** One column per size: what `npm run bench -- --scale` prints. */
export function scaleTable(report: ScaleReport): string {
  const st = report.settings;
  const rows: [string, (r: ScaleSizeResult) => string][] = [
    [
      'rollouts × clusters (bot processes)',
      (r) => `${r.rollouts}×${r.clusters} (${r.botReplicas})`,
    ],
    ['succeeded', (r) => `${r.outcome.succeeded}/${r.rollouts}`],
    [
      'wall time (ideal)',
      (r) => `${r.wall.seconds} s (${r.wall.idealSeconds} s) ${r.wall.ratioToIdeal}×`,
    ],
    ['rollouts per minute', (r) => `${r.wall.rolloutsPerMinute}`],
    ['gate lag p50 / p99', (r) => `${r.gateLag.p50Seconds} / ${r.gateLag.p99Seconds} s`],
    ['events behind at the end', (r) => `${r.eventsBehindAtEnd}`],
    [
      'command → stage_applied p50 / p99',
      (r) => `${r.commandLatency.p50Ms} / ${r.commandLatency.p99Ms} ms`,
    ],
    [
      'command legs p50/p99 ms',
      (r) =>
        Object.entries(r.commandLegs)
          .map(([leg, q]) => `${leg} ${q.p50Ms}/${q.p99Ms}`)
          .join(', '),
    ],
    ['bot RSS peak', (r) => `${r.bot.peakRssMb.join(', ')} MB`],
    [
      'bot at peak: heap total / used, external',
      (r) => {
        const m = r.bot.memoryAtPeakMb;
        return m ? `${m.heapTotal} / ${m.heapUsed}, ${m.external} MB` : '—';
      },
    ],
    ['bot CPU per rollout', (r) => `${r.bot.cpuSecondsPerRollout} s`],
    [
      'agent RSS peak (max, mean)',
      (r) => `${r.agents.peakRssMb.max}, ${r.agents.peakRssMb.mean} MB`,
    ],
    ['agents CPU per rollout (all)', (r) => `${r.agents.cpuSecondsPerRollout} s`],
    [
      'machine CPU busy; per rollout: Redis, bench, rest',
      (r) => {
        const c = r.machineCpu;
        return `${c.busyPercent}% of ${c.cpus}; ${c.perRolloutSeconds.redis}, ${c.perRolloutSeconds.bench}, ${c.perRolloutSeconds.rest} s`;
      },
    ],
    ['Redis per active rollout', (r) => `${r.redis.bytesPerActiveRollout} B`],
    [
      'Redis per finished rollout',
      (r) =>
        r.outcome.finishedInTime
          ? `${r.redis.bytesPerFinishedRollout} B used, ${r.redis.keyBytesPerFinishedRollout} B in ${r.redis.keysLeftPerFinishedRollout} keys`
          : '— (not all ended)',
    ],
    ['Kafka messages per rollout', (r) => `${round(sum(r.perRollout.kafkaMessages), 1)}`],
    ['Redis commands per rollout', (r) => `${r.perRollout.redisCommands}`],
    [
      'Slack calls per rollout (429s)',
      (r) => `${round(sum(r.perRollout.slackCalls), 1)} (${r.perRollout.slack429s})`,
    ],
    [
      'card shows the end, after it p50 / p99 (cards)',
      (r) => {
        const c = r.perRollout.cardEnded;
        return `${c.p50Seconds} / ${c.p99Seconds} s (${c.shown}; ${c.notShown} not shown)`;
      },
    ],
    [
      'thread says the end, after it p50 / p99 (lines)',
      (r) => {
        const c = r.perRollout.endLine;
        return `${c.p50Seconds} / ${c.p99Seconds} s (${c.shown}; ${c.notShown} not shown)`;
      },
    ],
    ['Kubernetes calls per rollout', (r) => `${round(sum(r.perRollout.kubernetesCalls), 1)}`],
    ['Prometheus queries per rollout', (r) => `${r.perRollout.prometheusQueries}`],
  ];
  const cols = report.sizes.map((r) => rows.map(([, f]) => f(r)));
  const labelWidth = Math.max(...rows.map(([l]) => l.length));
  const widths = cols.map((c) => Math.max(...c.map((v) => v.length)));
  const lines = rows.map(
    ([label], i) =>
      `${label.padEnd(labelWidth)}  ${cols.map((c, j) => c[i]!.padStart(widths[j]!)).join('  ')}`,
  );
  const details = report.sizes.flatMap((r) => [
    `${r.rollouts}×${r.clusters} (${r.botReplicas} bot): Kafka ${fmt(r.perRollout.kafkaMessages)}; Slack ${fmt(r.perRollout.slackCalls)}; Kubernetes ${fmt(r.perRollout.kubernetesCalls)}`,
    `  Redis ${fmt(Object.fromEntries(Object.entries(r.perRollout.redisCommandsByName).slice(0, 8)))}`,
    ...r.notes.map((note) => `  note: ${note}`),
  ]);
  const unfinished = report.sizes.some((r) => !r.outcome.finishedInTime);
  const slopeNote = unfinished
    ? ' (a size did not end: its costs are per started rollout over the deadline, so this ratio says little)'
    : '';
  const slope = report.slope
    ? `cost per rollout ${report.slope.to} ÷ ${report.slope.from} (1 = flat): Redis commands ${report.slope.redisCommands}, Kafka messages ${report.slope.kafkaMessages}, Slack calls ${report.slope.slackCalls}, bot CPU ${report.slope.botCpuSeconds}, Kubernetes ${report.slope.kubernetesCalls}, Prometheus ${report.slope.prometheusQueries}${slopeNote}`
    : 'cost slope: needs two sizes';
  const m = report.machine;
  return [
    `Rollout ChatOps scale bench, ${report.generatedAt} (${m.cpus}× ${m.cpuModel}, Node ${m.node}, load ${m.loadAverage.join(' ')})`,
    `stages [${st.stages.join(', ')}], bake ${st.bakeMs} ms, gate interval ${st.gateIntervalMs} ms, sampling ${st.samplingIntervalMs} ms, retention ${st.retentionMs} ms`,
    '',
    ...lines,
    '',
    ...details,
    slope,
  ].join('\n');
}

export function soakTable(r: SoakResult): string {
  return [
    `Rollout ChatOps soak, ${r.generatedAt}: ${r.rollouts} rollouts × ${r.clusters} clusters, ${r.concurrency} at a time`,
    `succeeded ${r.succeeded}/${r.rollouts} in ${r.seconds} s (${r.samples.length} samples)`,
    `bot RSS: ${r.botRss.firstMb} → ${r.botRss.lastMb} MB, slope ${r.botRss.mbPer1000Rollouts} MB per 1,000 rollouts`,
    `Redis used_memory: ${r.redisUsed.firstMb} → ${r.redisUsed.lastMb} MB, slope ${r.redisUsed.mbPer1000Rollouts} MB per 1,000 rollouts`,
    `Redis keys: ${r.redisKeys.first} → ${r.redisKeys.last}, slope ${r.redisKeys.per1000Rollouts} per 1,000 rollouts`,
    ...r.notes.map((note) => `note: ${note}`),
  ].join('\n');
}
