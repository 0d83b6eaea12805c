import type { Clock } from '../shared/clock.js';
import { SCHEMA_VERSION } from '../shared/contracts/envelope.js';
import type { Command } from '../shared/contracts/commands.js';
import type { Logger } from '../shared/log.js';
import type { CommandBus } from '../shared/ports/buses.js';
import type { GateScheduler } from '../shared/ports/gate-scheduler.js';
import type { Notifier, TransitionCause } from '../shared/ports/notifier.js';
import type { OnceClaims } from '../shared/ports/once-claims.js';
import type { PendingEffect, RolloutStore } from '../shared/ports/rollout-store.js';
import type { ServiceLocks } from '../shared/ports/service-locks.js';

export interface EffectRunnerDeps {
  store: RolloutStore;
  commands: CommandBus;
  scheduler: GateScheduler;
  notifier: Notifier;
  locks: ServiceLocks;
  /** Keeps two bot replicas from carrying out the same effect at once (a doubled alert). */
  claims: OnceClaims;
  clock: Clock;
  logger: Logger;
}

const BATCH = 100;
/** A replica that claimed an effect and died: another may take it over after this long. */
const CLAIM_TTL_MS = 15_000;

/**
 * Carries out stored effects, oldest first, and marks each done. Anything left pending by a
 * crash is picked up by the next `drain()` (at start and on every commit), so effects are run
 * at least once: each is safe to repeat (a command keeps its id and seq, a gate job is scheduled
 * at most once, a card update shows the latest state).
 */
export class EffectRunner {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly deps: EffectRunnerDeps) {}

  /** Runs every pending effect. Concurrent calls coalesce into one more pass. */
  drain(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      for (;;) {
        const pending = await this.deps.store.pendingEffects(BATCH);
        if (pending.length === 0) break;
        let progressed = false;
        // A rollout whose effect failed keeps its later effects waiting, so order holds per rollout.
        const blocked = new Set<string>();
        for (const item of pending) {
          if (blocked.has(item.rolloutId)) continue;
          if (!(await this.deps.claims.claim(`effect:${item.id}`, CLAIM_TTL_MS))) {
            // Another replica is on it; keep this rollout's later effects behind it.
            blocked.add(item.rolloutId);
            continue;
          }
          try {
            await this.execute(item);
            await this.deps.store.markEffectDone(item.id);
            progressed = true;
          } catch (err) {
            blocked.add(item.rolloutId);
            this.deps.logger.warn(
              { err, rolloutId: item.rolloutId, effect: item.effect.type },
              'effect failed; it stays in the outbox and is retried',
            );
          }
        }
        if (!progressed) return;
      }
    } while (this.again);
  }

  private async execute({ id, rolloutId, version, effect }: PendingEffect): Promise<void> {
    switch (effect.type) {
      case 'publish_command': {
        const command = {
          id,
          v: SCHEMA_VERSION,
          type: effect.command.type,
          rolloutId,
          cluster: effect.cluster,
          seq: effect.seq,
          at: new Date(this.deps.clock.now()).toISOString(),
          actor: 'system:bot',
          payload: effect.command.payload,
        } as Command;
        await this.deps.commands.publish(command);
        return;
      }
      case 'schedule_gate':
        await this.deps.scheduler.schedule(
          { rolloutId, stageIndex: effect.stageIndex, tick: effect.tick },
          effect.delayMs,
        );
        return;
      case 'cancel_gates':
        await this.deps.scheduler.cancel(rolloutId);
        return;
      case 'update_card': {
        const state = await this.deps.store.get(rolloutId);
        if (state)
          await this.deps.notifier.rolloutChanged(state, await this.causeOf(rolloutId, version));
        return;
      }
      case 'notify': {
        const state = await this.deps.store.get(rolloutId);
        if (state) await this.deps.notifier.alert(state, effect.kind, effect.message);
        return;
      }
      case 'release_lock':
        await this.deps.locks.release(effect.service, rolloutId);
        return;
      default: {
        const never: never = effect;
        throw new Error(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  private async causeOf(rolloutId: string, version: number): Promise<TransitionCause> {
    const history = await this.deps.store.history(rolloutId);
    const entry = history.findLast((h) => h.version === version && h.input !== 'denied');
    if (!entry || entry.input === 'denied') return { actor: 'system:bot', input: 'create' };
    return {
      actor: entry.actor,
      input: entry.input,
      version: entry.version,
      status: entry.status,
      ...(entry.detail ? { detail: entry.detail } : {}),
    };
  }
}
