/**
 * The soak: thousands of short rollouts in sequence, `concurrency` at a time (a batch of that many
 * services started together, the next batch once every one of them succeeded), while the bot's RSS
 * and Redis's memory and key count are sampled. Nothing may grow with the number of rollouts run:
 * the report gives each one's slope per 1,000 rollouts (least squares over the samples after the
 * first tenth, which is warm-up), where flat is 0.
 */
import { performance } from 'node:perf_hooks';
import { ACTIVE_STATUSES } from '../../shared/rollout/state.js';
import type { SoakOptions } from './options.js';
import { channelOf, serviceName } from './policy.js';
import { readProcess } from './readings.js';
import { startScaleStack, STORE_PREFIX, type ScaleStack } from './scale-stack.js';
import { round } from '../stats.js';

export interface SoakSample {
  /** Rollouts finished when the sample was taken. */
  rollouts: number;
  seconds: number;
  botRssMb: number;
  redisUsedMb: number;
  redisKeys: number;
}

export interface SoakResult {
  generatedAt: string;
  rollouts: number;
  clusters: number;
  concurrency: number;
  succeeded: number;
  seconds: number;
  samples: SoakSample[];
  botRss: { firstMb: number; lastMb: number; mbPer1000Rollouts: number };
  redisUsed: { firstMb: number; lastMb: number; mbPer1000Rollouts: number };
  redisKeys: { first: number; last: number; per1000Rollouts: number };
  notes: string[];
}

export async function runSoak(
  options: SoakOptions,
  log: (line: string) => void,
): Promise<SoakResult> {
  log(
    `soak: ${options.rollouts} rollouts × ${options.clusters} clusters, ${options.concurrency} at a time…`,
  );
  const s = await startScaleStack({
    services: options.concurrency,
    clusters: options.clusters,
    replicas: 1,
    settings: options.settings,
  });
  try {
    return await soak(s, options, log);
  } finally {
    await s.stop();
  }
}

async function soak(
  s: ScaleStack,
  options: SoakOptions,
  log: (line: string) => void,
): Promise<SoakResult> {
  const { settings } = options;
  const notes: string[] = [];
  const samples: SoakSample[] = [];
  const began = performance.now();
  let done = 0;
  let succeeded = 0;
  const sample = async () => {
    const memory = await s.redisInfo('memory');
    samples.push({
      rollouts: done,
      seconds: round((performance.now() - began) / 1000),
      botRssMb: round((await readProcess(s.bots[0]!.process.pid)).rssBytes / 1024 / 1024, 1),
      redisUsedMb: round(Number(memory.used_memory) / 1024 / 1024, 2),
      redisKeys: await s.redis.dbsize(),
    });
  };
  await sample();
  let lastSample = performance.now();
  // A batch that takes this long failed: the soak goes on with the next one.
  const batchLimitMs = 20 * settings.stages.length * settings.bakeMs + 60_000;
  for (let batch = 0; done < options.rollouts; batch++) {
    if (performance.now() - began > settings.deadlineMs) {
      notes.push(`stopped at the deadline (${settings.deadlineMs} ms) after ${done} rollouts`);
      break;
    }
    const size = Math.min(options.concurrency, options.rollouts - done);
    const version = `3.${batch}.0`;
    await Promise.all(
      Array.from({ length: size }, async (_, i) => {
        const answer = await s.requests.command(`start ${serviceName(i)} ${version} soak`, {
          user: 'U0BENCH',
          channel: channelOf(i),
        });
        if (answer.status !== 200) throw new Error(`start refused: HTTP ${answer.status}`);
      }),
    );
    const batchBegan = performance.now();
    let pending = new Set(Array.from({ length: size }, (_, i) => i));
    while (pending.size > 0 && performance.now() - batchBegan < batchLimitMs) {
      await sleep(Math.min(250, settings.bakeMs / 4));
      const still = new Set<number>();
      for (const i of pending)
        if (!(await succeededWith(s, serviceName(i), version, options.clusters))) still.add(i);
      pending = still;
    }
    if (pending.size > 0) {
      notes.push(`batch ${batch}: ${pending.size} of ${size} did not succeed in time`);
      // Their services may still be locked by a rollout that is ending: wait it out.
      await waitIdle(s, batchLimitMs);
    }
    done += size;
    succeeded += size - pending.size;
    if (performance.now() - lastSample >= options.sampleEveryMs) {
      await sample();
      lastSample = performance.now();
      log(
        `  ${done} rollouts, bot RSS ${samples.at(-1)!.botRssMb} MB, Redis ${samples.at(-1)!.redisUsedMb} MB`,
      );
    }
  }
  if (samples.at(-1)!.rollouts !== done) await sample();
  const slope = (pick: (x: SoakSample) => number) => slopePer1000(samples, pick);
  const first = samples[0]!;
  const last = samples.at(-1)!;
  return {
    generatedAt: new Date().toISOString(),
    rollouts: done,
    clusters: options.clusters,
    concurrency: options.concurrency,
    succeeded,
    seconds: round((performance.now() - began) / 1000),
    samples,
    botRss: {
      firstMb: first.botRssMb,
      lastMb: last.botRssMb,
      mbPer1000Rollouts: slope((x) => x.botRssMb),
    },
    redisUsed: {
      firstMb: first.redisUsedMb,
      lastMb: last.redisUsedMb,
      mbPer1000Rollouts: slope((x) => x.redisUsedMb),
    },
    redisKeys: {
      first: first.redisKeys,
      last: last.redisKeys,
      per1000Rollouts: slope((x) => x.redisKeys),
    },
    notes,
  };
}

/** Least-squares slope of `pick` against rollouts done, per 1,000, past the first tenth. */
export function slopePer1000(samples: SoakSample[], pick: (x: SoakSample) => number): number {
  const total = samples.at(-1)?.rollouts ?? 0;
  const used = samples.filter((x) => x.rollouts >= total / 10);
  if (used.length < 2) return Number.NaN;
  const mx = used.reduce((a, x) => a + x.rollouts, 0) / used.length;
  const my = used.reduce((a, x) => a + pick(x), 0) / used.length;
  let num = 0;
  let den = 0;
  for (const x of used) {
    num += (x.rollouts - mx) * (pick(x) - my);
    den += (x.rollouts - mx) ** 2;
  }
  return den === 0 ? Number.NaN : round((num / den) * 1000, 3);
}

async function succeededWith(
  s: ScaleStack,
  service: string,
  version: string,
  clusters: number,
): Promise<boolean> {
  const stable = await s.redis.hgetall(`${STORE_PREFIX}stable:${service}`);
  const versions = Object.values(stable).map(
    (json) => (JSON.parse(json) as { version: string }).version,
  );
  return versions.length === clusters && versions.every((v) => v === version);
}

async function waitIdle(s: ScaleStack, limitMs: number): Promise<void> {
  const until = performance.now() + limitMs;
  while (performance.now() < until && (await s.countStatuses(ACTIVE_STATUSES)) > 0)
    await sleep(500);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
