/**
 * Builders for message envelopes: `aCommand().forRollout('r-1').setWeight(1, 25).build()`.
 * Every build is validated against the contract, so a builder mistake fails loudly; each build
 * gets a fresh `id` unless one is given.
 */
import { randomUUID } from 'node:crypto';
import { Command, type CommandBody } from '../../shared/contracts/commands.js';
import { SCHEMA_VERSION } from '../../shared/contracts/envelope.js';
import { RolloutEvent, type BatchedHealthSample } from '../../shared/contracts/events.js';

const AT = '2025-06-02T09:30:00.000Z';

type EventBody = {
  [E in RolloutEvent as E['type']]: { type: E['type']; payload: E['payload'] };
}[RolloutEvent['type']];

abstract class EnvelopeBuilder<Self> {
  protected id: string | undefined;
  protected rolloutId: string | null = 'rollout-1';
  protected cluster = 'eu-west-1';
  protected seq = 1;
  protected actor: string;

  constructor(actor: string) {
    this.actor = actor;
  }

  withId(id: string): Self {
    this.id = id;
    return this as unknown as Self;
  }
  forRollout(rolloutId: string | null): Self {
    this.rolloutId = rolloutId;
    return this as unknown as Self;
  }
  onCluster(cluster: string): Self {
    this.cluster = cluster;
    return this as unknown as Self;
  }
  withSeq(seq: number): Self {
    this.seq = seq;
    return this as unknown as Self;
  }
  by(actor: string): Self {
    this.actor = actor;
    return this as unknown as Self;
  }

  protected header() {
    return {
      id: this.id ?? randomUUID(),
      v: SCHEMA_VERSION,
      rolloutId: this.rolloutId,
      cluster: this.cluster,
      seq: this.seq,
      at: AT,
      actor: this.actor,
    };
  }
}

class CommandBuilder extends EnvelopeBuilder<CommandBuilder> {
  private service = 'checkout';
  private fence = 1;
  private body: (service: string) => CommandBody = (service) => ({
    type: 'set_weight',
    payload: { service, stageIndex: 0, weight: 5 },
  });

  constructor() {
    super('user:U0TESTER');
  }

  forService(service: string): this {
    this.service = service;
    return this;
  }
  /** The rollout's fencing number (`commandFields.fence`); 1 unless given. */
  withFence(fence: number): this {
    this.fence = fence;
    return this;
  }
  setWeight(stageIndex: number, weight: number): this {
    this.body = (service) => ({ type: 'set_weight', payload: { service, stageIndex, weight } });
    return this;
  }
  promote(): this {
    this.body = (service) => ({ type: 'promote', payload: { service } });
    return this;
  }
  rollback(reason = 'gate breached: error rate 7% > 2%'): this {
    this.body = (service) => ({ type: 'rollback', payload: { service, reason } });
    return this;
  }
  pause(): this {
    this.body = (service) => ({ type: 'pause', payload: { service } });
    return this;
  }
  resume(): this {
    this.body = (service) => ({ type: 'resume', payload: { service } });
    return this;
  }

  build(): Command {
    return Command.parse({ ...this.header(), fence: this.fence, ...this.body(this.service) });
  }
}

class EventBuilder extends EnvelopeBuilder<EventBuilder> {
  private body: () => EventBody = () => ({
    type: 'stage_applied',
    payload: { stageIndex: 0, weight: 5 },
  });

  constructor() {
    super('agent:eu-west-1');
  }

  stageApplied(stageIndex: number, weight: number): this {
    this.body = () => ({ type: 'stage_applied', payload: { stageIndex, weight } });
    return this;
  }
  promoted(version = '2.4.1'): this {
    this.body = () => ({ type: 'promoted', payload: { version } });
    return this;
  }
  /** A heartbeat is about a cluster, not a rollout: it has no rollout id. */
  heartbeat(agentId = 'agent-0', activeRollouts: string[] = []): this {
    this.rolloutId = null;
    this.body = () => ({ type: 'agent_heartbeat', payload: { agentId, activeRollouts } });
    return this;
  }

  /** A batch about a cluster: one healthy sample per rollout id, at stage `stageIndex`. */
  healthSamples(rolloutIds: string[], stageIndex = 0): this {
    this.rolloutId = null;
    this.body = () => ({
      type: 'health_samples',
      payload: { samples: rolloutIds.map((rolloutId) => aBatchedSample(rolloutId, stageIndex)) },
    });
    return this;
  }

  build(): RolloutEvent {
    return RolloutEvent.parse({ ...this.header(), ...this.body() });
  }
}

export function aCommand(): CommandBuilder {
  return new CommandBuilder();
}

/** One healthy sample of a `health_samples` batch. */
export function aBatchedSample(rolloutId: string, stageIndex = 0, errors = 1): BatchedHealthSample {
  const ok = (e: number) => ({
    status: 'ok' as const,
    requests: 1000,
    errors: e,
    latencyMs: { p50: 20, p95: 80, p99: 120 },
  });
  return { rolloutId, at: AT, stageIndex, windowMs: 10_000, canary: ok(errors), stable: ok(0) };
}

export function anEvent(): EventBuilder {
  return new EventBuilder();
}
