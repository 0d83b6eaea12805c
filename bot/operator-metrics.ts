import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RolloutStore } from '../shared/ports/rollout-store.js';
import { ACTIVE_STATUSES } from '../shared/rollout/state.js';

/** How far `/metrics` pages through the outbox: a deeper one reads as this many (and is alarming). */
const OUTBOX_COUNT_CAP = 10_000;
const OUTBOX_PAGE = 500;

const LAG_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * What an operator alerts on, beside the Slack surface's own metrics: rollouts by state, the
 * outbox's depth, how late gate ticks run, how old events are when the bot ingests them, and dead
 * letters. Its own registry (the surface's `/metrics` includes it), so `shared/` stays free of
 * metrics: buses and schedulers report through callbacks the wiring connects to these.
 */
export class OperatorMetrics {
  readonly registry = new Registry();
  private store: RolloutStore | undefined;

  /** Scheduled time to run time of each gate tick: a scheduler that is down or backed up shows here. */
  readonly gateLag = new Histogram({
    name: 'rollout_gate_lag_seconds',
    help: 'How long after it was due each gate evaluation started (retries included).',
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });

  /**
   * How old agent events are when the bot ingests them (its clock minus the event's `at`): the
   * events consumer's lag in time, cheap to measure per message. Clock skew between the agent's
   * and the bot's machines adds to it.
   */
  readonly eventAge = new Histogram({
    name: 'rollout_event_ingest_lag_seconds',
    help: 'Age of each agent event (by its own timestamp) when the bot ingested it.',
    labelNames: ['type'] as const,
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });

  readonly deadLetters = new Counter({
    name: 'rollout_dead_letters_total',
    help: 'Messages sent to rollout.dlq by this process, by the topic they came from and why (invalid, refused, unprocessable, failed).',
    labelNames: ['topic', 'kind'] as const,
    registers: [this.registry],
  });

  constructor() {
    // prom-client calls `collect` with the gauge as `this`: the store is read through a closure.
    const storeOf = () => this.store;
    new Gauge({
      name: 'rollout_rollouts_active',
      help: 'Rollouts not yet ended, by status.',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const store = storeOf();
        if (!store) return;
        const active = await store.list({ statuses: ACTIVE_STATUSES });
        // Every status, zeros included, so an alert on one never sees its series vanish.
        for (const status of ACTIVE_STATUSES)
          this.set({ status }, active.filter((r) => r.status === status).length);
      },
    });
    new Gauge({
      name: 'rollout_outbox_depth',
      help: `Effects stored and not yet carried out (counted up to ${OUTBOX_COUNT_CAP}).`,
      registers: [this.registry],
      async collect() {
        const store = storeOf();
        if (!store) return;
        this.set(await countPending(store));
      },
    });
  }

  /** The store the gauges read at each scrape. */
  observe(store: RolloutStore): void {
    this.store = store;
  }

  /**
   * Shows the events consumer's offset lag, read from `source` at each scrape (distributed mode:
   * two Kafka admin requests). A read that fails or takes longer than `timeoutMs` drops the series
   * for that scrape rather than showing stale numbers; alert on its absence too.
   */
  watchConsumerLag(
    source: () => Promise<{ topic: string; partition: number; lag: number }[]>,
    timeoutMs = 2_000,
  ): void {
    new Gauge({
      name: 'rollout_kafka_consumer_lag',
      help: 'Records of a topic the bot’s consumer group has not committed, by partition.',
      labelNames: ['topic', 'partition'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), timeoutMs);
        });
        const lags = await Promise.race([source().catch(() => undefined), timeout]);
        clearTimeout(timer);
        for (const { topic, partition, lag } of lags ?? [])
          this.set({ topic, partition: String(partition) }, lag);
      },
    });
  }
}

async function countPending(store: RolloutStore): Promise<number> {
  let count = 0;
  let after: number | undefined;
  while (count < OUTBOX_COUNT_CAP) {
    const page = await store.pendingEffects(OUTBOX_PAGE, after);
    count += page.length;
    if (page.length < OUTBOX_PAGE) break;
    after = page[page.length - 1]!.seq;
  }
  return Math.min(count, OUTBOX_COUNT_CAP);
}
