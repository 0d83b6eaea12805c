import type { Command } from '../contracts/commands.js';
import type { RolloutEvent } from '../contracts/events.js';
import type { Subscription } from './topic-broker.js';

/**
 * Delivery is at least once: a handler may see the same message (same `id`) twice after a
 * crash or rebalance, and must be idempotent. A message that fails validation never reaches a
 * handler: it goes to the dead-letter topic with the reason and its origin.
 */
export type MessageHandler<M> = (message: M) => Promise<void>;

export interface CommandBus {
  /** Publishes to the command topic of `command.cluster`, keyed by rollout id. */
  publish(command: Command): Promise<void>;
  /** Consumes one cluster's commands in that cluster's agent group. */
  subscribe(cluster: string, handler: MessageHandler<Command>): Promise<Subscription>;
}

export interface EventBus {
  /** Publishes to `rollout.events`, keyed by rollout id (heartbeats: by cluster). */
  publish(event: RolloutEvent): Promise<void>;
  /** Consumes every cluster's events in `group` (the bot's group by default). */
  subscribe(handler: MessageHandler<RolloutEvent>, group?: string): Promise<Subscription>;
}
