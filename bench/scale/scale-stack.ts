/**
 * Distributed mode as the scale bench runs it: the Kafka test broker, a private Redis and the
 * policy from `startStack` (test/support/distributed-stack.ts), plus processes it starts itself:
 * one agent per cluster (simulated drivers, no state file: rewriting the whole simulated cluster
 * on every route write grows with rollouts squared and would measure the harness), and one or
 * more bot processes with the Slack surface on the Web API double, each with the probe that times
 * commands. Everything runs on loopback and stops with `stop`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { startStack, type DistributedStack } from '../../test/support/distributed-stack.js';
import { spawnEntry, type EntryProcess } from '../../test/support/entry-process.js';
import { SlackApiDouble } from '../../test/support/slack-api-double.js';
import { SlackRequests } from '../../test/support/slack-requests.js';
import { SCALE_BOT_PROBE } from './bot-probe.js';
import { CardFreshness } from './card-freshness.js';
import { SCALE_CPU_PROFILE_PROBE } from './cpu-profile-probe.js';
import type { ScaleSettings } from './options.js';
import { clusterName, scalePolicyYaml } from './policy.js';
import {
  commandCalls,
  parseInfo,
  parsePrometheus,
  readProcess,
  type ProcessReading,
  type Sample,
} from './readings.js';

const TOKEN = 'xoxb-5555-6666-scalebenchtoken';
const SECRET = 'scale-bench-signing-secret';
/** The rollouts' store prefix (`RedisRolloutStore`'s default, which the bot uses). */
export const STORE_PREFIX = 'rollout:';

export interface BotProcess {
  process: EntryProcess;
  /** `http://127.0.0.1:<port>`: Slack's events endpoint and /metrics. */
  base: string;
  probeFile: string;
}

export interface AgentProcess {
  cluster: string;
  process: EntryProcess;
  metricsUrl: string;
}

export interface ScaleStack {
  stack: DistributedStack;
  slack: SlackApiDouble;
  /** Slack calls per method (`429` counted apart), since the double started. */
  slackCalls: Map<string, number>;
  /** When each rollout's card first showed it ended (see `CardFreshness`). */
  cardFreshness: CardFreshness;
  slackRateLimited: () => number;
  redis: Redis;
  bots: BotProcess[];
  agents: AgentProcess[];
  requests: SlackRequests;
  /** Redis commands the bench itself sent (polls, INFO), subtracted from the run's counts. */
  benchCommands: Map<string, number>;
  redisInfo(
    section: 'memory' | 'commandstats' | 'keyspace' | 'cpu',
  ): Promise<Record<string, string>>;
  redisCommands(): Promise<Record<string, number>>;
  /**
   * Reads which rollouts ended since the last call, and when (their terminal commit put them in
   * the store's `idx:expiring` at that time plus `retentionMs`); the map keeps every one seen.
   */
  recordEnds(retentionMs: number): Promise<ReadonlyMap<string, number>>;
  /** Sum of ZCARD over the rollout status indexes given. */
  countStatuses(statuses: readonly string[]): Promise<number>;
  /** Records (high watermarks) per topic, all partitions summed. */
  topicOffsets(): Promise<Record<string, number>>;
  scrape(url: string): Promise<Sample[]>;
  processReadings(): Promise<{ bots: ProcessReading[]; agents: ProcessReading[] }>;
  probeLatencies(): Promise<number[]>;
  /** The probe's per-leg split of each command (see `bot-probe.ts`), one row per command. */
  probeLegs(): Promise<number[][]>;
  /** The bot processes' `process.memoryUsage()` every 5 s (see `bot-probe.ts`), all bots' rows. */
  probeMemory(): Promise<number[][]>;
  stop(): Promise<void>;
}

export async function startScaleStack(options: {
  services: number;
  clusters: number;
  replicas: number;
  settings: ScaleSettings;
}): Promise<ScaleStack> {
  const { settings } = options;
  const clusters = Array.from({ length: options.clusters }, (_, i) => clusterName(i));
  const [stack, slack, probeDir] = await Promise.all([
    startStack({
      policyYaml: scalePolicyYaml(options.services, options.clusters, settings),
      samplingIntervalMs: settings.samplingIntervalMs,
    }),
    // Only counts are needed: keep a bounded tail of recorded calls.
    SlackApiDouble.start({ token: TOKEN, maxRecordedCalls: 1_000 }),
    mkdtemp(join(tmpdir(), 'rollout-scale-probe-')),
  ]);
  const slackCalls = new Map<string, number>();
  let rateLimited = 0;
  const cardFreshness = new CardFreshness();
  const endedAt = new Map<string, number>();
  slack.events.on('call', (call) => {
    if (call.status === 429) rateLimited++;
    else slackCalls.set(call.method, (slackCalls.get(call.method) ?? 0) + 1);
    cardFreshness.observe(call);
  });
  const redis = new Redis(stack.redis.url, { maxRetriesPerRequest: 3 });
  const benchCommands = new Map<string, number>();
  const counted = (command: string, n = 1) =>
    benchCommands.set(command, (benchCommands.get(command) ?? 0) + n);
  const kafka = new Kafka({
    clientId: 'scale-bench',
    brokers: stack.kafka.bootstrap,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const started: EntryProcess[] = [];
  // SCALE_CPU_PROFILE_DIR=<dir>: every bot and agent writes a CPU profile there when it stops.
  const profiled = (name: string): { preload: string[]; env: Record<string, string> } =>
    process.env.SCALE_CPU_PROFILE_DIR
      ? { preload: [SCALE_CPU_PROFILE_PROBE], env: { SCALE_CPU_PROFILE_NAME: name } }
      : { preload: [], env: {} };
  const bots: BotProcess[] = [];
  const agents: AgentProcess[] = [];

  const stop = async () => {
    await Promise.allSettled(started.map((p) => p.kill('SIGTERM', 20_000)));
    await Promise.allSettled([admin.disconnect(), redis.quit(), slack.close()]);
    await stack.stop();
    await rm(probeDir, { recursive: true, force: true });
  };

  try {
    await admin.connect();
    const startAgent = async (cluster: string): Promise<AgentProcess> => {
      const profile = profiled(`agent-${cluster}`);
      const agent = spawnEntry('agent/main.ts', {
        name: `agent ${cluster}`,
        env: stack.env({
          AGENT_CLUSTER: cluster,
          AGENT_SAMPLING_INTERVAL: `${settings.samplingIntervalMs}ms`,
          PORT: '0',
          ...profile.env,
        }),
        preload: profile.preload,
        readyLine: /"msg":"agent running"/,
        readyTimeoutMs: 120_000,
      });
      started.push(agent);
      await agent.ready;
      const port = /"port":(\d+)[^\n]*serving \/healthz/.exec(agent.output())?.[1];
      if (!port) throw new Error(`agent ${cluster} did not say its port:\n${agent.output()}`);
      return { cluster, process: agent, metricsUrl: `http://127.0.0.1:${port}/metrics` };
    };
    const startBot = async (n: number): Promise<BotProcess> => {
      const probeFile = join(probeDir, `bot-${n}.txt`);
      const profile = profiled(`bot-${n}`);
      const bot = spawnEntry('bot/main.ts', {
        name: `bot ${n}`,
        env: stack.env({
          PORT: '0',
          SLACK_BOT_TOKEN: TOKEN,
          SLACK_SIGNING_SECRET: SECRET,
          SLACK_API_URL: slack.apiUrl,
          SCALE_PROBE_FILE: probeFile,
          ...profile.env,
        }),
        preload: [...profile.preload, SCALE_BOT_PROBE],
        readyLine: /bot running in distributed mode: .*HTTP on 127\.0\.0\.1:\d+/,
        readyTimeoutMs: 120_000,
      });
      started.push(bot);
      await bot.ready;
      const port = /HTTP on 127\.0\.0\.1:(\d+)/.exec(bot.output())![1]!;
      return { process: bot, base: `http://127.0.0.1:${port}`, probeFile };
    };
    // Agents one after another: ten Node processes loading tsx at once on two shared cores can
    // take longer than any ready timeout.
    for (const cluster of clusters) agents.push(await startAgent(cluster));
    for (let n = 0; n < options.replicas; n++) bots.push(await startBot(n));
  } catch (err) {
    await stop();
    throw err;
  }

  const redisInfo = async (section: string) => {
    counted('info');
    return parseInfo(await redis.info(section));
  };
  return {
    stack,
    slack,
    slackCalls,
    cardFreshness,
    slackRateLimited: () => rateLimited,
    redis,
    bots,
    agents,
    requests: new SlackRequests({
      eventsUrl: `${bots[0]!.base}/slack/events`,
      signingSecret: SECRET,
      api: slack,
    }),
    benchCommands,
    redisInfo,
    redisCommands: async () => commandCalls(await redisInfo('commandstats')),
    async recordEnds(retentionMs) {
      counted('zrange');
      const flat = await redis.zrange(`${STORE_PREFIX}idx:expiring`, '0', '-1', 'WITHSCORES');
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const [id] = JSON.parse(flat[i]!) as [string];
        if (!endedAt.has(id)) endedAt.set(id, Number(flat[i + 1]) - retentionMs);
      }
      return endedAt;
    },
    async countStatuses(statuses) {
      counted('zcard', statuses.length);
      const pipeline = redis.pipeline();
      for (const s of statuses) pipeline.zcard(`${STORE_PREFIX}idx:status:${s}`);
      const replies = (await pipeline.exec()) ?? [];
      return replies.reduce((sum, [, n]) => sum + Number(n), 0);
    },
    async topicOffsets() {
      const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__'));
      const offsets: Record<string, number> = {};
      for (const topic of topics) {
        const partitions = await admin.fetchTopicOffsets(topic);
        offsets[topic] = partitions.reduce((sum, p) => sum + Number(p.high), 0);
      }
      return offsets;
    },
    async scrape(url) {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
      return parsePrometheus(await res.text());
    },
    async processReadings() {
      return {
        bots: await Promise.all(bots.map((b) => readProcess(b.process.pid))),
        agents: await Promise.all(agents.map((a) => readProcess(a.process.pid))),
      };
    },
    async probeLatencies() {
      const all: number[] = [];
      for (const bot of bots) {
        const text = await readFile(bot.probeFile, 'utf8').catch(() => '');
        for (const line of text.split('\n')) if (line !== '') all.push(Number(line));
      }
      return all;
    },
    async probeLegs() {
      const rows: number[][] = [];
      for (const bot of bots) {
        const text = await readFile(`${bot.probeFile}.legs`, 'utf8').catch(() => '');
        for (const line of text.split('\n'))
          if (line !== '') rows.push(line.split(' ').map(Number));
      }
      return rows;
    },
    async probeMemory() {
      const rows: number[][] = [];
      for (const bot of bots) {
        const text = await readFile(`${bot.probeFile}.mem`, 'utf8').catch(() => '');
        for (const line of text.split('\n'))
          if (line !== '') rows.push(line.split(' ').map(Number));
      }
      return rows;
    },
    stop,
  };
}
