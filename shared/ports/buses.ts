import type { Command } from '../contracts/commands.js';
import type { RolloutEvent } from '../contracts/events.js';
import { RolloutError } from '../errors.js';
import type { Subscription } from './topic-broker.js';

/**
 * Delivery is at least once: a handler may see the same message (same `id`) twice after a
 * crash or rebalance, and must be idempotent. A message that fails validation never reaches a
 * handler: it goes to the dead-letter topic with the reason and its origin.
 *
 * A handler that rejects is called again with the same message (capped backoff; later messages
 * of its partition wait), for as long as it takes: a rejection means "not now" (Kafka or Redis
 * is down), and dropping a valid `rollback` or `rolled_back` would strand a rollout. A handler
 * that knows a message can never be processed rejects with `UnprocessableMessageError`: that
 * message is dead-lettered with the error's reason at once, and the consumer moves on.
 */
export type MessageHandler<M> = (message: M) => Promise<void>;

/**
 * Thrown by a handler on purpose for a valid message it can never process (not for a failure
 * that may pass): the message goes to the dead-letter topic with `message` as the reason.
 */
export class UnprocessableMessageError extends RolloutError {
  constructor(reason: string) {
    super('unprocessable_message', reason);
  }
}

export interface CommandBus {
  /** Publishes to the command topic of `command.cluster`, keyed by rollout id. */
  publish(command: Command): Promise<void>;
  /** Consumes one cluster's commands in that cluster's agent group. */
  subscribe(cluster: string, handler: MessageHandler<Command>): Promise<Subscription>;
}

export interface EventBus {
  /**
   * Publishes to `rollout.events`, keyed by rollout id (heartbeats: by cluster); a
   * `health_samples` batch goes to `rollout.health`, keyed by cluster.
   */
  publish(event: RolloutEvent): Promise<void>;
  /**
   * Consumes every cluster's events in `group` (the bot's group by default) and their sample
   * batches in `healthGroup(group)`: two streams, each in order per key, not with each other.
   */
  subscribe(handler: MessageHandler<RolloutEvent>, group?: string): Promise<Subscription>;
}
