import { randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { SCHEMA_VERSION } from '../shared/contracts/envelope.js';
import type { RolloutEvent, RolloutEventType } from '../shared/contracts/events.js';

export type EventOf<T extends RolloutEventType> = Extract<RolloutEvent, { type: T }>;

/**
 * Fills in the envelope of every event an agent publishes: a fresh UUID `id`, `v`, the cluster,
 * `at` from the clock and `actor: agent:<cluster>`.
 *
 * `seq`: an answer to a command carries that command's seq. Samples and heartbeats answer no
 * command; they carry the agent's own counter (`nextOwnSeq`), which starts at the clock's time in
 * ms so it keeps increasing across restarts, and is unrelated to any rollout's command seqs.
 */
export class EventFactory {
  private ownSeq = -1;

  constructor(
    private readonly cluster: string,
    private readonly clock: Clock,
    private readonly newId: () => string = randomUUID,
  ) {}

  get actor(): string {
    return `agent:${this.cluster}`;
  }

  event<T extends RolloutEventType>(
    type: T,
    header: { rolloutId: string | null; seq: number },
    payload: EventOf<T>['payload'],
  ): EventOf<T> {
    return {
      id: this.newId(),
      type,
      v: SCHEMA_VERSION,
      rolloutId: header.rolloutId,
      cluster: this.cluster,
      seq: header.seq,
      at: new Date(this.clock.now()).toISOString(),
      actor: this.actor,
      payload,
    } as EventOf<T>;
  }

  /** The clock's time as an ISO string, as envelopes carry it. */
  now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  /** Monotonic per agent instance, and (clock permitting) across restarts. */
  nextOwnSeq(): number {
    this.ownSeq = Math.max(this.ownSeq + 1, Math.floor(this.clock.now()));
    return this.ownSeq;
  }
}
