import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { GateJob, GateJobHandler, GateScheduler } from '../../shared/ports/gate-scheduler.js';
import { retryDelayMs } from '../../shared/adapters/handler-retry.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { RedisScript } from './redis-script.js';

export interface BullGateSchedulerOptions {
  /** Redis URL, e.g. `redis://redis:6379`. The scheduler opens and closes its own connections. */
  url: string;
  /** BullMQ queue name. Default `gate-evaluations`. */
  queueName?: string;
  /** BullMQ key prefix (we never use an ioredis `keyPrefix`). Default `bull`. */
  prefix?: string;
  /**
   * Runs of a job whose handler keeps rejecting, the first included. Default: no limit (in
   * practice `Number.MAX_SAFE_INTEGER`). The handler rejects only when Redis or the store is
   * briefly unavailable or another replica wrote first, and a gate tick that gave up would leave
   * its rollout baking with nothing to schedule the next tick: so it is retried until it runs.
   * Set a small number only in tests.
   */
  attempts?: number;
  /** Backoff: wait before the first retry, doubled for each later one. Default 1000 ms. */
  backoffMs?: number;
  /** The longest wait between two runs of a failing job. Default 30 s. */
  maxBackoffMs?: number;
  /** Jobs run at once by this process's worker (`GATE_CONCURRENCY`). Default 4. */
  concurrency?: number;
  /**
   * How long a (rolloutId, stageIndex, tick) stays claimed after the job is due: "at most once"
   * holds from `schedule` until this long after the due time. The claim only has to outlive the
   * outbox replaying the same `schedule` effect and concurrent calls; once the tick ran, its
   * rollout has moved to a later tick and the gate runner treats the old one as a no-op. Default
   * 1 hour.
   */
  retentionMs?: number;
  /**
   * Finished jobs kept for inspection, queue-wide (BullMQ's `KeepJobs`; a job is kept while it is
   * younger than `age` seconds and among the newest `count`). The at-most-once contract does not
   * rest on them (the claim does). Defaults: completed ones removed at once (count 0: a gate tick
   * that ran left its result in the rollout), failed 7 days / 1,000 (worth a look).
   */
  keepCompleted?: { age: number; count: number };
  keepFailed?: { age: number; count: number };
  /**
   * BullMQ's event stream of the queue (added, completed, …) is capped at about this many entries.
   * Nothing here reads it; BullMQ's default, 10,000, is megabytes of Redis. Default 100.
   */
  maxEvents?: number;
  /**
   * How long a worker's lock on a running job lasts without renewal; a worker that died mid-job
   * is detected after about this long and the job runs again. Default 30 s (BullMQ's).
   */
  lockDurationMs?: number;
  /**
   * How often this worker looks for jobs whose lock expired (a worker that died mid-job) and
   * puts them back to run again. It runs once at start and then every interval, so a stalled job
   * runs again at most about `lockDurationMs` plus this long after its worker died. Default 30 s
   * (BullMQ's); tests shorten both.
   */
  stalledIntervalMs?: number;
  logger?: Logger;
}

const JOB_NAME = 'gate';
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** Our backoff type: exponential from `backoffMs`, capped at `maxBackoffMs` (see `start`). */
const BACKOFF_TYPE = 'capped-exponential';

/**
 * The BullMQ job id of a gate evaluation: deterministic, never an integer, and never containing
 * `:` (BullMQ rejects both). `encodeURIComponent` escapes `:` and is reversible, and the stage
 * index and tick are the last two `-`-separated fields, so distinct jobs get distinct ids.
 */
export function gateJobId(job: GateJob): string {
  return `gate-${encodeURIComponent(job.rolloutId)}-${job.stageIndex}-${job.tick}`;
}

/**
 * Gate evaluations as delayed BullMQ jobs.
 *
 * At most once per (rolloutId, stageIndex, tick), even after the job finished: `schedule`
 * (1) returns false if the triple is claimed, else tracks it, (2) adds the job under its
 * deterministic id (BullMQ ignores an id it already holds), then (3) claims the triple; only the
 * caller that claims it gets true. The claim, not the job record, carries the contract: completed
 * jobs are removed at once (`keepCompleted`), failed ones kept a while (`keepFailed`), and the
 * claim lasts until `retentionMs` after the job is due. A call that crashed between the steps can
 * be repeated (the outbox replays it) without running the job twice. Claims and tracking of a
 * rollout's ticks are one hash per rollout (see `PENDING`).
 *
 * `cancel` finds a rollout's jobs through that hash (no queue scan) and removes those still
 * delayed or waiting; claims stay, so a cancelled tick is never reused.
 *
 * Handlers must be idempotent: a rejecting handler is retried with capped exponential backoff
 * (without limit by default), and a job whose worker died mid-run (stalled) runs again once its
 * lock expires.
 */
export class BullGateScheduler implements GateScheduler {
  readonly #options: Required<Omit<BullGateSchedulerOptions, 'logger'>>;
  readonly #log: Logger;
  /** Queue commands and our own claim keys; fails fast (default retries) when Redis is down. */
  readonly #redis: Redis;
  readonly #queue: Queue;
  #worker?: Worker;
  #workerRedis?: Redis;
  #closing?: Promise<void>;

  constructor(options: BullGateSchedulerOptions) {
    this.#options = {
      queueName: 'gate-evaluations',
      prefix: 'bull',
      attempts: Number.MAX_SAFE_INTEGER,
      backoffMs: 1000,
      maxBackoffMs: 30_000,
      concurrency: 4,
      retentionMs: HOUR_MS,
      keepCompleted: { age: HOUR_MS / 1000, count: 0 },
      keepFailed: { age: (7 * DAY_MS) / 1000, count: 1_000 },
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      maxEvents: 100,
      ...definedOnly(options),
      url: options.url,
    };
    validate(this.#options);
    this.#log = options.logger ?? silentLogger;
    this.#redis = new Redis(this.#options.url);
    this.#redis.on('error', (err) =>
      this.#log.warn({ err }, 'gate scheduler: redis connection error'),
    );
    this.#queue = new Queue(this.#options.queueName, {
      connection: this.#redis,
      prefix: this.#options.prefix,
      streams: { events: { maxLen: this.#options.maxEvents } },
    });
    this.#queue.on('error', (err) => this.#log.warn({ err }, 'gate scheduler: queue error'));
  }

  async schedule(job: GateJob, delayMs: number): Promise<boolean> {
    const id = gateJobId(job);
    const ticks = this.#ticksKey(job.rolloutId);
    const field = tickField(job);
    // Claimed until `retentionMs` after the job is due; the rollout's hash lives as long as its
    // longest-lived claim.
    const ttlMs = String(Math.max(0, delayMs) + this.#options.retentionMs);
    if ((await CHECK_AND_TRACK.run(this.#redis, [ticks], [field, ttlMs])) === 0) return false;
    await this.#queue.add(
      JOB_NAME,
      { rolloutId: job.rolloutId, stageIndex: job.stageIndex, tick: job.tick } satisfies GateJob,
      {
        jobId: id,
        delay: Math.max(0, delayMs),
        attempts: this.#options.attempts,
        backoff: { type: BACKOFF_TYPE, delay: this.#options.backoffMs },
        removeOnComplete: this.#options.keepCompleted,
        removeOnFail: this.#options.keepFailed,
      },
    );
    return (await CLAIM.run(this.#redis, [ticks], [field, ttlMs])) === 1;
  }

  async cancel(rolloutId: string): Promise<number> {
    const ticks = this.#ticksKey(rolloutId);
    const tracked = Object.entries(await this.#redis.hgetall(ticks)).filter(([, v]) => v !== DONE);
    let removed = 0;
    for (const [field, mark] of tracked) {
      const id = gateJobId({ rolloutId, ...parseTickField(field) });
      const job = await this.#queue.getJob(id);
      if (!job) {
        // Claimed, so it was added: it completed and was removed. Untracked, so later cancels
        // skip it. Pending: not added yet (a schedule call in progress, or one that crashed before
        // adding): kept tracked, so a later cancel still finds the job if it appears.
        if (mark === CLAIMED) await UNTRACK.run(this.#redis, [ticks], [field]);
        continue;
      }
      const state = await job.getState();
      if (state === 'active') continue;
      if (state === 'delayed' || state === 'waiting' || state === 'prioritized') {
        // 0 when a worker locked it in the meantime: it has started, so it is not ours to remove.
        if ((await this.#queue.remove(id)) !== 1) continue;
        removed++;
      }
      await UNTRACK.run(this.#redis, [ticks], [field]);
    }
    return removed;
  }

  async start(handler: GateJobHandler): Promise<void> {
    if (this.#closing) throw new Error('BullGateScheduler: start() after close()');
    if (this.#worker) throw new Error('BullGateScheduler: already started');
    // BullMQ requires maxRetriesPerRequest: null on a worker's connection (it blocks on Redis).
    this.#workerRedis = new Redis(this.#options.url, { maxRetriesPerRequest: null });
    this.#workerRedis.on('error', (err) =>
      this.#log.warn({ err }, 'gate scheduler: worker redis connection error'),
    );
    this.#worker = new Worker<GateJob>(
      this.#options.queueName,
      async (job: Job<GateJob>) => {
        const { rolloutId, stageIndex, tick } = job.data;
        // Added to the queue at `timestamp` with `delay`: due then, however late a worker took it.
        await handler(
          { rolloutId, stageIndex, tick },
          { dueAt: job.timestamp + (job.opts.delay ?? 0) },
        );
      },
      {
        connection: this.#workerRedis,
        prefix: this.#options.prefix,
        concurrency: this.#options.concurrency,
        lockDuration: this.#options.lockDurationMs,
        stalledInterval: this.#options.stalledIntervalMs,
        // BullMQ fails a job on its second stall by default, and a failed gate job is never
        // scheduled again: allow more (a stall is a bot dying mid-job), with the sweep's lost-tick
        // check behind it.
        maxStalledCount: 5,
        settings: {
          backoffStrategy: (attemptsMade: number) =>
            retryDelayMs(attemptsMade, {
              initialMs: this.#options.backoffMs,
              maxMs: this.#options.maxBackoffMs,
            }),
        },
      },
    );
    this.#worker.on('failed', (job, err) => {
      const willRetry = job !== undefined && job.attemptsMade < (job.opts.attempts ?? 1);
      this.#log[willRetry ? 'warn' : 'error'](
        { err, job: job?.data, attemptsMade: job?.attemptsMade },
        willRetry ? 'gate job failed; retrying' : 'gate job failed; giving up',
      );
    });
    this.#worker.on('error', (err) => this.#log.warn({ err }, 'gate scheduler: worker error'));
    await this.#worker.waitUntilReady();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // The worker first: it waits for running handlers, then releases its blocking connection.
      await this.#worker?.close();
      await this.#queue.close();
      await Promise.allSettled([quit(this.#workerRedis), quit(this.#redis)]);
    })();
    return this.#closing;
  }

  #ticksKey(rolloutId: string): string {
    return `${this.#options.prefix}:gate-ticks:${this.#options.queueName}:${encodeURIComponent(rolloutId)}`;
  }
}

/**
 * A rollout's ticks are fields of one hash, `<prefix>:gate-ticks:<queue>:<rollout>`, field
 * `<stageIndex>-<tick>`: PENDING while `schedule` is between tracking and claiming (cancel finds
 * its job if it appears), CLAIMED once claimed and the job may still be cancelled, DONE once
 * claimed and its job removed or finished (cancel skips it). The hash never shortens its expiry: an
 * earlier job may be due later. One small key per rollout instead of a key per tick and a set.
 */
const PENDING = 'p';
const CLAIMED = 'c';
const DONE = 'd';

function tickField(job: Pick<GateJob, 'stageIndex' | 'tick'>): string {
  return `${job.stageIndex}-${job.tick}`;
}

function parseTickField(field: string): Pick<GateJob, 'stageIndex' | 'tick'> {
  const [stageIndex, tick] = field.split('-').map(Number);
  return { stageIndex: stageIndex!, tick: tick! };
}

/** KEYS: ticks hash. ARGV: field, ttl ms. 0 when the tick is claimed already; else tracks it, 1. */
const CHECK_AND_TRACK = new RedisScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v == '${CLAIMED}' or v == '${DONE}' then return 0 end
if not v then redis.call('HSET', KEYS[1], ARGV[1], '${PENDING}') end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`);

/** KEYS: ticks hash. ARGV: field, ttl ms. 1 for the one caller that claims the tick, else 0. */
const CLAIM = new RedisScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v == '${CLAIMED}' or v == '${DONE}' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], '${CLAIMED}')
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`);

/**
 * KEYS: ticks hash. ARGV: field. Its job is gone: a claimed tick stays claimed but untracked; a
 * pending one is forgotten (the schedule call in progress still claims it, as it would have).
 */
const UNTRACK = new RedisScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v == '${CLAIMED}' then redis.call('HSET', KEYS[1], ARGV[1], '${DONE}')
elseif v == '${PENDING}' then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`);

async function quit(redis: Redis | undefined): Promise<void> {
  if (!redis || redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

function validate(o: Required<Omit<BullGateSchedulerOptions, 'logger'>>): void {
  const problems: string[] = [];
  if (!/^rediss?:\/\//.test(o.url))
    problems.push(`url must be redis:// or rediss://, got ${o.url}`);
  for (const [name, value] of [
    ['queueName', o.queueName],
    ['prefix', o.prefix],
  ] as const) {
    if (value === '' || value.includes(':'))
      problems.push(`${name} must be non-empty without ':', got '${value}'`);
  }
  if (!Number.isInteger(o.attempts) || o.attempts < 1)
    problems.push(`attempts must be an integer >= 1, got ${o.attempts}`);
  if (!Number.isInteger(o.maxEvents) || o.maxEvents < 1)
    problems.push(`maxEvents must be an integer >= 1, got ${o.maxEvents}`);
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) {
    problems.push(`concurrency must be an integer >= 1, got ${o.concurrency}`);
  }
  if (o.maxBackoffMs < o.backoffMs)
    problems.push(`maxBackoffMs must be >= backoffMs, got ${o.maxBackoffMs} < ${o.backoffMs}`);
  for (const [name, value] of [
    ['backoffMs', o.backoffMs],
    ['maxBackoffMs', o.maxBackoffMs],
    ['retentionMs', o.retentionMs],
    ['lockDurationMs', o.lockDurationMs],
    ['stalledIntervalMs', o.stalledIntervalMs],
  ] as const) {
    if (!(value > 0)) problems.push(`${name} must be > 0, got ${value}`);
  }
  for (const [name, keep] of [
    ['keepCompleted', o.keepCompleted],
    ['keepFailed', o.keepFailed],
  ] as const) {
    if (!(keep.age > 0) || !Number.isInteger(keep.count) || keep.count < 0)
      problems.push(`${name} needs age > 0 and an integer count >= 0, got ${JSON.stringify(keep)}`);
  }
  if (problems.length > 0) throw new RangeError(`BullGateScheduler: ${problems.join('; ')}`);
}

/** Drops keys whose value is `undefined`, so they do not override defaults when spread. */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
