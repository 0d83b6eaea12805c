import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { decodeMessage, DeadLetter } from '../contracts/decode.js';
import { DLQ_TOPIC } from '../contracts/topics.js';
import { describeError, RolloutError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { UnprocessableMessageError, type MessageHandler } from '../ports/buses.js';
import type { BrokerRecord, Subscription, TopicBroker } from '../ports/topic-broker.js';

/**
 * What both buses share: validate before producing, validate after consuming, and send whatever
 * cannot be handled to `rollout.dlq` so one bad record never stalls its partition.
 */

export interface BusOptions {
  logger?: Logger;
  clock?: Clock;
  /**
   * Opt-in: tries a handler gets on one valid message before the message is dead-lettered with
   * the last error. Default: no limit. A handler rejects only when something it depends on is
   * down (it cannot publish its answer, Redis is unreachable), and dead-lettering a valid
   * `rollback` or `rolled_back` would strand a rollout, so by default the message is retried
   * until the handler succeeds; between tries the broker backs off, capped, and keeps the
   * consumer's group membership alive (see `HandlerRetryOptions`). A handler marks a message it
   * can never process by rejecting with `UnprocessableMessageError`: that one is dead-lettered at
   * once whatever this says.
   */
  maxAttempts?: number;
  /** Told of every message this bus dead-letters (for a metric), after it reached the DLQ. */
  onDeadLetter?: (letter: { topic: string; kind: DeadLetterKind }) => void;
}

/** Why a message was dead-lettered: it did not decode, a check refused it, or its handler could not handle it. */
export type DeadLetterKind = 'invalid' | 'refused' | 'unprocessable' | 'failed';

export interface BusSettings {
  logger: Logger;
  clock: Clock;
  /** `Infinity` unless the bus was given `maxAttempts`. */
  maxAttempts: number;
  onDeadLetter?: BusOptions['onDeadLetter'];
}

export function busSettings(options: BusOptions, component: string): BusSettings {
  const maxAttempts = options.maxAttempts ?? Infinity;
  if (maxAttempts !== Infinity && (!Number.isInteger(maxAttempts) || maxAttempts < 1)) {
    throw new RolloutError(
      'invalid_config',
      `${component}: maxAttempts must be a positive integer, got ${maxAttempts}`,
    );
  }
  return {
    logger: (options.logger ?? silentLogger).child({ component }),
    clock: options.clock ?? systemClock,
    maxAttempts,
    ...(options.onDeadLetter && { onDeadLetter: options.onDeadLetter }),
  };
}

/** A message that does not match its contract was about to be published. Nothing was sent. */
export class InvalidMessageError extends RolloutError {
  constructor(
    readonly kind: 'command' | 'event',
    detail: string,
  ) {
    super('invalid_message', `refusing to publish an invalid ${kind}: ${detail}`);
  }
}

/** Validates `message` against `schema` and produces its JSON to `topic` under `key`. */
export async function publishValidated<S extends z.ZodType>(
  broker: TopicBroker,
  kind: 'command' | 'event',
  schema: S,
  message: unknown,
  route: (valid: z.infer<S>) => { topic: string; key: string },
): Promise<void> {
  const parsed = schema.safeParse(message);
  if (!parsed.success) throw new InvalidMessageError(kind, z.prettifyError(parsed.error));
  const { topic, key } = route(parsed.data);
  await broker.produce(topic, key, JSON.stringify(parsed.data));
}

/**
 * Consumes `topics` in `group`, hands each valid message to `handler` and dead-letters the rest:
 * undecodable records at once (with `decodeMessage`'s reason), records `refuse` objects to (its
 * reason), valid messages whose handler rejected with `UnprocessableMessageError` (its reason),
 * and, only when `maxAttempts` was set, valid messages whose handler rejected that many times.
 * Any other rejection is rethrown, so the broker retries the same record after a backoff. A dead
 * letter is produced before the record is committed, so a crash in between repeats it rather
 * than loses it.
 */
export function subscribeValidated<S extends z.ZodDiscriminatedUnion>(
  broker: TopicBroker,
  settings: BusSettings,
  subscription: { topics: string[]; group: string },
  schema: S,
  handler: MessageHandler<z.infer<S>>,
  refuse: (message: z.infer<S>) => string | undefined = () => undefined,
): Promise<Subscription> {
  const { logger, clock, maxAttempts } = settings;
  /** Failed tries per record still being retried; bounded so abandoned records cannot pile up. */
  const attempts = new Map<string, number>();

  const deadLetter = async (
    record: BrokerRecord,
    reason: string,
    kind: DeadLetterKind,
  ): Promise<void> => {
    const letter: DeadLetter = {
      reason,
      origin: {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        key: record.key,
      },
      value: record.value === null ? null : record.value.toString('utf8'),
      at: new Date(clock.now()).toISOString(),
    };
    logger.warn({ origin: letter.origin, reason }, 'dead-lettering a message');
    await broker.produce(DLQ_TOPIC, record.key, JSON.stringify(DeadLetter.parse(letter)));
    settings.onDeadLetter?.({ topic: record.topic, kind });
  };

  return broker.subscribe(subscription, async (record) => {
    const decoded = decodeMessage(schema, record.value);
    if (!decoded.ok) return deadLetter(record, decoded.reason, 'invalid');
    const refusal = refuse(decoded.message);
    if (refusal !== undefined) return deadLetter(record, refusal, 'refused');

    const id = `${record.topic}/${record.partition}/${record.offset}`;
    try {
      await handler(decoded.message);
      attempts.delete(id);
    } catch (err) {
      if (err instanceof UnprocessableMessageError) {
        attempts.delete(id);
        return deadLetter(record, `unprocessable: ${err.message}`, 'unprocessable');
      }
      if (maxAttempts === Infinity) throw err; // the broker retries the same record, for as long as it takes
      const failed = (attempts.get(id) ?? 0) + 1;
      attempts.delete(id);
      if (failed >= maxAttempts) {
        return deadLetter(
          record,
          `handler failed after ${failed} attempts: ${describeError(err)}`,
          'failed',
        );
      }
      attempts.set(id, failed);
      if (attempts.size > 1_000) attempts.delete(attempts.keys().next().value as string);
      throw err; // the broker retries the same record after a backoff
    }
  });
}
