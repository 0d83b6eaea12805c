import { Command } from '../contracts/commands.js';
import { agentGroup, commandTopic } from '../contracts/topics.js';
import type { CommandBus, MessageHandler } from '../ports/buses.js';
import type { Subscription, TopicBroker } from '../ports/topic-broker.js';
import type { CommandSigner, CommandVerifier } from './command-signing.js';
import {
  busSettings,
  publishValidated,
  subscribeValidated,
  type BusOptions,
  type BusSettings,
} from './validated-topic.js';

export interface CommandBusOptions extends BusOptions {
  /** Signs every command published (the bot). Without it commands go out unsigned. */
  signer?: CommandSigner;
  /**
   * Checks every command consumed (an agent): one that is unsigned or does not verify is
   * dead-lettered with the reason and never reaches the handler. Without it nothing is checked.
   */
  verifier?: CommandVerifier;
}

/**
 * Commands over a topic broker: one topic per cluster, keyed by rollout id so a rollout's
 * commands stay in order. A command addressed to another cluster than the topic it arrived on,
 * or (with a verifier) one whose signature is missing or wrong, is dead-lettered rather than
 * applied. The cluster is part of what is signed, so a command copied to another cluster's topic
 * is refused either way.
 */
export class TopicCommandBus implements CommandBus {
  private readonly settings: BusSettings;
  private readonly signer: CommandSigner | undefined;
  private readonly verifier: CommandVerifier | undefined;

  constructor(
    private readonly broker: TopicBroker,
    options: CommandBusOptions = {},
  ) {
    this.settings = busSettings(options, 'topic-command-bus');
    this.signer = options.signer;
    this.verifier = options.verifier;
  }

  publish(command: Command): Promise<void> {
    const parsed = Command.safeParse(command);
    // An invalid command is refused by publishValidated below, with the reason.
    const message = parsed.success && this.signer ? this.signer.sign(parsed.data) : command;
    return publishValidated(this.broker, 'command', Command, message, (valid) => ({
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
        command.cluster !== cluster
          ? `command for cluster ${JSON.stringify(command.cluster)} arrived on ${topic}`
          : this.verifier?.refusal(command),
    );
  }
}
