import { Command } from '../contracts/commands.js';
import { agentGroup, commandTopic } from '../contracts/topics.js';
import type { CommandBus, MessageHandler } from '../ports/buses.js';
import type { Subscription, TopicBroker } from '../ports/topic-broker.js';
import {
  busSettings,
  publishValidated,
  subscribeValidated,
  type BusOptions,
  type BusSettings,
} from './validated-topic.js';

/**
 * Commands over a topic broker: one topic per cluster, keyed by rollout id so a rollout's
 * commands stay in order. A command addressed to another cluster than the topic it arrived on is
 * dead-lettered rather than applied.
 */
export class TopicCommandBus implements CommandBus {
  private readonly settings: BusSettings;

  constructor(
    private readonly broker: TopicBroker,
    options: BusOptions = {},
  ) {
    this.settings = busSettings(options, 'topic-command-bus');
  }

  publish(command: Command): Promise<void> {
    return publishValidated(this.broker, 'command', Command, command, (valid) => ({
      topic: commandTopic(valid.cluster),
      key: valid.rolloutId ?? valid.cluster,
    }));
  }

  subscribe(cluster: string, handler: MessageHandler<Command>): Promise<Subscription> {
    const topic = commandTopic(cluster);
    return subscribeValidated(
      this.broker,
      this.settings,
      { topics: [topic], group: agentGroup(cluster) },
      Command,
      handler,
      (command) =>
        command.cluster === cluster
          ? undefined
          : `command for cluster ${JSON.stringify(command.cluster)} arrived on ${topic}`,
    );
  }
}
