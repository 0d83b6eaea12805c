import type { Logger } from '../shared/log.js';
import type { EventBus } from '../shared/ports/buses.js';
import { describeError } from '../shared/errors.js';
import type { EventFactory } from './event-factory.js';
import type { RolloutTable } from './rollout-table.js';

/**
 * `agent_heartbeat`: this agent is alive and which rollouts it has in progress. Keyed by cluster
 * (no rollout). A failed publish is logged; the next beat replaces it.
 */
export class Heartbeat {
  constructor(
    private readonly options: {
      agentId: string;
      events: EventBus;
      envelopes: EventFactory;
      table: RolloutTable;
      logger: Logger;
    },
  ) {}

  async beat(): Promise<void> {
    const { agentId, events, envelopes, table, logger } = this.options;
    const event = envelopes.event(
      'agent_heartbeat',
      { rolloutId: null, seq: envelopes.nextOwnSeq() },
      { agentId, activeRollouts: table.active().map((r) => r.rolloutId) },
    );
    try {
      await events.publish(event);
    } catch (err) {
      logger.warn({ err: describeError(err) }, 'cannot publish heartbeat');
    }
  }
}
