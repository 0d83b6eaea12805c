/**
 * `npm run bench`: speed and memory of distributed mode on this machine, on the Kafka test broker
 * and a private Redis (loopback only), with two agent processes and the bot in this process.
 *
 * (a) command latency: from the bot publishing `set_weight` to the bot seeing that cluster's
 *     `stage_applied`, p50 and p99, beside the floor measured in the same run (plain kafkajs,
 *     one produce→consume hop on the same broker) as a ratio;
 * (b) from the onset of an injected fault (the faulty stage written to the cluster's route) to
 *     weight 0 in every cluster (the last rollback written), beside the sampling and gate
 *     intervals, in ms and as a ratio to each;
 * (c) resident memory of the bot (this process) and of each agent process.
 *
 * (d) the `judge` section (`judge.ts`): a pure seeded simulation of how fast the sequential judge,
 *     today's threshold gate, a Flagger-like gate and a fixed-horizon test catch regressions, and
 *     their false-alarm rates.
 *
 * (e) the `release` section (`release.ts`): a 5-service, 3-wave release in local mode, its
 *     orchestration overhead over the bakes of its critical path, and the time from a breach in
 *     its last member to weight 0 for every member.
 *
 * Prints a table, or with `--json` one JSON object and nothing else; always writes the JSON to
 * bench/results/latest.json. Iterations are fixed; the whole run takes about two minutes.
 * `--only judge` or `--only release` runs that section alone (no Kafka, no Redis; seconds for the
 * judge, under a minute for the release) and prints only its figures.
 *
 * `--scale` (N concurrent rollouts × C clusters, bot and agents in processes of their own) and
 * `--soak` (thousands of short rollouts in sequence) are separate benches: see bench/scale/.
 */
import { measureSlackAck, type SlackAckBench } from './slack-ack.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RecordingNotifier } from '../bot/adapters/recording-notifier.js';
import { BotRuntime } from '../bot/bot-runtime.js';
import { connectDistributedAdapters } from '../bot/distributed-mode.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/log.js';
import type { CommandBus, EventBus } from '../shared/ports/buses.js';
import { FINISHED, startStack, waitForRollout } from '../test/support/distributed-stack.js';
import { waitFor } from '../test/support/wait-for.js';
import { judgeTable, runJudgeBench, type JudgeBench } from './judge.js';
import { measureKafkaFloor } from './kafka-floor.js';
import { releaseTable, runReleaseBench, type ReleaseBench } from './release.js';
import { parseOnly } from './sections.js';
import { percentile, round } from './stats.js';
import { BenchUsageError, parseScaleArgs } from './scale/options.js';
import { scaleMain } from './scale/scale-bench.js';

const RESULTS_FILE = fileURLToPath(new URL('results/latest.json', import.meta.url));

/** Everything the figures depend on, reported with them. */
const SETTINGS = {
  rollouts: 20,
  warmUpRollouts: 1,
  faultRuns: 5,
  floorRoundTrips: 200,
  kafkaMaxWaitMs: 20,
  samplingIntervalMs: 100,
  gateIntervalMs: 250,
  bakeMs: 250,
  failureLimit: 2,
  stages: [5, 25, 50, 100],
};
const DEADLINE_MS = 150_000;

const POLICY = `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [${SETTINGS.stages.join(', ')}]
  bake: ${SETTINGS.bakeMs}ms
  gate:
    interval: ${SETTINGS.gateIntervalMs}ms
    minRequests: 20
    failureLimit: ${SETTINGS.failureLimit}
    checks:
      - { metric: error_rate, mode: absolute, max: 0.05 }
      - { metric: latency_p99, mode: relative, max: 1.5 }
services:
  checkout:
    channel: C0CHECKOUT
    clusters: [eu-west, us-east]
    stableVersion: 2.4.0
  payments:
    channel: C0PAYMENTS
    clusters: [eu-west, us-east]
    stableVersion: 1.0.0
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 20000
  faults:
    - { cluster: us-east, service: payments, role: canary, fromStage: 1, errorRate: 0.3 }
`;

export interface BenchResult {
  generatedAt: string;
  machine: { node: string; platform: string; cpus: number; cpuModel: string; memoryMb: number };
  settings: typeof SETTINGS;
  commandLatency: {
    samples: number;
    p50Ms: number;
    p99Ms: number;
    floorSamples: number;
    floorP50Ms: number;
    floorP99Ms: number;
    p50RatioToFloor: number;
    p99RatioToFloor: number;
  };
  faultToZeroWeight: {
    runs: number;
    p50Ms: number;
    maxMs: number;
    samplingIntervalMs: number;
    gateIntervalMs: number;
    p50RatioToSamplingInterval: number;
    p50RatioToGateInterval: number;
  };
  memory: { botRssMb: number; agentRssMb: Record<string, number> };
  durationMs: number;
}

/** Times each `set_weight` from the bot's publish to the bot seeing its `stage_applied`. */
class CommandTimer {
  private readonly published = new Map<string, number>();
  readonly latencies: number[] = [];
  recording = false;

  commands(inner: CommandBus): CommandBus {
    return {
      publish: (command) => {
        if (command.type === 'set_weight') {
          const key = `${command.rolloutId}/${command.cluster}/${command.seq}`;
          if (!this.published.has(key)) this.published.set(key, performance.now());
        }
        return inner.publish(command);
      },
      subscribe: (cluster, handler) => inner.subscribe(cluster, handler),
    };
  }

  events(inner: EventBus): EventBus {
    return {
      publish: (event) => inner.publish(event),
      subscribe: (handler, group) =>
        inner.subscribe((event) => {
          if (event.type === 'stage_applied') {
            const key = `${event.rolloutId}/${event.cluster}/${event.seq}`;
            const at = this.published.get(key);
            this.published.delete(key); // the first sighting counts; a redelivery does not
            if (at !== undefined && this.recording) this.latencies.push(performance.now() - at);
          }
          return handler(event);
        }, group),
    };
  }
}

export async function runBench(log: (line: string) => void): Promise<BenchResult> {
  const began = performance.now();
  const timings = {
    sessionTimeoutMs: 3_000,
    heartbeatIntervalMs: 300,
    rebalanceTimeoutMs: 3_000,
    maxWaitTimeMs: SETTINGS.kafkaMaxWaitMs,
  };
  log('starting the Kafka test broker, Redis, two agent processes and the bot…');
  const stack = await startStack({
    policyYaml: POLICY,
    samplingIntervalMs: SETTINGS.samplingIntervalMs,
    kafkaTimings: timings,
  });
  try {
    const connected = await connectDistributedAdapters({
      kafka: { clientId: 'bench-bot', brokers: stack.kafka.bootstrap, consumer: timings },
      redisUrl: stack.redis.url,
      logger: silentLogger,
      clock: systemClock,
      // Signed as in production: the agents refuse anything else.
      signer: stack.keys.signer,
    });
    const timer = new CommandTimer();
    const runtime = new BotRuntime({
      adapters: {
        ...connected.adapters,
        commands: timer.commands(connected.adapters.commands),
        events: timer.events(connected.adapters.events),
        notifier: new RecordingNotifier(),
      },
      policy: () => stack.policy,
      clock: systemClock,
      logger: silentLogger,
      sweepTimer: false,
    });
    const [, euWest, usEast] = await Promise.all([
      runtime.start(),
      stack.startAgent('eu-west'),
      stack.startAgent('us-east'),
    ]);
    try {
      log(`floor: ${SETTINGS.floorRoundTrips} plain kafkajs produce→consume round trips…`);
      const floor = await measureKafkaFloor({
        brokers: stack.kafka.bootstrap,
        maxWaitTimeMs: timings.maxWaitTimeMs,
        sessionTimeoutMs: timings.sessionTimeoutMs,
        heartbeatIntervalMs: timings.heartbeatIntervalMs,
        roundTrips: SETTINGS.floorRoundTrips,
        warmUp: 10,
      });

      /** Ended, and its service's lock released (an effect that follows the final commit). */
      const finished = async (rolloutId: string) => {
        const state = await waitForRollout(runtime.service, rolloutId, FINISHED, 30_000);
        await waitFor(
          async () => (await runtime.service.activeRolloutOf(state.plan.service)) === undefined,
          { what: `the lock of ${state.plan.service} to be released`, timeoutMs: 10_000 },
        );
        return state;
      };

      const total = SETTINGS.warmUpRollouts + SETTINGS.rollouts;
      log(`command latency: ${total} healthy rollouts across two clusters, one at a time…`);
      for (let i = 0; i < total; i++) {
        timer.recording = i >= SETTINGS.warmUpRollouts;
        const state = await runtime.service.start({
          service: 'checkout',
          version: `2.5.${i}`,
          startedBy: 'U0BENCH',
        });
        const done = await finished(state.id);
        if (done.status !== 'succeeded')
          throw new Error(`rollout ${state.id} ended ${done.status}`);
        if (performance.now() - began > DEADLINE_MS) throw new Error('bench over its time limit');
      }

      log(
        `fault to weight 0: ${SETTINGS.faultRuns} rollouts with a fault from stage 2 in us-east…`,
      );
      const faultToZero: number[] = [];
      for (let i = 0; i < SETTINGS.faultRuns; i++) {
        const state = await runtime.service.start({
          service: 'payments',
          version: `1.1.${i}`,
          startedBy: 'U0BENCH',
        });
        const done = await finished(state.id);
        if (done.status !== 'rolled_back')
          throw new Error(`rollout ${state.id} ended ${done.status}`);
        const onset = stack
          .routeWrites('us-east')
          .find(
            (w) => w.rolloutId === state.id && w.operation === 'setWeight' && w.stageIndex >= 1,
          );
        const zeroed = ['eu-west', 'us-east'].map((cluster) =>
          stack
            .routeWrites(cluster)
            .find((w) => w.rolloutId === state.id && w.operation === 'rollback'),
        );
        if (!onset || zeroed.some((w) => w === undefined || w.canaryWeight !== 0)) {
          throw new Error(
            `rollout ${state.id}: the route log lacks the faulty stage or a rollback`,
          );
        }
        faultToZero.push(Math.max(...zeroed.map((w) => w!.at)) - onset.at);
      }

      const botRss = process.memoryUsage().rss;
      const agentRss = {
        'eu-west': await residentBytes(euWest.pid),
        'us-east': await residentBytes(usEast.pid),
      };
      const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);
      const lat = timer.latencies;
      const p50 = percentile(lat, 50);
      const p99 = percentile(lat, 99);
      const floorP50 = percentile(floor, 50);
      const floorP99 = percentile(floor, 99);
      const faultP50 = percentile(faultToZero, 50);
      return {
        generatedAt: new Date().toISOString(),
        machine: {
          node: process.version,
          platform: `${process.platform} ${process.arch}`,
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model ?? 'unknown',
          memoryMb: Math.round(totalmem() / 1024 / 1024),
        },
        settings: SETTINGS,
        commandLatency: {
          samples: lat.length,
          p50Ms: round(p50),
          p99Ms: round(p99),
          floorSamples: floor.length,
          floorP50Ms: round(floorP50),
          floorP99Ms: round(floorP99),
          p50RatioToFloor: round(p50 / floorP50, 2),
          p99RatioToFloor: round(p99 / floorP99, 2),
        },
        faultToZeroWeight: {
          runs: faultToZero.length,
          p50Ms: round(faultP50),
          maxMs: round(Math.max(...faultToZero)),
          samplingIntervalMs: SETTINGS.samplingIntervalMs,
          gateIntervalMs: SETTINGS.gateIntervalMs,
          p50RatioToSamplingInterval: round(faultP50 / SETTINGS.samplingIntervalMs, 2),
          p50RatioToGateInterval: round(faultP50 / SETTINGS.gateIntervalMs, 2),
        },
        memory: {
          botRssMb: mb(botRss),
          agentRssMb: Object.fromEntries(Object.entries(agentRss).map(([c, b]) => [c, mb(b)])),
        },
        durationMs: Math.round(performance.now() - began),
      };
    } finally {
      await runtime.stop();
      await connected.close();
    }
  } finally {
    await stack.stop();
  }
}

/** A process's resident set size in bytes, from /proc (Linux), else from `ps`. */
async function residentBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {
    // not Linux: fall through
  }
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { stdout } = await promisify(execFile)('ps', ['-o', 'rss=', '-p', String(pid)]);
  return Number(stdout.trim()) * 1024;
}

/** Everything `npm run bench` reports: the Kafka path, then Slack acks. */
type FullResult = BenchResult & {
  /** Ack latency through Bolt's HTTP endpoint (signed requests), beside an ack-only handler. */
  slackAck: SlackAckBench;
  /** Detection time and false alarms of four ways of judging a canary (simulation). */
  judge: JudgeBench;
  /** Orchestration overhead and cascade time of a 5-service, 3-wave release (local mode). */
  release: ReleaseBench;
};

function table(r: FullResult): string {
  const c = r.commandLatency;
  const f = r.faultToZeroWeight;
  const rows: [string, string, string][] = [
    [
      'command → stage_applied, p50',
      `${c.p50Ms} ms`,
      `${c.p50RatioToFloor}× floor (${c.floorP50Ms} ms)`,
    ],
    [
      'command → stage_applied, p99',
      `${c.p99Ms} ms`,
      `${c.p99RatioToFloor}× floor (${c.floorP99Ms} ms)`,
    ],
    [
      'fault onset → weight 0 everywhere, p50',
      `${f.p50Ms} ms`,
      `${f.p50RatioToSamplingInterval}× sampling (${f.samplingIntervalMs} ms), ${f.p50RatioToGateInterval}× gate interval (${f.gateIntervalMs} ms)`,
    ],
    ['fault onset → weight 0 everywhere, max', `${f.maxMs} ms`, `over ${f.runs} runs`],
    ['bot RSS (this process)', `${r.memory.botRssMb} MB`, ''],
    ...Object.entries(r.memory.agentRssMb).map(([cluster, mb]): [string, string, string] => [
      `agent RSS (${cluster})`,
      `${mb} MB`,
      'child process',
    ]),
    ...(['start', 'button'] as const).flatMap((kind): [string, string, string][] => {
      const figures = r.slackAck[kind];
      const ratio = r.slackAck.ratios[kind];
      const label = kind === 'start' ? '/rollout start' : 'button click';
      return [
        [
          `Slack ack, ${label}, p50`,
          `${figures.p50Ms} ms`,
          `${ratio.p50}× floor (${r.slackAck.floor.p50Ms} ms)`,
        ],
        [
          `Slack ack, ${label}, p99`,
          `${figures.p99Ms} ms`,
          `${ratio.p99}× floor (${r.slackAck.floor.p99Ms} ms)`,
        ],
      ];
    }),
  ];
  const widths = [0, 1].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map(
    ([a, b, note]) => `${a.padEnd(widths[0]!)}  ${b.padStart(widths[1]!)}  ${note}`,
  );
  return [
    `Rollout ChatOps bench, ${r.generatedAt} (${r.machine.cpus}× ${r.machine.cpuModel}, Node ${r.machine.node})`,
    `floor: plain kafkajs, one produce→consume hop on the same broker; a command's path is two hops (command, answer)`,
    `Slack floor: a signed request to a Bolt handler that only acks, measured in the same run`,
    `samples: ${c.samples} commands, ${c.floorSamples} floor round trips; Kafka fetch max wait ${r.settings.kafkaMaxWaitMs} ms everywhere`,
    '',
    ...lines,
    '',
    judgeTable(r.judge),
    '',
    releaseTable(r.release),
    '',
    `took ${Math.round(r.durationMs / 1000)} s; JSON in ${RESULTS_FILE}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  // Progress goes to stderr, so stdout holds only the figures.
  const log = (line: string) => {
    if (!json) process.stderr.write(`${line}\n`);
  };
  // `--scale` and `--soak` are benches of their own (bench/scale/): N rollouts at once, or many in turn.
  const scale = parseScaleArgs(process.argv.slice(2));
  if (scale) return scaleMain(scale, json, log);
  const only = parseOnly(process.argv.slice(2));
  if (only === 'release') {
    log('release: a 5-service, 3-wave release in local mode, then one with a breach…');
    const release = await runReleaseBench();
    // A section alone does not overwrite the full run's JSON.
    process.stdout.write(json ? `${JSON.stringify({ release })}\n` : `${releaseTable(release)}\n`);
    return;
  }
  log('judge: seeded simulation of four ways of judging a canary…');
  const judge = runJudgeBench();
  if (only === 'judge') {
    process.stdout.write(json ? `${JSON.stringify({ judge })}\n` : `${judgeTable(judge)}\n`);
    return;
  }
  const kafka = await runBench(log);
  log('Slack acks: signed /rollout start and button clicks through the HTTP endpoint…');
  const slackAck = await measureSlackAck();
  log('release: a 5-service, 3-wave release in local mode, then one with a breach…');
  const result: FullResult = { ...kafka, slackAck, judge, release: await runReleaseBench() };
  await mkdir(dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${table(result)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      // A usage error says what to type instead; a stack would only bury that.
      const usage = err instanceof BenchUsageError;
      process.stderr.write(
        `bench: ${err instanceof Error ? (usage ? err.message : (err.stack ?? err.message)) : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
