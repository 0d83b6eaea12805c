/**
 * Reading topics from tests (and by operators, through the same code): collect what a topic
 * holds in a group of its own, and the dead letters on `rollout.dlq`.
 */
import { DeadLetter } from '../../shared/contracts/decode.js';
import { DLQ_TOPIC } from '../../shared/contracts/topics.js';
import type { BrokerRecord, Subscription, TopicBroker } from '../../shared/ports/topic-broker.js';
import { uniqueName, waitFor } from './wait-for.js';

export interface TopicWatch {
  /** Every record seen so far, in arrival order. */
  records: BrokerRecord[];
  stop(): Promise<void>;
}

/** Consumes `topic` from the beginning in a fresh group, keeping every record. */
export async function watchTopic(broker: TopicBroker, topic: string): Promise<TopicWatch> {
  const records: BrokerRecord[] = [];
  const subscription: Subscription = await broker.subscribe(
    { topics: [topic], group: uniqueName('watch') },
    async (record) => {
      records.push(record);
    },
  );
  return { records, stop: () => subscription.stop() };
}

/** The dead letters a DLQ watch has seen, parsed; `where` picks the ones a test cares about. */
export function deadLetters(
  watch: TopicWatch,
  where: (letter: DeadLetter) => boolean = () => true,
): DeadLetter[] {
  return watch.records
    .map((r) => DeadLetter.parse(JSON.parse(r.value?.toString('utf8') ?? 'null')))
    .filter(where);
}

/** Reads `rollout.dlq` until `count` letters matching `where` are there, and returns them. */
export async function readDeadLetters(
  broker: TopicBroker,
  options: { count: number; where?: (letter: DeadLetter) => boolean; timeoutMs?: number },
): Promise<DeadLetter[]> {
  const watch = await watchTopic(broker, DLQ_TOPIC);
  try {
    return await waitFor(
      () => {
        const letters = deadLetters(watch, options.where);
        return letters.length >= options.count && letters;
      },
      { what: `${options.count} dead letters`, timeoutMs: options.timeoutMs },
    );
  } finally {
    await watch.stop();
  }
}
