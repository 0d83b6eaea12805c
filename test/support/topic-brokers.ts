/**
 * The topic broker adapters the contract suites run against, with timings short enough for
 * tests. `client()` is a broker client of the fixture's cluster: for memory the one shared
 * instance, for Kafka a new client each call (as another process would be). `isolated()` is a
 * broker of its own that a test may close.
 */
import { KafkaTopicBroker } from '../../shared/adapters/kafka-topic-broker.js';
import { MemoryTopicBroker } from '../../shared/adapters/memory-topic-broker.js';
import { createLogger, silentLogger, type Logger } from '../../shared/log.js';
import type { TopicBroker } from '../../shared/ports/topic-broker.js';
import { startKafkaBroker, type KafkaTestBroker } from './kafka-broker.js';

export interface BrokerFixture {
  client(): TopicBroker;
  isolated(): TopicBroker;
  /** The mock cluster behind the Kafka fixture, for fault injection. */
  kafka?: KafkaTestBroker;
  close(): Promise<void>;
}

export interface BrokerKind {
  name: 'memory' | 'kafka';
  start(): Promise<BrokerFixture>;
}

/** Set TEST_LOG_LEVEL=debug to see what the brokers and kafkajs do. */
export const testLogger: Logger = process.env.TEST_LOG_LEVEL
  ? createLogger('test', process.env.TEST_LOG_LEVEL)
  : silentLogger;

export const TEST_HANDLER_RETRY = { initialMs: 10, maxMs: 100 };
/** Short, so a test can stop a subscription whose handler hangs ("crash" it) quickly. */
export const TEST_DRAIN_TIMEOUT_MS = 100;

export const memoryBroker: BrokerKind = {
  name: 'memory',
  async start() {
    const make = (): MemoryTopicBroker =>
      new MemoryTopicBroker({
        logger: testLogger,
        handlerRetry: TEST_HANDLER_RETRY,
        drainTimeoutMs: TEST_DRAIN_TIMEOUT_MS,
      });
    const shared = make();
    const isolated: TopicBroker[] = [];
    return {
      client: () => shared,
      isolated: () => {
        const broker = make();
        isolated.push(broker);
        return broker;
      },
      async close() {
        await Promise.all([shared, ...isolated].map((b) => b.close()));
      },
    };
  },
};

/** A Kafka client tuned for the mock cluster: fast joins, fast retries, short fetch waits. */
export function testKafkaClient(
  bootstrap: string[],
  clientId: string,
  consumer: { recordsInFlight?: number } = {},
): KafkaTopicBroker {
  return new KafkaTopicBroker({
    clientId,
    brokers: bootstrap,
    logger: testLogger,
    connectionTimeoutMs: 1_000,
    requestTimeoutMs: 5_000,
    retry: { initialRetryTimeMs: 100, maxRetryTimeMs: 1_000, retries: 10 },
    consumer: {
      sessionTimeoutMs: 2_500,
      heartbeatIntervalMs: 300,
      rebalanceTimeoutMs: 3_000,
      maxWaitTimeMs: 100,
      ...consumer,
    },
    handlerRetry: TEST_HANDLER_RETRY,
    drainTimeoutMs: TEST_DRAIN_TIMEOUT_MS,
  });
}

export const kafkaBroker: BrokerKind = {
  name: 'kafka',
  async start() {
    const kafka = await startKafkaBroker({ brokers: 3 });
    const clients: TopicBroker[] = [];
    const make = (): TopicBroker => {
      const client = testKafkaClient(kafka.bootstrap, `contract-${clients.length}`);
      clients.push(client);
      return client;
    };
    return {
      client: make,
      isolated: make,
      kafka,
      async close() {
        await Promise.all(clients.map((c) => c.close()));
        await kafka.stop();
      },
    };
  },
};

export const brokerKinds: BrokerKind[] = [memoryBroker, kafkaBroker];
