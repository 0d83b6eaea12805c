import { RolloutEvent } from '../contracts/events.js';
import { BOT_EVENTS_GROUP, EVENTS_TOPIC } from '../contracts/topics.js';
import type { EventBus, MessageHandler } from '../ports/buses.js';
import type { Subscription, TopicBroker } from '../ports/topic-broker.js';
import {
  busSettings,
  publishValidated,
  subscribeValidated,
  type BusOptions,
  type BusSettings,
} from './validated-topic.js';

/**
 * Agent events over a topic broker: every cluster on `rollout.events`, keyed by rollout id so a
 * rollout's events stay in order; heartbeats (no rollout) are keyed by cluster.
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
    return publishValidated(this.broker, 'event', RolloutEvent, event, (valid) => ({
      topic: EVENTS_TOPIC,
      key: valid.rolloutId ?? valid.cluster,
    }));
  }

  subscribe(
    handler: MessageHandler<RolloutEvent>,
    group: string = BOT_EVENTS_GROUP,
  ): Promise<Subscription> {
    return subscribeValidated(
      this.broker,
      this.settings,
      { topics: [EVENTS_TOPIC], group },
      RolloutEvent,
      handler,
    );
  }
}
