import {
  Kafka,
  logLevel,
  Partitioners,
  type Consumer,
  type EachMessagePayload,
  type KafkaConfig,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { z } from 'zod';
import { RolloutError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type {
  BrokerRecord,
  RecordHandler,
  Subscription,
  TopicBroker,
} from '../ports/topic-broker.js';
import {
  handleUntilDone,
  HandlerRetryOptions,
  pause,
  retryDelayMs,
  runHandler,
} from './handler-retry.js';
import { pinoLogCreator } from './kafkajs-log.js';
import { OffsetCommitter, type PartitionOffset } from './offset-committer.js';
import { PartitionProgress } from './partition-progress.js';

/**
 * Options of the Kafka topic broker, field by field. Timings are in milliseconds; the defaults
 * suit a production cluster, tests against the mock broker shorten them.
 */
export const KafkaTopicBrokerOptions = z
  .object({
    clientId: z.string().min(1),
    /** Bootstrap servers, `host:port`. */
    brokers: z.array(z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port')).min(1),
    connectionTimeoutMs: z.number().int().positive().default(3_000),
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /** kafkajs's own retries (sends, metadata, joins): `retries` tries from `initialRetryTimeMs`. */
    retry: z
      .object({
        initialRetryTimeMs: z.number().int().positive().default(300),
        maxRetryTimeMs: z.number().int().positive().default(30_000),
        retries: z.number().int().nonnegative().default(5),
      })
      .default({ initialRetryTimeMs: 300, maxRetryTimeMs: 30_000, retries: 5 }),
    consumer: z
      .object({
        sessionTimeoutMs: z.number().int().positive().default(30_000),
        heartbeatIntervalMs: z.number().int().positive().default(3_000),
        rebalanceTimeoutMs: z.number().int().positive().default(60_000),
        /** Longest a fetch waits on the broker for new records. */
        maxWaitTimeMs: z.number().int().positive().default(5_000),
        /**
         * Partitions handled at once by one consumer (order within a partition is kept), so a
         * slow or retrying record holds up fewer other rollouts. Default 4.
         */
        partitionsConsumedConcurrently: z.number().int().min(1).max(64).default(4),
        /**
         * Records of one partition handled at once, if their keys differ (a key's records are
         * still handled one after another, in order), all partitions together: a burst of one
         * rollout's events then no longer waits behind every other rollout's in its partition.
         * A partition's offset is committed only up to its first record not yet handled. 1 (the
         * default): one record at a time per partition, as kafkajs hands them over.
         */
        recordsInFlight: z.number().int().min(1).max(1_000).default(1),
      })
      .default({
        sessionTimeoutMs: 30_000,
        heartbeatIntervalMs: 3_000,
        rebalanceTimeoutMs: 60_000,
        maxWaitTimeMs: 5_000,
        partitionsConsumedConcurrently: 4,
        recordsInFlight: 1,
      })
      .refine((c) => c.heartbeatIntervalMs < c.sessionTimeoutMs, {
        message: 'heartbeatIntervalMs must be shorter than sessionTimeoutMs',
      }),
    /** Backoff between tries of a rejecting handler (the same record, never skipped). */
    handlerRetry: HandlerRetryOptions.default({ initialMs: 200, maxMs: 30_000 }),
    /** How long `stop()`/`close()` wait for a running handler before leaving its record uncommitted. */
    drainTimeoutMs: z.number().int().nonnegative().default(10_000),
    /** Tries of an offset commit before giving up (the record may then be redelivered). */
    commitAttempts: z.number().int().min(1).default(5),
    /**
     * TLS to the brokers (every managed Kafka requires it). `ca`: PEM certificates to trust
     * instead of the system's (a private CA); the broker's name is always checked.
     */
    tls: z
      .object({ ca: z.array(z.string().min(1)).min(1).optional() })
      .strict()
      .optional(),
    /** SASL authentication; use it over `tls`, or the password crosses the network in clear. */
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1),
        password: z.string().min(1),
      })
      .strict()
      .optional(),
  })
  .strict();
export type KafkaTopicBrokerOptions = z.input<typeof KafkaTopicBrokerOptions> & { logger?: Logger };
type Settings = z.infer<typeof KafkaTopicBrokerOptions>;

/**
 * The topic broker over Kafka (kafkajs 2.2.4). Producer: acks from all in-sync replicas, one
 * request in flight per broker so retries cannot reorder, no idempotent mode (the librdkafka mock
 * rejects it; consumers dedupe by envelope id). Consumers: one kafkajs consumer per subscription,
 * manual commit of `offset + 1` after the handler resolved (gathered per partition, off the
 * handler's path: see `OffsetCommitter`), rejecting handlers retried in
 * process (an error reaching kafkajs would crash-loop the consumer on that record). Topics are
 * auto-created by the broker: no admin client.
 */
export class KafkaTopicBroker implements TopicBroker {
  private readonly settings: Settings;
  private readonly logger: Logger;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private producerReady: Promise<void> | undefined;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private closing: Promise<void> | undefined;

  constructor(options: KafkaTopicBrokerOptions) {
    const { logger, ...rest } = options;
    const parsed = KafkaTopicBrokerOptions.safeParse(rest);
    if (!parsed.success) {
      throw new RolloutError(
        'invalid_config',
        `KafkaTopicBroker options: ${z.prettifyError(parsed.error)}`,
      );
    }
    this.settings = parsed.data;
    this.logger = (logger ?? silentLogger).child({ component: 'kafka-topic-broker' });
    this.kafka = new Kafka(kafkaClientConfig(this.settings, this.logger));
    this.producer = this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
    });
  }

  /**
   * One send per record, not one send for records produced together: a send fails or hangs as a
   * whole, so a partition whose leader is away would take every other record in it down too (a
   * rollback to a healthy cluster held up behind one cluster's outage).
   */
  async produce(topic: string, key: string | null, value: Buffer | string): Promise<void> {
    this.assertOpen();
    this.producerReady ??= this.producer.connect().catch((err: unknown) => {
      this.producerReady = undefined;
      throw explainConnectionError(err, this.settings);
    });
    await this.producerReady;
    await this.producer.send({ topic, acks: -1, messages: [{ key, value }] });
  }

  async subscribe(
    options: { topics: string[]; group: string },
    handler: RecordHandler,
  ): Promise<Subscription> {
    this.assertOpen();
    if (options.topics.length === 0)
      throw new RolloutError('invalid_argument', 'no topics to subscribe to');
    const subscription = new KafkaSubscription(
      this.kafka,
      this.settings,
      [...new Set(options.topics)],
      options.group,
      handler,
      this.logger.child({ group: options.group }),
      () => this.subscriptions.delete(subscription),
    );
    this.subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (err) {
      await subscription.stop();
      throw explainConnectionError(err, this.settings);
    }
    return subscription;
  }

  /** Resolves when a broker answers a metadata request; for readiness probes. */
  async ping(): Promise<void> {
    this.assertOpen();
    const admin = this.kafka.admin();
    await admin.connect().catch((err: unknown) => {
      throw explainConnectionError(err, this.settings);
    });
    try {
      await admin.describeCluster();
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /**
   * How many records of `topic` the consumer group `group` has not committed yet, per partition
   * (the log-end offset minus the group's committed offset; a partition the group never committed
   * counts from its earliest offset). Two admin requests (ListOffsets, OffsetFetch) per call: for
   * a metrics scrape, not for a hot path. Kafka-only, so outside the `TopicBroker` port.
   */
  async consumerLag(group: string, topic: string): Promise<{ partition: number; lag: number }[]> {
    this.assertOpen();
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const at = new Map(
        (committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)] as const),
      );
      return ends
        .map(({ partition, high, low }) => {
          const done = at.get(partition);
          const from = done === undefined || done < 0 ? Number(low) : done;
          return { partition, lag: Math.max(0, Number(high) - from) };
        })
        .sort((a, b) => a.partition - b.partition);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.subscriptions].map((s) => s.stop()));
      if (this.producerReady) {
        await this.producerReady.catch(() => undefined);
        await this.producer.disconnect().catch((err: unknown) => {
          this.logger.warn({ err }, 'could not disconnect the Kafka producer cleanly');
        });
      }
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) throw new RolloutError('broker_closed', 'the Kafka topic broker is closed');
  }
}

/** The kafkajs client configuration the options make: what reaches kafkajs, exactly. */
export function kafkaClientConfig(settings: Settings, logger: Logger): KafkaConfig {
  return {
    clientId: settings.clientId,
    brokers: settings.brokers,
    connectionTimeout: settings.connectionTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    retry: {
      initialRetryTime: settings.retry.initialRetryTimeMs,
      maxRetryTime: settings.retry.maxRetryTimeMs,
      retries: settings.retry.retries,
    },
    ...(settings.tls !== undefined && {
      // Node's defaults check the certificate chain and the broker's host name.
      ssl: settings.tls.ca === undefined ? true : { ca: settings.tls.ca, rejectUnauthorized: true },
    }),
    // kafkajs types SASL per mechanism; the schema above allows exactly those three.
    ...(settings.sasl !== undefined && { sasl: { ...settings.sasl } as SASLOptions }),
    logLevel: logger.isLevelEnabled('debug') ? logLevel.DEBUG : logLevel.INFO,
    logCreator: pinoLogCreator(logger),
  };
}

/** OpenSSL's codes for a certificate Node could not verify against the trusted CAs. */
const CERTIFICATE_ERRORS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A connection failure that a person must fix in the configuration, said so: a broker
 * certificate that does not verify names `KAFKA_SSL_CA`, refused credentials name the SASL
 * variables. Anything else is returned as it was.
 */
export function explainConnectionError(
  err: unknown,
  settings: Pick<Settings, 'brokers' | 'tls'>,
): unknown {
  const chain: unknown[] = [];
  for (let e: unknown = err; e !== undefined && e !== null && chain.length < 8;) {
    chain.push(e);
    e =
      (e as { cause?: unknown; originalError?: unknown }).cause ??
      (e as { originalError?: unknown }).originalError;
  }
  const codes = chain
    .map((e) => (e as { code?: unknown }).code)
    .filter((c) => typeof c === 'string');
  const certificate = codes.find((c) => CERTIFICATE_ERRORS.has(c as string));
  const text = chain.map((e) => (e instanceof Error ? e.message : String(e))).join(': ');
  const brokers = settings.brokers.join(', ');
  if (certificate !== undefined || /certificate|self[- ]signed/i.test(text)) {
    const trusted =
      settings.tls?.ca !== undefined
        ? 'the CA in KAFKA_SSL_CA did not sign it'
        : 'no system CA signed it; set KAFKA_SSL_CA to the CA file that did';
    return new RolloutError(
      'kafka_tls',
      `TLS to Kafka (${brokers}) failed: the broker's certificate does not verify (${certificate ?? text}); ${trusted}. Check KAFKA_SSL_CA`,
    );
  }
  if (/SASL|authentication/i.test(text)) {
    return new RolloutError(
      'kafka_auth',
      `Kafka (${brokers}) refused the credentials: ${text}. Check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
    );
  }
  return err;
}

/** Errors that mean this member no longer owns its partitions: only a rejoin helps. */
const MEMBERSHIP_ERRORS = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
]);

function errorType(err: unknown): string | undefined {
  const type = (err as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : undefined;
}

/**
 * One subscription: a kafkajs consumer in `group`, replaced by a new one if it crashes for good
 * (kafkajs reports `restart: false` and would otherwise stop consuming silently).
 */
class KafkaSubscription implements Subscription {
  private consumer: Consumer | undefined;
  /** Commits of the current consumer (a replaced consumer's group membership is gone). */
  private committer: OffsetCommitter | undefined;
  /** `eachMessage` calls still running, so `stop` commits what they handled before leaving. */
  private readonly running = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private recreating: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private joined = false;
  private markJoined: () => void = () => {};
  private readonly firstJoin = new Promise<void>((resolve) => (this.markJoined = resolve));

  constructor(
    private readonly kafka: Kafka,
    private readonly settings: Settings,
    private readonly topics: string[],
    private readonly group: string,
    private readonly handler: RecordHandler,
    private readonly logger: Logger,
    private readonly onStopped: () => void,
  ) {}

  /** Resolves once a consumer of this subscription joined the group and got its partitions. */
  async start(): Promise<void> {
    await this.startConsumer();
    if (this.joined) return;
    // run() returns early when the first join failed; kafkajs (or `recreate`) tries again.
    const { rebalanceTimeoutMs, sessionTimeoutMs } = this.settings.consumer;
    await Promise.race([
      this.firstJoin,
      pause(rebalanceTimeoutMs + sessionTimeoutMs, this.stopping.signal),
    ]);
    if (!this.joined)
      this.logger.warn({ topics: this.topics }, 'consumer has not joined its group yet');
  }

  private async startConsumer(): Promise<void> {
    const { sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, maxWaitTimeMs } =
      this.settings.consumer;
    const consumer = this.kafka.consumer({
      groupId: this.group,
      sessionTimeout: sessionTimeoutMs,
      heartbeatInterval: heartbeatIntervalMs,
      rebalanceTimeout: rebalanceTimeoutMs,
      maxWaitTimeInMs: maxWaitTimeMs,
      allowAutoTopicCreation: true,
    });
    this.consumer = consumer;
    const committer = new OffsetCommitter((offsets) => this.commit(consumer, offsets));
    this.committer = committer;
    const { recordsInFlight } = this.settings.consumer;
    const pipeline =
      recordsInFlight > 1
        ? {
            progress: new PartitionProgress(recordsInFlight),
            lanes: new Map<string, Promise<void>>(),
          }
        : undefined;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.joined = true;
      this.markJoined();
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.onCrash(consumer, event.payload.error, event.payload.restart);
    });
    await consumer.connect();
    // A topic that does not exist yet is auto-created by the metadata request subscribe sends.
    await consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.settings.consumer.partitionsConsumedConcurrently,
      eachMessage: (payload) => {
        if (pipeline) return this.dispatch(committer, pipeline, payload);
        const run = this.eachMessage(consumer, committer, payload);
        this.running.add(run);
        return run.finally(() => this.running.delete(run));
      },
    });
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping.abort();
      await this.recreating;
      // Handlers finish (or are abandoned) first, then what they handled is committed while this
      // member still owns the partitions; only then does it leave the group.
      await Promise.allSettled([...this.running]);
      await this.committer?.flush();
      await this.consumer?.disconnect().catch((err: unknown) => {
        this.logger.warn({ err }, 'could not disconnect the Kafka consumer cleanly');
      });
      this.onStopped();
    })();
    return this.stopped;
  }

  private onCrash(consumer: Consumer, error: Error, restart: boolean): void {
    this.logger.error({ err: error, restart, topics: this.topics }, 'Kafka consumer crashed');
    if (restart || this.stopping.signal.aborted || consumer !== this.consumer) return;
    this.recreating ??= this.recreate(consumer).finally(() => (this.recreating = undefined));
  }

  /** Replaces a consumer that kafkajs gave up on, until one starts or the subscription stops. */
  private async recreate(crashed: Consumer): Promise<void> {
    await crashed.disconnect().catch(() => undefined);
    for (let attempt = 1; !this.stopping.signal.aborted; attempt++) {
      try {
        await this.startConsumer();
        this.logger.info({ attempt }, 'replaced the crashed Kafka consumer');
        return;
      } catch (err) {
        const delayMs = retryDelayMs(attempt, this.settings.handlerRetry);
        this.logger.error({ err, attempt, delayMs }, 'could not restart the Kafka consumer');
        await this.consumer?.disconnect().catch(() => undefined);
        await pause(delayMs, this.stopping.signal);
      }
    }
  }

  /**
   * Never throws: kafkajs would retry and then crash-loop on the record. A rejecting handler is
   * tried again here; if this member must let go of the record first (stopping, rebalance), it
   * seeks back so the record is read again rather than skipped.
   */
  private async eachMessage(
    consumer: Consumer,
    committer: OffsetCommitter,
    payload: EachMessagePayload,
  ): Promise<void> {
    const { topic, partition, message, heartbeat } = payload;
    const record: BrokerRecord = {
      topic,
      partition,
      offset: message.offset,
      key: message.key == null ? null : message.key.toString('utf8'),
      value: message.value,
    };
    for (let attempt = 1; ; attempt++) {
      if (this.stopping.signal.aborted) return this.rewind(consumer, record);
      const outcome = await runHandler(
        this.handler,
        record,
        this.stopping.signal,
        this.settings.drainTimeoutMs,
      );
      if (outcome === 'done') break;
      if (outcome === 'abandoned') return this.rewind(consumer, record);
      const delayMs = retryDelayMs(attempt, this.settings.handlerRetry);
      this.logger.warn(
        { topic, partition, offset: record.offset, attempt, delayMs, err: outcome.error },
        'record handler failed; retrying the same record',
      );
      if (!(await this.waitBeforeRetry(delayMs, heartbeat))) return this.rewind(consumer, record);
    }
    committer.mark({ topic, partition, offset: (BigInt(record.offset) + 1n).toString() });
  }

  /**
   * With `recordsInFlight` above 1: starts the record's handler behind the earlier records of its
   * key (same partition) and returns, so kafkajs hands over the next record while it runs; waits
   * only while `recordsInFlight` records are running. The commit follows `PartitionProgress`. A
   * rejecting handler is retried in its lane until it succeeds or the subscription stops (never
   * let go while this member runs: kafkajs has read past it, so letting go would skip it).
   */
  private async dispatch(
    committer: OffsetCommitter,
    pipeline: { progress: PartitionProgress; lanes: Map<string, Promise<void>> },
    payload: EachMessagePayload,
  ): Promise<void> {
    const { topic, partition, message, heartbeat } = payload;
    if (this.stopping.signal.aborted) return; // not begun: the next member reads it from the commit
    const { progress, lanes } = pipeline;
    await progress.room();
    const record: BrokerRecord = {
      topic,
      partition,
      offset: message.offset,
      key: message.key == null ? null : message.key.toString('utf8'),
      value: message.value,
    };
    const where = `${topic}\u0000${partition}`;
    const offset = BigInt(record.offset);
    progress.begin(where, offset);
    const lane = `${where}\u0000${record.key ?? ''}`;
    const run = (lanes.get(lane) ?? Promise.resolve())
      .then(() => this.handleUntilDone(record, heartbeat))
      .then((handled) => {
        const next = progress.finish(where, offset, handled);
        if (next !== undefined) committer.mark({ topic, partition, offset: next.toString() });
      });
    lanes.set(lane, run);
    this.running.add(run);
    void run.finally(() => {
      this.running.delete(run);
      if (lanes.get(lane) === run) lanes.delete(lane);
    });
  }

  /** The handler until it resolves (true), or false once the subscription stops first. */
  private handleUntilDone(record: BrokerRecord, heartbeat: () => Promise<void>): Promise<boolean> {
    return handleUntilDone(record, {
      handler: this.handler,
      stopping: this.stopping.signal,
      drainTimeoutMs: this.settings.drainTimeoutMs,
      retry: this.settings.handlerRetry,
      logger: this.logger,
      // A failed heartbeat (a rebalance) does not let go of the record: see `dispatch`.
      waitBeforeRetry: async (delayMs) => {
        if (!(await this.waitBeforeRetry(delayMs, heartbeat)))
          await pause(delayMs, this.stopping.signal);
      },
    });
  }

  /** Waits `delayMs`, heartbeating so the group keeps us. False if we should let go instead. */
  private async waitBeforeRetry(delayMs: number, heartbeat: () => Promise<void>): Promise<boolean> {
    const until = Date.now() + delayMs;
    for (;;) {
      if (this.stopping.signal.aborted) return false;
      try {
        await heartbeat();
      } catch (err) {
        this.logger.info({ err }, 'heartbeat failed while retrying a record; letting go of it');
        return false;
      }
      const left = until - Date.now();
      if (left <= 0) return true;
      await pause(Math.min(left, this.settings.consumer.heartbeatIntervalMs), this.stopping.signal);
    }
  }

  /**
   * Commits handled offsets (each the handled record's + 1). A commit that keeps failing is
   * logged: its records may come again.
   */
  private async commit(consumer: Consumer, offsets: PartitionOffset[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await consumer.commitOffsets(offsets);
        return;
      } catch (err) {
        const membershipLost = MEMBERSHIP_ERRORS.has(errorType(err) ?? '');
        if (
          membershipLost ||
          attempt >= this.settings.commitAttempts ||
          this.stopping.signal.aborted
        ) {
          this.logger.warn(
            { err, offsets, attempt },
            'could not commit handled records; they may be delivered again',
          );
          return;
        }
        await pause(retryDelayMs(attempt, this.settings.handlerRetry), this.stopping.signal);
      }
    }
  }

  /** Makes the consumer read `record` again instead of moving past it. */
  private rewind(consumer: Consumer, record: BrokerRecord): void {
    try {
      consumer.seek({ topic: record.topic, partition: record.partition, offset: record.offset });
    } catch (err) {
      // Only possible when the consumer is no longer running; its next owner reads from the commit.
      this.logger.debug({ err }, 'could not seek back to an unfinished record');
    }
  }
}
