import type { GateJob, GateJobHandler, GateScheduler } from '../../shared/ports/gate-scheduler.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { retryDelayMs } from '../../shared/adapters/handler-retry.js';

export interface MemoryGateSchedulerOptions {
  /**
   * Runs of a job whose handler keeps rejecting, the first included. Default: no limit (as
   * `BullGateScheduler`: a tick that gave up would leave its rollout with no next tick).
   */
  attempts?: number;
  /** Wait before the first retry; doubled for each later one. Default 1000 ms. */
  backoffMs?: number;
  /** The longest wait between two runs of a failing job. Default 30 s. */
  maxBackoffMs?: number;
  /**
   * How long a (rolloutId, stageIndex, tick) stays claimed after the job is due, as
   * `BullGateScheduler`'s `retentionMs`. Default 1 hour.
   */
  retentionMs?: number;
  logger?: Logger;
}

/** setTimeout fires at once for delays above this; longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry {
  job: GateJob;
  /** Runs so far (0 until the first). */
  runs: number;
  timer?: NodeJS.Timeout;
  /** Its time came before `start`: runs as soon as a handler is given. */
  due: boolean;
  /** When it was first due (wall clock, as the timers are). */
  dueAt: number;
}

/**
 * Gate jobs on timers, for local mode and fast tests: the semantics of `BullGateScheduler`
 * without durability (a process exit loses scheduled jobs). Claimed (rolloutId, stageIndex,
 * tick) triples are kept until `retentionMs` after their job was due, then dropped.
 */
export class MemoryGateScheduler implements GateScheduler {
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #log: Logger;
  readonly #retentionMs: number;
  /** Claimed triples and when each claim ends (wall clock, as the timers are). */
  readonly #claimed = new Map<string, number>();
  #prunedAt = Number.NEGATIVE_INFINITY;
  /** Jobs not running now: delayed, due, or waiting to be retried. */
  readonly #waiting = new Map<string, Entry>();
  readonly #running = new Set<Promise<void>>();
  #handler?: GateJobHandler;
  #closed = false;

  constructor(options: MemoryGateSchedulerOptions = {}) {
    this.#attempts = options.attempts ?? Infinity;
    this.#backoffMs = options.backoffMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#retentionMs = options.retentionMs ?? 3_600_000;
    if (this.#attempts !== Infinity && (!Number.isInteger(this.#attempts) || this.#attempts < 1)) {
      throw new RangeError(
        `MemoryGateScheduler: attempts must be an integer >= 1, got ${this.#attempts}`,
      );
    }
    if (!(this.#backoffMs >= 0)) {
      throw new RangeError(`MemoryGateScheduler: backoffMs must be >= 0, got ${this.#backoffMs}`);
    }
    if (!(this.#maxBackoffMs >= this.#backoffMs)) {
      throw new RangeError(
        `MemoryGateScheduler: maxBackoffMs must be >= backoffMs, got ${this.#maxBackoffMs}`,
      );
    }
    this.#log = options.logger ?? silentLogger;
  }

  async schedule(job: GateJob, delayMs: number): Promise<boolean> {
    if (this.#closed) throw new Error('MemoryGateScheduler: schedule() after close()');
    const key = keyOf(job);
    const now = Date.now();
    this.#prune(now);
    if ((this.#claimed.get(key) ?? 0) > now) return false;
    const dueAt = now + Math.max(0, delayMs);
    this.#claimed.set(key, dueAt + this.#retentionMs);
    const entry: Entry = {
      job: { ...job },
      runs: 0,
      due: false,
      dueAt,
    };
    this.#waiting.set(key, entry);
    this.#arm(key, entry, delayMs);
    return true;
  }

  async cancel(rolloutId: string): Promise<number> {
    let removed = 0;
    for (const [key, entry] of this.#waiting) {
      if (entry.job.rolloutId !== rolloutId) continue;
      clearTimeout(entry.timer);
      this.#waiting.delete(key);
      removed++;
    }
    return removed;
  }

  async start(handler: GateJobHandler): Promise<void> {
    if (this.#closed) throw new Error('MemoryGateScheduler: start() after close()');
    if (this.#handler) throw new Error('MemoryGateScheduler: already started');
    this.#handler = handler;
    for (const [key, entry] of this.#waiting) if (entry.due) this.#run(key, entry);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#waiting.values()) clearTimeout(entry.timer);
    this.#waiting.clear();
    await Promise.allSettled([...this.#running]);
  }

  #arm(key: string, entry: Entry, delayMs: number): void {
    const wait = Math.max(0, delayMs);
    entry.timer = setTimeout(
      () => {
        if (wait > MAX_TIMER_MS) return this.#arm(key, entry, wait - MAX_TIMER_MS);
        entry.timer = undefined;
        entry.due = true;
        if (this.#handler) this.#run(key, entry);
      },
      Math.min(wait, MAX_TIMER_MS),
    );
  }

  #run(key: string, entry: Entry): void {
    const handler = this.#handler!;
    this.#waiting.delete(key);
    entry.due = false;
    entry.runs++;
    const run = (async () => {
      try {
        await handler({ ...entry.job }, { dueAt: entry.dueAt });
      } catch (err) {
        if (this.#closed) return;
        if (entry.runs >= this.#attempts) {
          this.#log.error({ err, job: entry.job, runs: entry.runs }, 'gate job failed; giving up');
          return;
        }
        this.#log.warn({ err, job: entry.job, runs: entry.runs }, 'gate job failed; retrying');
        this.#waiting.set(key, entry);
        this.#arm(
          key,
          entry,
          retryDelayMs(entry.runs, { initialMs: this.#backoffMs, maxMs: this.#maxBackoffMs }),
        );
      }
    })();
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
  }

  /** Drops claims that ended, at most once a minute, so local mode holds only recent ticks. */
  #prune(now: number): void {
    if (now - this.#prunedAt < 60_000) return;
    this.#prunedAt = now;
    for (const [key, until] of this.#claimed) if (until <= now) this.#claimed.delete(key);
  }
}

function keyOf(job: GateJob): string {
  return JSON.stringify([job.rolloutId, job.stageIndex, job.tick]);
}
