/**
 * Ack latency of the Slack surface through its HTTP endpoint, beside its floor, in one run:
 *
 * - floor: a signed slash command to a Bolt app (same receiver, same signature check, same
 *   client) whose handler only acks;
 * - start: `/rollout start <service> <version>` to the product in local mode, each a real start
 *   of a service not yet rolling out (so the work after the ack is the real work);
 * - button: a click on a card's Pause or Resume (alternating, so each click really acts).
 *
 * Latency is measured by the client: from sending the signed request to reading the HTTP
 * response (the ack). Requests are sent one at a time, a floor request before each product one,
 * and the next waits until the previous one's work is done (its reply, the commands, the card),
 * so the figures are the ack path, not queueing behind other work.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { App, HTTPReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import { CARD_ACTIONS } from '../bot/slack/card.js';
import { EVENTS_PATH } from '../bot/slack/surface.js';
import { SlackApiDouble } from '../test/support/slack-api-double.js';
import {
  BOT_TOKEN,
  SIGNING_SECRET,
  startSlackProduct,
  type SlackProduct,
} from '../test/support/slack-product.js';
import { SlackRequests, type HttpSend } from '../test/support/slack-requests.js';
import { waitFor } from '../test/support/wait-for.js';

export interface LatencyFigures {
  p50Ms: number;
  p99Ms: number;
  samples: number;
}

export interface SlackAckBench {
  floor: LatencyFigures;
  start: LatencyFigures;
  button: LatencyFigures;
  /** Each figure divided by the floor's. */
  ratios: { start: { p50: number; p99: number }; button: { p50: number; p99: number } };
  settings: { iterations: number; warmUp: number };
}

export interface SlackAckOptions {
  /** Measured requests of each kind. Default 100. */
  iterations?: number;
  /** Unmeasured requests of each kind first. Default 10. */
  warmUp?: number;
}

const WHO = { user: 'U0BENCH', channel: 'C0BENCH0' };

/**
 * Sends from a worker thread and times there: the bot runs in this thread, and the work it does
 * right after an ack would otherwise delay our reading of the ack, which Slack (in another
 * process, far away) would not see.
 */
function threadSender(): { send: HttpSend; close(): Promise<number> } {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const { performance } = require('node:perf_hooks');
     parentPort.on('message', async ({ id, url, headers, body }) => {
       try {
         const started = performance.now();
         const response = await fetch(url, { method: 'POST', headers, body });
         const text = await response.text();
         parentPort.postMessage({ id, status: response.status, body: text, elapsedMs: performance.now() - started });
       } catch (err) {
         parentPort.postMessage({ id, error: String(err) });
       }
     });`,
    { eval: true },
  );
  const waiting = new Map<number, (answer: SentAnswer) => void>();
  worker.on('message', (answer: SentAnswer) => {
    waiting.get(answer.id)?.(answer);
    waiting.delete(answer.id);
  });
  let next = 0;
  return {
    send: async (url, request) => {
      const id = ++next;
      const answer = await new Promise<SentAnswer>((resolve) => {
        waiting.set(id, resolve);
        worker.postMessage({ id, url, ...request });
      });
      if (answer.error !== undefined) throw new Error(`bench: ${answer.error}`);
      return { status: answer.status!, body: answer.body!, elapsedMs: answer.elapsedMs! };
    },
    close: () => worker.terminate(),
  };
}

interface SentAnswer {
  id: number;
  status?: number;
  body?: string;
  elapsedMs?: number;
  error?: string;
}

export async function measureSlackAck(options: SlackAckOptions = {}): Promise<SlackAckBench> {
  const iterations = options.iterations ?? 100;
  const warmUp = options.warmUp ?? 10;
  const sender = threadSender();
  const floor = await startFloor(sender.send);
  const product = await startSlackProduct({
    policyYaml: benchPolicy(warmUp + iterations + 1),
    samplingIntervalMs: 5_000,
    logLevel: 'warn',
    send: sender.send,
    // Card updates coalesce over 1 s in production; waiting that long after every request would
    // make the run take minutes without changing the ack path.
    tuning: { cardUpdateIntervalMs: 20 },
  });
  try {
    // Floor and product requests alternate, so both are measured under the same conditions.
    const floorTimes: number[] = [];
    const measure = async (i: number, request: () => Promise<number>, into: number[]) => {
      const floorMs = await timed(() => floor.slack.command('list', WHO));
      const ms = await request();
      if (i >= warmUp) {
        floorTimes.push(floorMs);
        into.push(ms);
      }
    };

    const startTimes: number[] = [];
    for (let i = 0; i < warmUp + iterations; i++) {
      await measure(
        i,
        async () => {
          let sent: Awaited<ReturnType<typeof product.slack.command>> | undefined;
          const ms = await timed(
            // Each service's start comes from its own channel, as the policy requires.
            async () =>
              (sent = await product.slack.command(`start svc-${i} 2.0.0 bench`, {
                ...WHO,
                channel: `C0BENCH${i}`,
              })),
          );
          // The work after the ack: its answer, then everything it set off.
          const answer = await product.slack.reply(sent!);
          const id = /Started `([a-z0-9-]+)`/.exec(answer)?.[1];
          if (!id) throw new Error(`bench: start refused: ${answer}`);
          await waitFor(
            async () => (await product.local.bot.service.get(id))?.status === 'baking',
            { what: `${id} to bake`, timeoutMs: 10_000, intervalMs: 1 },
          );
          await settle(product);
          return ms;
        },
        startTimes,
      );
    }

    const target = (await product.local.bot.service.list()).find((s) => s.plan.service === 'svc-0');
    if (!target) throw new Error('bench: no rollout to click on');
    await waitFor(
      async () => (await product.local.bot.service.get(target.id))?.status === 'baking',
      { what: 'the clicked rollout to bake', timeoutMs: 30_000 },
    );
    // A click counts only from the rollout's own card (its channel and message).
    const card = await waitFor(() => product.api.channelMessages(WHO.channel)[0], {
      what: 'the card of the clicked rollout',
      timeoutMs: 30_000,
    });
    const onCard = { ...WHO, messageTs: card.ts };
    const clickTimes: number[] = [];
    for (let i = 0; i < warmUp + iterations; i++) {
      const pause = i % 2 === 0;
      await measure(
        i,
        async () => {
          const action = pause ? CARD_ACTIONS.pause : CARD_ACTIONS.resume;
          const ms = await timed(() => product.slack.click(action, target.id, onCard));
          await waitFor(
            async () =>
              ((await product.local.bot.service.get(target.id))?.status === 'paused') === pause,
            {
              what: `the rollout to be ${pause ? 'paused' : 'resumed'}`,
              timeoutMs: 10_000,
              intervalMs: 1,
            },
          );
          await settle(product);
          return ms;
        },
        clickTimes,
      );
    }

    const floorFigures = figures(floorTimes);
    const start = figures(startTimes);
    const button = figures(clickTimes);
    const ratio = (a: number, b: number) => round(a / b, 2);
    return {
      floor: floorFigures,
      start,
      button,
      ratios: {
        start: {
          p50: ratio(start.p50Ms, floorFigures.p50Ms),
          p99: ratio(start.p99Ms, floorFigures.p99Ms),
        },
        button: {
          p50: ratio(button.p50Ms, floorFigures.p50Ms),
          p99: ratio(button.p99Ms, floorFigures.p99Ms),
        },
      },
      settings: { iterations, warmUp },
    };
  } finally {
    await product.stop();
    await floor.stop();
    await sender.close();
  }
}

/** A Bolt app whose `/rollout` only acks, behind the same receiver and signature check. */
async function startFloor(
  send: HttpSend,
): Promise<{ slack: SlackRequests; stop(): Promise<void> }> {
  const api = await SlackApiDouble.start({ token: BOT_TOKEN });
  const receiver = new HTTPReceiver({ signingSecret: SIGNING_SECRET, endpoints: EVENTS_PATH });
  const app = new App({
    receiver,
    authorize: async () => ({ botToken: BOT_TOKEN }),
    convoStore: false,
    logger: silentBoltLogger,
  });
  app.command('/rollout', async ({ ack }) => {
    await ack();
  });
  const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
  return {
    slack: new SlackRequests({
      eventsUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}${EVENTS_PATH}`,
      signingSecret: SIGNING_SECRET,
      api,
      send,
    }),
    async stop() {
      await app.stop();
      await api.close();
    },
  };
}

/** Lets the work a request caused finish (effects, agents, Slack posts) before the next one. */
async function settle(product: SlackProduct): Promise<void> {
  await product.local.bot.effects.drain();
  await product.surface.idle();
  await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Many services (one rollout each), long bakes: the system stays quiet while we measure. */
function benchPolicy(services: number): string {
  const entries = Array.from(
    { length: services },
    (_, i) => `  svc-${i}:
    channel: C0BENCH${i}
    clusters: [eu-west, us-east]
    stableVersion: 1.0.0`,
  ).join('\n');
  return `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [5, 100]
  bake: 1h
  gate:
    interval: 1h
    minRequests: 1
    checks: []
services:
${entries}
simulation:
  seed: 7
`;
}

/** The sender's own measure of the round trip; refuses anything but 200. */
async function timed(run: () => Promise<{ status: number; elapsedMs: number }>): Promise<number> {
  const result = await run();
  if (result.status !== 200) throw new Error(`bench: the endpoint answered ${result.status}`);
  return result.elapsedMs;
}

function figures(times: number[]): LatencyFigures {
  return {
    p50Ms: round(percentile(times, 50), 3),
    p99Ms: round(percentile(times, 99), 3),
    samples: times.length,
  };
}

/** Nearest-rank percentile (0 < p ≤ 100); NaN when there are no values. */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

const silentBoltLogger: BoltLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  setLevel: () => undefined,
  getLevel: () => LogLevel.ERROR,
  setName: () => undefined,
};
