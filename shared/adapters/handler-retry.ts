import { z } from 'zod';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BrokerRecord, RecordHandler } from '../ports/topic-broker.js';

/**
 * How a topic broker retries a record whose handler rejected: the same record again, never the
 * next one, after a delay that doubles from `initialMs` up to `maxMs`. Both broker adapters use
 * it so they back off alike.
 */
export const HandlerRetryOptions = z.object({
  /** Delay before the second attempt. Default 200 ms. */
  initialMs: z.number().int().positive().default(200),
  /** Longest delay between two attempts. Default 30 s. */
  maxMs: z.number().int().positive().default(30_000),
});
export type HandlerRetryOptions = z.infer<typeof HandlerRetryOptions>;

/** The delay after failed attempt number `attempt` (1-based). Deterministic: no jitter. */
export function retryDelayMs(attempt: number, options: HandlerRetryOptions): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(options.initialMs * 2 ** exponent, options.maxMs);
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * One handler call. Once `stopping` aborts, the handler gets `drainTimeoutMs` more to settle;
 * after that the call counts as abandoned (its record stays uncommitted and is read again by
 * whoever consumes the partition next). A handler that throws synchronously counts as rejected.
 */
export async function runHandler(
  handler: RecordHandler,
  record: BrokerRecord,
  stopping: AbortSignal,
  drainTimeoutMs: number,
): Promise<'done' | 'abandoned' | { error: string }> {
  const settled = Promise.resolve(record)
    .then(handler)
    .then(
      () => 'done' as const,
      (err: unknown) => ({ error: describeError(err) }),
    );
  let timer: NodeJS.Timeout | undefined;
  let giveUp: (() => void) | undefined;
  const drained = new Promise<'abandoned'>((resolve) => {
    giveUp = () => {
      timer = setTimeout(() => resolve('abandoned'), drainTimeoutMs);
    };
    if (stopping.aborted) giveUp();
    else stopping.addEventListener('abort', giveUp, { once: true });
  });
  try {
    return await Promise.race([settled, drained]);
  } finally {
    clearTimeout(timer);
    if (giveUp) stopping.removeEventListener('abort', giveUp);
  }
}

export interface HandleUntilDoneOptions {
  handler: RecordHandler;
  /** Aborts when the subscription stops: no further attempt starts (see `runHandler`). */
  stopping: AbortSignal;
  /** How long a running attempt may go on after `stopping` aborts before it is abandoned. */
  drainTimeoutMs: number;
  /** The backoff between attempts. */
  retry: HandlerRetryOptions;
  /** Where each failed attempt is reported. */
  logger: Logger;
  /** Checked before each attempt: false lets go of the record (another consumer owns it now). */
  stillOwner?: () => boolean;
  /** Waits before the next attempt (default: `delayMs`, or until stopping). */
  waitBeforeRetry?: (delayMs: number) => Promise<void>;
}

/**
 * The handler on `record` until it resolves (true), backing off between failed attempts; false
 * once the subscription stops, the call is abandoned, or the record is no longer ours.
 */
export async function handleUntilDone(
  record: BrokerRecord,
  options: HandleUntilDoneOptions,
): Promise<boolean> {
  const { stopping } = options;
  for (let attempt = 1; ; attempt++) {
    if (stopping.aborted || options.stillOwner?.() === false) return false;
    const outcome = await runHandler(options.handler, record, stopping, options.drainTimeoutMs);
    if (outcome === 'done') return true;
    if (outcome === 'abandoned') return false;
    const delayMs = retryDelayMs(attempt, options.retry);
    options.logger.warn(
      {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        attempt,
        delayMs,
        err: outcome.error,
      },
      'record handler failed; retrying the same record',
    );
    await (options.waitBeforeRetry ?? ((ms) => pause(ms, stopping)))(delayMs);
  }
}
