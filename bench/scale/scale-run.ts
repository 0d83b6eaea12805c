/**
 * One size of the scale bench: N rollouts × C clusters started together through signed
 * `/rollout start` commands, run to the end on distributed mode (see `startScaleStack`), and what
 * it cost, per rollout. Figures come from the product's own counters where it has them (the bot's
 * gate lag histogram, the agents' driver call counters, Redis INFO, Kafka offsets, the Slack
 * double's calls) and from /proc for CPU and memory.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ACTIVE_STATUSES } from '../../shared/rollout/state.js';
import { endLineDelays } from './card-freshness.js';
import { censusOf, type KeyKind } from './key-census.js';
import type { ScaleSettings, ScaleSize } from './options.js';
import { channelOf, serviceName } from './policy.js';
import {
  histogramDelta,
  histogramOf,
  histogramQuantile,
  readMachineCpu,
  sumOf,
  type MachineCpuReading,
} from './readings.js';
import { startScaleStack, STORE_PREFIX, type ScaleStack } from './scale-stack.js';
import { percentile, round } from '../stats.js';

const POLL_MS = 2_000;
export const COMMAND_LEGS = ['outbox', 'produce', 'agent', 'events', 'handle'] as const;
const NEW_VERSION = '2.0.0';

/** How soon Slack showed people that rollouts ended: per rollout shown, ms after its end. */
export interface Shown {
  /** Rollouts for which it was shown; `notShown`: ended, and not shown by the report. */
  shown: number;
  notShown: number;
  p50Seconds: number;
  p99Seconds: number;
}

export interface ScaleSizeResult {
  rollouts: number;
  clusters: number;
  botReplicas: number;
  outcome: { succeeded: number; notSucceeded: number; finishedInTime: boolean };
  wall: { seconds: number; idealSeconds: number; ratioToIdeal: number; rolloutsPerMinute: number };
  /** From the bot's `rollout_gate_lag_seconds` histogram: as coarse as its buckets. */
  gateLag: { evaluations: number; p50Seconds: number; p99Seconds: number };
  /** Events the bot's consumer group had not committed when the run ended (its own gauge). */
  eventsBehindAtEnd: number;
  /** `set_weight` publish → `stage_applied` handed to the bot's handler, timed in the bot. */
  commandLatency: { samples: number; p50Ms: number; p99Ms: number };
  /**
   * Where a command's time goes, p50/p99 ms per leg (`bot-probe.ts`): the outbox (stored →
   * publish), the Kafka send, the agent (sent → its `stage_applied`), the events' way back to the
   * bot's handler, and the handler.
   */
  commandLegs: Record<(typeof COMMAND_LEGS)[number], { p50Ms: number; p99Ms: number }>;
  bot: {
    peakRssMb: number[];
    cpuSecondsPerRollout: number;
    /** `process.memoryUsage()` of a bot at its peak RSS, in MB (`bot-probe.ts`). */
    memoryAtPeakMb?: { rss: number; heapTotal: number; heapUsed: number; external: number };
  };
  agents: { peakRssMb: { max: number; mean: number }; cpuSecondsPerRollout: number };
  /**
   * Where the machine's CPUs went over the run, CPU seconds per rollout: the bot and agents (from
   * /proc), Redis (`INFO cpu`), this bench process (the Slack double and the polls), and the rest
   * (the Kafka test broker and anything else running); `busyPercent` of all CPUs' time.
   */
  machineCpu: {
    cpus: number;
    busyPercent: number;
    perRolloutSeconds: { bot: number; agents: number; redis: number; bench: number; rest: number };
  };
  redis: {
    /** (used_memory at its peak − before the run) / N. */
    bytesPerActiveRollout: number;
    /** used_memory after retention − before the run, / N. */
    bytesPerFinishedRollout: number;
    /** MEMORY USAGE of the keys the run left after retention, / N. */
    keyBytesPerFinishedRollout: number;
    keysLeftPerFinishedRollout: number;
    /** The keys the run left after retention, by kind (see `kindOf`): what to look at first. */
    keysLeftByKind: Record<string, KeyKind>;
    peakUsedMemoryMb: number;
  };
  perRollout: {
    kafkaMessages: Record<string, number>;
    redisCommands: number;
    redisCommandsByName: Record<string, number>;
    slackCalls: Record<string, number>;
    slack429s: number;
    /**
     * From a rollout's last transition to its card showing it ended (`CardFreshness`), over the
     * rollouts whose card did; `notShown`: rollouts that ended but whose card never said so.
     */
    cardEnded: Shown;
    /**
     * The same for the reply in the card's thread that says the rollout ended (`endLineDelays`),
     * timed from the rollout's terminal commit: what people see while card updates wait on Slack's
     * `chat.update` limit.
     */
    endLine: Shown;
    kubernetesCalls: Record<string, number>;
    prometheusQueries: number;
  };
  /** Readings the bench could not take, and why. */
  notes: string[];
}

export async function runScaleSize(
  size: ScaleSize,
  replicas: number,
  settings: ScaleSettings,
  log: (line: string) => void,
): Promise<ScaleSizeResult> {
  const n = size.rollouts;
  log(
    `scale ${n}×${size.clusters}, ${replicas} bot process(es): starting Kafka, Redis, ${size.clusters} agents…`,
  );
  const s = await startScaleStack({
    services: n,
    clusters: size.clusters,
    replicas,
    settings,
  });
  try {
    return await measure(s, size, replicas, settings, log);
  } finally {
    log('stopping the stack…');
    await s.stop();
  }
}

async function measure(
  s: ScaleStack,
  size: ScaleSize,
  replicas: number,
  settings: ScaleSettings,
  log: (line: string) => void,
): Promise<ScaleSizeResult> {
  const n = size.rollouts;
  const notes: string[] = [];
  // Everything idle and connected: the baselines.
  const before = {
    used: Number((await s.redisInfo('memory')).used_memory),
    keys: new Set(await scanKeys(s)),
    commands: await s.redisCommands(),
    offsets: await s.topicOffsets(),
    gateLag: histogramOf(await scrapeBots(s), 'rollout_gate_lag_seconds'),
    agentMetrics: await Promise.all(s.agents.map((a) => s.scrape(a.metricsUrl))),
    processes: await s.processReadings(),
    slack: new Map(s.slackCalls),
    machine: await readMachineCpu(),
    redisCpu: redisCpuSeconds(await s.redisInfo('cpu')),
    benchCpu: process.cpuUsage(),
  };
  const peakRss = { bots: before.processes.bots.map(() => 0), agents: s.agents.map(() => 0) };
  let peakUsed = before.used;
  const sample = async () => {
    const now = await s.processReadings();
    now.bots.forEach((r, i) => (peakRss.bots[i] = Math.max(peakRss.bots[i]!, r.rssBytes)));
    now.agents.forEach((r, i) => (peakRss.agents[i] = Math.max(peakRss.agents[i]!, r.rssBytes)));
    peakUsed = Math.max(peakUsed, Number((await s.redisInfo('memory')).used_memory));
  };

  log(`starting ${n} rollouts (${settings.startConcurrency} slash commands in flight)…`);
  const began = performance.now();
  const refused: string[] = [];
  await inParallel(n, settings.startConcurrency, async (i) => {
    const answer = await s.requests.command(`start ${serviceName(i)} ${NEW_VERSION} scale bench`, {
      user: 'U0BENCH',
      channel: channelOf(i),
    });
    if (answer.status !== 200) refused.push(`${serviceName(i)}: HTTP ${answer.status}`);
  });
  if (refused.length > 0)
    throw new Error(`the bot refused ${refused.length} starts: ${refused.slice(0, 5).join('; ')}`);

  // Created: every rollout indexed once (indexes are pruned only after retention, far later).
  let created = false;
  let active = 0;
  const deadline = began + settings.deadlineMs;
  let lastLog = 0;
  for (;;) {
    await sleep(POLL_MS);
    await sample();
    await s.recordEnds(settings.retentionMs);
    active = await s.countStatuses(ACTIVE_STATUSES);
    if (!created) {
      s.benchCommands.set('zcard', (s.benchCommands.get('zcard') ?? 0) + 1);
      created = (await s.redis.zcard(`${STORE_PREFIX}idx:all`)) >= n;
    }
    const elapsed = performance.now() - began;
    if (elapsed - lastLog > 15_000) {
      log(
        `  ${Math.round(elapsed / 1000)} s: ${active} active${created ? '' : ', not all created'}`,
      );
      lastLog = elapsed;
    }
    if (created && active === 0) break;
    if (performance.now() > deadline) {
      notes.push(`not finished within the deadline (${settings.deadlineMs} ms): ${active} active`);
      // A start the bot answered with a refusal (an ephemeral reply) never becomes a rollout.
      if (!created) {
        const indexed = await s.redis.zcard(`${STORE_PREFIX}idx:all`);
        notes.push(`only ${indexed} of ${n} rollouts were created: see the bot's replies`);
      }
      break;
    }
  }
  const wallMs = performance.now() - began;
  log(`all ended after ${round(wallMs / 1000)} s; reading counters…`);
  const after = {
    commands: await s.redisCommands(),
    offsets: await s.topicOffsets(),
    bot: await scrapeBots(s),
    agentMetrics: await Promise.all(s.agents.map((a) => s.scrape(a.metricsUrl))),
    processes: await s.processReadings(),
    latencies: await s.probeLatencies(),
    legs: await s.probeLegs(),
    memory: await s.probeMemory(),
    machine: await readMachineCpu(),
    redisCpu: redisCpuSeconds(await s.redisInfo('cpu')),
    benchCpu: process.cpuUsage(before.benchCpu),
  };
  const peakMemory = after.memory.reduce<number[] | undefined>(
    (peak, row) => (peak === undefined || row[0]! > peak[0]! ? row : peak),
    undefined,
  );
  const afterGateLag = histogramOf(after.bot, 'rollout_gate_lag_seconds');
  const succeeded = await countSucceeded(s, n, size.clusters);

  // What finished rollouts leave means something only once all of them finished.
  let left: string[] = [];
  let leftBytes = Number.NaN;
  let leftByKind: Record<string, KeyKind> = {};
  let usedAfter = Number.NaN;
  if (active === 0) {
    log(
      `waiting out the retention (${settings.retentionMs} ms) to see what finished rollouts leave…`,
    );
    await sleep(settings.retentionMs + 2_000);
    // Index entries of expired rollouts leave on the next store write; with nothing running there
    // is none, so what is left includes them (a few dozen bytes per rollout).
    left = (await scanKeys(s)).filter((k) => !before.keys.has(k));
    leftByKind = await censusOf(s.redis, left);
    leftBytes = Object.values(leftByKind).reduce((sum, kind) => sum + kind.bytes, 0);
    usedAfter = Number((await s.redisInfo('memory')).used_memory);
  } else {
    notes.push('Redis per finished rollout not measured: rollouts were still active');
  }

  // Cards and thread lines trail the rollouts (Slack's limits pace them): how soon they showed the
  // ends is read once Slack calls stopped, or after SLACK_SETTLE_MAX_MS (the rest count as not
  // shown). The figures read above do not include the wait; the Slack call counts below do (the
  // trailing calls are part of the run's cost).
  if (active === 0) await slackSettled(s, log);
  const commands = subtract(after.commands, before.commands, s.benchCommands);
  const totalCommands = Object.values(commands).reduce((a, b) => a + b, 0);
  const gate = histogramDelta(afterGateLag, before.gateLag);
  const cpuOf = (a: { cpuSeconds: number }[], b: { cpuSeconds: number }[]) =>
    a.reduce((sum, r, i) => sum + r.cpuSeconds - b[i]!.cpuSeconds, 0);
  const agentCounter = (name: string, label?: string) => {
    const byLabel: Record<string, number> = {};
    s.agents.forEach((_, i) => {
      for (const sample of after.agentMetrics[i]!.filter((m) => m.name === name)) {
        const key = label ? (sample.labels[label] ?? '') : 'total';
        const was = sumOf(before.agentMetrics[i]!, name, sample.labels);
        byLabel[key] = (byLabel[key] ?? 0) + sample.value - was;
      }
    });
    return byLabel;
  };
  const botCpu = cpuOf(after.processes.bots, before.processes.bots);
  const agentsCpu = cpuOf(after.processes.agents, before.processes.agents);
  const machineCpu = machineCpuOf(before.machine, after.machine, {
    bot: botCpu,
    agents: agentsCpu,
    redis: after.redisCpu - before.redisCpu,
    bench: (after.benchCpu.user + after.benchCpu.system) / 1e6,
  });
  const kube = agentCounter('agent_router_calls_total', 'operation');
  const prom = agentCounter('rollout_agent_metrics_queries_total').total ?? 0;
  if (Object.keys(kube).length === 0) notes.push('agents exposed no agent_router_calls_total');
  const perRollout = (x: number) => round(x / n, 2);
  const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);
  const idealSeconds = (settings.stages.length * settings.bakeMs) / 1000;
  const agentPeaks = peakRss.agents.map(mb);
  const lat = after.latencies;
  if (replicas > 1)
    notes.push(
      'command latency counts only commands whose stage_applied reached the bot process that published them',
    );
  return {
    rollouts: n,
    clusters: size.clusters,
    botReplicas: replicas,
    outcome: {
      succeeded,
      notSucceeded: n - succeeded,
      finishedInTime: notes.every((note) => !note.startsWith('not finished')),
    },
    wall: {
      seconds: round(wallMs / 1000),
      idealSeconds,
      ratioToIdeal: round(wallMs / 1000 / idealSeconds, 2),
      rolloutsPerMinute: round(succeeded / (wallMs / 60_000), 1),
    },
    gateLag: {
      evaluations: gate.counts.at(-1) ?? 0,
      p50Seconds: round(histogramQuantile(gate, 0.5), 3),
      p99Seconds: round(histogramQuantile(gate, 0.99), 3),
    },
    eventsBehindAtEnd: sumOf(after.bot, 'rollout_kafka_consumer_lag') / s.bots.length,
    commandLatency: {
      samples: lat.length,
      p50Ms: round(percentile(lat, 50)),
      p99Ms: round(percentile(lat, 99)),
    },
    commandLegs: Object.fromEntries(
      COMMAND_LEGS.map((leg, i) => {
        const values = after.legs.map((row) => row[i]!);
        return [
          leg,
          { p50Ms: round(percentile(values, 50)), p99Ms: round(percentile(values, 99)) },
        ];
      }),
    ) as ScaleSizeResult['commandLegs'],
    bot: {
      peakRssMb: peakRss.bots.map(mb),
      cpuSecondsPerRollout: round(botCpu / n, 3),
      ...(peakMemory && {
        memoryAtPeakMb: {
          rss: mb(peakMemory[0]!),
          heapTotal: mb(peakMemory[1]!),
          heapUsed: mb(peakMemory[2]!),
          external: mb(peakMemory[3]!),
        },
      }),
    },
    agents: {
      peakRssMb: {
        max: Math.max(...agentPeaks),
        mean: round(agentPeaks.reduce((a, b) => a + b, 0) / agentPeaks.length, 1),
      },
      cpuSecondsPerRollout: round(agentsCpu / n, 3),
    },
    machineCpu: {
      cpus: machineCpu.cpus,
      busyPercent: machineCpu.busyPercent,
      perRolloutSeconds: Object.fromEntries(
        Object.entries(machineCpu.seconds).map(([k, v]) => [k, round(v / n, 3)]),
      ) as ScaleSizeResult['machineCpu']['perRolloutSeconds'],
    },
    redis: {
      bytesPerActiveRollout: Math.round((peakUsed - before.used) / n),
      bytesPerFinishedRollout: Math.round((usedAfter - before.used) / n),
      keyBytesPerFinishedRollout: Math.round(leftBytes / n),
      keysLeftPerFinishedRollout: active === 0 ? perRollout(left.length) : Number.NaN,
      keysLeftByKind: leftByKind,
      peakUsedMemoryMb: mb(peakUsed),
    },
    perRollout: {
      kafkaMessages: Object.fromEntries(
        Object.entries(after.offsets)
          .map(([topic, high]): [string, number] => [topic, high - (before.offsets[topic] ?? 0)])
          .filter(([, count]) => count > 0)
          .map(([topic, count]) => [topic, perRollout(count)]),
      ),
      redisCommands: perRollout(totalCommands),
      redisCommandsByName: Object.fromEntries(
        Object.entries(commands)
          .filter(([, count]) => count > 0)
          .sort(([, a], [, b]) => b - a)
          .map(([name, count]) => [name, perRollout(count)]),
      ),
      slackCalls: Object.fromEntries(
        [...s.slackCalls].map(([method, count]) => [
          method,
          perRollout(count - (before.slack.get(method) ?? 0)),
        ]),
      ),
      slack429s: s.slackRateLimited(),
      cardEnded: shownOf(s.cardFreshness.values(), n - active),
      endLine: shownOf(
        [...endLineDelays(s.slack.messages(), await s.recordEnds(settings.retentionMs)).values()],
        n - active,
      ),
      kubernetesCalls: Object.fromEntries(
        Object.entries(kube).map(([op, count]) => [op, perRollout(count)]),
      ),
      prometheusQueries: perRollout(prom),
    },
    notes,
  };
}

/** No Slack call for this long: the bot has nothing left to say. */
const SLACK_QUIET_MS = 3_000;
const SLACK_SETTLE_MAX_MS = 120_000;

async function slackSettled(s: ScaleStack, log: (line: string) => void): Promise<void> {
  const total = () => [...s.slackCalls.values()].reduce((a, b) => a + b, 0);
  const began = performance.now();
  let last = total();
  let quietSince = performance.now();
  while (performance.now() - quietSince < SLACK_QUIET_MS) {
    if (performance.now() - began > SLACK_SETTLE_MAX_MS) {
      log(
        `Slack calls still going after ${SLACK_SETTLE_MAX_MS / 1000} s; reading cards as they are`,
      );
      return;
    }
    await sleep(500);
    const now = total();
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    }
  }
}

function shownOf(delaysMs: number[], ended: number): Shown {
  return {
    shown: delaysMs.length,
    notShown: Math.max(0, ended - delaysMs.length),
    p50Seconds: round(percentile(delaysMs, 50) / 1000, 1),
    p99Seconds: round(percentile(delaysMs, 99) / 1000, 1),
  };
}

/** `used_cpu_sys` + `used_cpu_user` of Redis's `INFO cpu`: its main thread and children. */
function redisCpuSeconds(info: Record<string, string>): number {
  return Number(info.used_cpu_sys) + Number(info.used_cpu_user);
}

/** The machine's busy CPU time over the run, split by who used it (the rest: whatever is left). */
function machineCpuOf(
  before: MachineCpuReading,
  after: MachineCpuReading,
  known: { bot: number; agents: number; redis: number; bench: number },
) {
  const busy = after.busySeconds - before.busySeconds;
  const total = after.totalSeconds - before.totalSeconds;
  const accounted = known.bot + known.agents + known.redis + known.bench;
  return {
    cpus: os.availableParallelism(),
    busyPercent: round((100 * busy) / total, 1),
    seconds: { ...known, rest: Math.max(0, busy - accounted) },
  };
}

/** The bots' /metrics, all replicas' samples together (a histogram sums across them). */
async function scrapeBots(s: ScaleStack) {
  return (await Promise.all(s.bots.map((b) => s.scrape(`${b.base}/metrics`)))).flat();
}

/**
 * Rollouts that succeeded, read from what the store keeps for good: each service's stable version
 * per cluster (`stable:<service>`), which a rollout's success sets in every one of its clusters.
 * Their records may have expired already (retention); this never does.
 */
async function countSucceeded(s: ScaleStack, n: number, clusters: number): Promise<number> {
  let succeeded = 0;
  for (let i = 0; i < n; i++) {
    const stable = await s.redis.hgetall(`${STORE_PREFIX}stable:${serviceName(i)}`);
    const versions = Object.values(stable).map(
      (json) => (JSON.parse(json) as { version: string }).version,
    );
    if (versions.length === clusters && versions.every((v) => v === NEW_VERSION)) succeeded++;
  }
  return succeeded;
}

async function scanKeys(s: ScaleStack): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await s.redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Redis commands of the run: after − before − what the bench itself sent. */
function subtract(
  after: Record<string, number>,
  before: Record<string, number>,
  bench: Map<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after))
    out[name] = Math.max(0, calls - (before[name] ?? 0) - (bench.get(name) ?? 0));
  return out;
}

async function inParallel(
  count: number,
  concurrency: number,
  work: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
