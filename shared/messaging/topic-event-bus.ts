import { z } from 'zod';
import { RolloutEvent } from '../contracts/events.js';
import { BOT_EVENTS_GROUP, EVENTS_TOPIC, HEALTH_TOPIC, healthGroup } from '../contracts/topics.js';
import { UnprocessableMessageError, type EventBus, type MessageHandler } from '../ports/buses.js';
import type { Subscription, TopicBroker } from '../ports/topic-broker.js';
import { HealthSamplesWire, salvageSamples } from './health-batches.js';
import {
  busSettings,
  publishValidated,
  subscribeValidated,
  type BusOptions,
  type BusSettings,
} from './validated-topic.js';

const HealthTopicMessage = z.discriminatedUnion('type', [HealthSamplesWire]);

/**
 * Agent events over a topic broker. Every cluster's events go on `rollout.events`, keyed by
 * rollout id so a rollout's events stay in order; heartbeats (no rollout) are keyed by cluster.
 * Health sample batches go on `rollout.health`, keyed by cluster, read by a group of their own
 * (`healthGroup`), so however far samples fall behind, state changes and heartbeats do not wait.
 *
 * A batch whose envelope is invalid is dead-lettered whole. A batch with some invalid samples
 * is handled with its valid ones, then dead-lettered (reason: which samples, and why) so an
 * operator sees the bad ones; a batch with none valid is dead-lettered without being handled.
 */
export class TopicEventBus implements EventBus {
  private readonly settings: BusSettings;

  constructor(
    private readonly broker: TopicBroker,
    options: BusOptions = {},
  ) {
    this.settings = busSettings(options, 'topic-event-bus');
  }

  publish(event: RolloutEvent): Promise<void> {
    return publishValidated(this.broker, 'event', RolloutEvent, event, (valid) =>
      valid.type === 'health_samples'
        ? { topic: HEALTH_TOPIC, key: valid.cluster }
        : { topic: EVENTS_TOPIC, key: valid.rolloutId ?? valid.cluster },
    );
  }

  async subscribe(
    handler: MessageHandler<RolloutEvent>,
    group: string = BOT_EVENTS_GROUP,
  ): Promise<Subscription> {
    const events = await subscribeValidated(
      this.broker,
      this.settings,
      { topics: [EVENTS_TOPIC], group },
      RolloutEvent,
      handler,
    );
    let health: Subscription;
    try {
      health = await subscribeValidated(
        this.broker,
        this.settings,
        { topics: [HEALTH_TOPIC], group: healthGroup(group) },
        HealthTopicMessage,
        async (wire) => {
          const { event, refused } = salvageSamples(wire);
          if (event !== undefined) await handler(event);
          if (refused.length > 0) {
            const handled = wire.payload.samples.length - refused.length;
            throw new UnprocessableMessageError(
              `${refused.length} of ${wire.payload.samples.length} samples invalid (${handled} handled): ${refused.join('; ')}`,
            );
          }
        },
      );
    } catch (err) {
      await events.stop();
      throw err;
    }
    return { stop: async () => void (await Promise.all([events.stop(), health.stop()])) };
  }
}
