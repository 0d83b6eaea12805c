import type { Clock } from '../shared/clock.js';
import { SCHEMA_VERSION } from '../shared/contracts/envelope.js';
import { z } from 'zod';
import { Command } from '../shared/contracts/commands.js';
import { isRolloutError, RolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { CommandBus } from '../shared/ports/buses.js';
import type { GateScheduler } from '../shared/ports/gate-scheduler.js';
import type { Notifier, TransitionCause } from '../shared/ports/notifier.js';
import type { OnceClaims } from '../shared/ports/once-claims.js';
import type { PendingEffect, RolloutStore } from '../shared/ports/rollout-store.js';
import type { ServiceLocks } from '../shared/ports/service-locks.js';
import type { MemberReport } from '../shared/rollout/state.js';
import { CoalescingPass } from './coalescing-pass.js';

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
  /**
   * Hands a release member's report to its release (`ReleaseService.report`). Must be idempotent:
   * a replayed effect reports again. Absent: no releases run here, and reports are dropped.
   */
  reportToRelease?: (releaseId: string, rolloutId: string, report: MemberReport) => Promise<void>;
}

const BATCH = 100;
/**
 * Housekeeping effects (cards, gate jobs, locks) carried out at once; enough to keep one slow one
 * from delaying the rest. 16 left a stage change of 300 rollouts' cards and gate jobs waiting
 * (the outbox leg of a command, p50 14.7 s on the scale bench, 6.3 s with 64).
 */
const HOUSEKEEPING_AT_ONCE = 64;
/**
 * Command sends at once: a stage change's commands go out together rather than a few at a time
 * (each is its own produce request: see `KafkaTopicBroker.produce` for why they are not gathered
 * into one).
 */
const SENDS_AT_ONCE = BATCH;
/**
 * Sends to one cluster at once: a cluster whose sends hang (its partitions without a leader, for
 * kafkajs's whole retry cycle) holds at most this many of `SENDS_AT_ONCE`, and the other
 * clusters' commands, rollbacks included, keep the rest.
 */
const SENDS_PER_CLUSTER_AT_ONCE = 32;
/**
 * Effects read and not yet done in one pass. Generous, so that one cluster's hanging sends (at
 * most one in ten of a stage change's effects at 10 clusters) do not fill it and stop the reading.
 */
const EFFECTS_IN_WINDOW = 20 * BATCH;
/** A replica that claimed an effect and died: another may take it over after this long. */
const CLAIM_TTL_MS = 15_000;

/** Effects that must stay in order: a rollout's commands to one cluster; its other effects. */
function laneOf(item: PendingEffect): string {
  return item.effect.type === 'publish_command'
    ? `${item.rolloutId}/commands/${item.effect.cluster}`
    : `${item.rolloutId}/housekeeping`;
}

/**
 * An effect that can never be carried out, whatever the retries: its command does not match the
 * message contract. Marked done (so it does not hold its rollout's later effects forever) and
 * reported to people, since the rollout will not get what the command was for.
 */
class PoisonEffectError extends RolloutError {
  constructor(reason: string) {
    super('poison_effect', reason);
  }
}

/**
 * Carries out stored effects, oldest first, and marks each done. Anything left pending by a
 * crash is picked up by the next `drain()` (at start and on every commit), so effects are run
 * at least once: each is safe to repeat (a command keeps its id and seq, a gate job is scheduled
 * at most once, a card update shows the latest state).
 *
 * A `notify` effect is detached: the pass starts its alert and goes on, so a slow or failing Slack
 * never holds up commands (a rollback), not even the same rollout's later ones. The effect is
 * marked done once the alert is delivered, and left pending (its claim released) if it is not, so
 * the next drain sends it again; a crash before delivery leaves it pending for the next start.
 */
export class EffectRunner {
  private readonly passes = new CoalescingPass(() => this.pass());
  /** Notify effects whose alert is on its way, by effect id: later passes skip them. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly deps: EffectRunnerDeps) {}

  /** Runs every pending effect. Concurrent calls coalesce into one more pass. */
  drain(): Promise<void> {
    return this.passes.run();
  }

  /** Resolves once no drain is running and every detached alert has settled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.passes.running || this.inFlight.size > 0) {
      await Promise.allSettled([this.passes.running, ...this.inFlight.values()]);
    }
  }

  /**
   * One pass over the whole outbox per round, page by page in insertion order. Effects run in
   * lanes (`laneOf`): a rollout's commands to one cluster, and its other effects; lanes run
   * concurrently, each in order. An effect that failed (or is claimed by another replica) keeps
   * the later effects of its lane waiting, so order holds where it matters (an agent ignores a
   * command older than one it applied); every other lane goes ahead, the same rollout's included:
   * one cluster's failing or hanging publish, or a Redis blip on housekeeping, never holds up the
   * rollback of the other clusters.
   *
   * Pages do not wait for each other: the next page is read while the last one's effects run, up
   * to `EFFECTS_IN_WINDOW` read and not yet done. Waiting for a whole page before the next let the
   * slowest effect of each page (a Kafka send at its p99) set the pace: at 1,000 rollouts × 10
   * clusters a command waited 54 s (p50) in the outbox.
   */
  private async pass(): Promise<void> {
    const blocked = new Set<string>();
    /** Each lane's last effect read so far: the next one of the lane starts after it. */
    const tails = new Map<string, Promise<void>>();
    const sends = new Slots(SENDS_AT_ONCE);
    const sendsTo = new Map<string, Slots>();
    const slotsTo = (cluster: string): Slots => {
      let slots = sendsTo.get(cluster);
      if (!slots) sendsTo.set(cluster, (slots = new Slots(SENDS_PER_CLUSTER_AT_ONCE)));
      return slots;
    };
    const housekeeping = new Slots(HOUSEKEEPING_AT_ONCE);
    const window = new EffectWindow(EFFECTS_IN_WINDOW);
    try {
      let after: number | undefined;
      for (;;) {
        await window.roomFor(BATCH);
        const page = await this.deps.store.pendingEffects(BATCH, after);
        for (const item of page) {
          const lane = laneOf(item);
          const { effect } = item;
          const slots =
            effect.type === 'publish_command' ? [slotsTo(effect.cluster), sends] : [housekeeping];
          const run = (tails.get(lane) ?? Promise.resolve()).then(async () => {
            if (blocked.has(lane) || this.inFlight.has(item.id)) return;
            const frees: (() => void)[] = [];
            try {
              for (const s of slots) frees.push(await s.take());
              if (!(await this.runOne(item))) blocked.add(lane);
            } catch {
              blocked.add(lane); // runOne reports its own failures
            } finally {
              for (const free of frees.reverse()) free();
            }
          });
          tails.set(lane, run);
          window.add(run);
          void run.finally(() => {
            if (tails.get(lane) === run) tails.delete(lane);
          });
        }
        if (page.length < BATCH) break;
        after = page[page.length - 1]!.seq;
      }
    } finally {
      // Also when a page could not be read: the pass ends only once what it started has ended.
      await window.drained();
    }
  }

  /** Claims, runs and marks one effect. False when it did not run (claimed elsewhere, or failed). */
  private async runOne(item: PendingEffect): Promise<boolean> {
    const claim = `effect:${item.id}`;
    // Another replica is on it: keep this rollout's later effects behind it.
    if (!(await this.deps.claims.claim(claim, CLAIM_TTL_MS))) return false;
    const claimedAt = this.deps.clock.now();
    if (item.effect.type === 'notify') return this.startNotify(item, item.effect, claim, claimedAt);
    let done: boolean;
    try {
      await this.execute(item);
      await this.deps.store.markEffectDone(item.id);
      done = true;
    } catch (err) {
      if (err instanceof PoisonEffectError) {
        done = await this.dropPoison(item, err);
      } else {
        this.deps.logger.warn(
          { err, rolloutId: item.rolloutId, effect: item.effect.type },
          'effect failed; it stays in the outbox and is retried',
        );
        done = false;
      }
    }
    if (!done) await this.releaseClaim(claim, claimedAt);
    return done;
  }

  /**
   * Starts the alert of a `notify` effect without waiting for it (see the class comment). True:
   * the rollout's later effects go ahead whatever becomes of it.
   */
  private async startNotify(
    item: PendingEffect,
    effect: Extract<PendingEffect['effect'], { type: 'notify' }>,
    claim: string,
    claimedAt: number,
  ): Promise<boolean> {
    let delivery: Promise<void>;
    try {
      const state = await this.deps.store.get(item.rolloutId);
      delivery = state
        ? this.deps.notifier.alert(state, effect.kind, effect.message)
        : Promise.resolve();
    } catch (err) {
      delivery = Promise.reject(err);
    }
    const settled = delivery
      .then(
        () => this.deps.store.markEffectDone(item.id),
        (err: unknown) => {
          throw new Error('alert not delivered', { cause: err });
        },
      )
      .catch(async (err: unknown) => {
        this.deps.logger.warn(
          { err, rolloutId: item.rolloutId, effectId: item.id, kind: effect.kind },
          'alert not delivered (or not marked done); it stays in the outbox and is retried',
        );
        await this.releaseClaim(claim, claimedAt);
      })
      .finally(() => this.inFlight.delete(item.id));
    this.inFlight.set(item.id, settled);
    return true;
  }

  /**
   * A failed effect is free for the next drain on any replica rather than after the claim's 15 s.
   * Past the time-to-live the claim may be another replica's: leave it alone then.
   */
  private async releaseClaim(claim: string, claimedAt: number): Promise<void> {
    if (this.deps.clock.now() - claimedAt >= CLAIM_TTL_MS) return;
    await this.deps.claims
      .release(claim)
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'could not release an effect claim'));
  }

  /**
   * Tells people the rollout lost an effect, then marks it done so its later effects can run.
   * False (keep it, try again later) if the alert cannot be sent: the alert is what makes
   * dropping it safe.
   */
  private async dropPoison(item: PendingEffect, err: PoisonEffectError): Promise<boolean> {
    const { rolloutId, effect } = item;
    const what =
      effect.type === 'publish_command'
        ? `its ${effect.command.type} command for ${effect.cluster}`
        : `its ${effect.type} effect`;
    const message =
      `Rollout ${rolloutId} could not send ${what}: ${err.message}. ` +
      'The command was dropped, so the rollout will not progress there by itself: ' +
      `check it with /rollout status ${rolloutId} and abort it if it does not finish.`;
    this.deps.logger.error(
      { rolloutId, effectId: item.id, effect: effect.type, reason: err.message },
      'dropping an effect that can never be carried out',
    );
    try {
      const state = await this.deps.store.get(rolloutId);
      if (state) await this.deps.notifier.alert(state, 'rollout_stuck', message);
      else if (effect.type === 'publish_command')
        await this.deps.notifier.clusterAlert(effect.cluster, message);
      await this.deps.store.markEffectDone(item.id);
      return true;
    } catch (alertErr) {
      this.deps.logger.warn(
        { err: alertErr, rolloutId },
        'could not report an effect that can never be carried out; trying again later',
      );
      return false;
    }
  }

  private async execute({ id, rolloutId, version, effect }: PendingEffect): Promise<void> {
    switch (effect.type) {
      case 'publish_command': {
        const parsed = Command.safeParse({
          id,
          v: SCHEMA_VERSION,
          type: effect.command.type,
          rolloutId,
          cluster: effect.cluster,
          seq: effect.seq,
          fence: effect.fence ?? 0,
          at: new Date(this.deps.clock.now()).toISOString(),
          actor: 'system:bot',
          payload: effect.command.payload,
        });
        // Retrying cannot make it valid: it is poison, not a failure to retry.
        if (!parsed.success) {
          throw new PoisonEffectError(`the command is invalid (${z.prettifyError(parsed.error)})`);
        }
        try {
          await this.deps.commands.publish(parsed.data);
        } catch (err) {
          if (isRolloutError(err, 'invalid_message')) throw new PoisonEffectError(err.message);
          throw err;
        }
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
      case 'notify':
        throw new Error('notify effects are run by startNotify');
      case 'release_lock':
        await this.deps.locks.release(effect.service, rolloutId);
        return;
      case 'report_to_release':
        await this.deps.reportToRelease?.(effect.releaseId, rolloutId, effect.report);
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
    if (!entry || entry.input === 'denied') {
      // Versions after the first with no line are routine transitions (`keepsHistoryLine`).
      return { actor: 'system:bot', input: version === 0 ? 'create' : 'unrecorded' };
    }
    return {
      actor: entry.actor,
      input: entry.input,
      version: entry.version,
      status: entry.status,
      ...(entry.detail ? { detail: entry.detail } : {}),
    };
  }
}

/** Effects of one pass not yet done, at most `limit` (the reading of pages waits for room). */
class EffectWindow {
  private readonly waiting: (() => void)[] = [];
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly limit: number) {}

  add(run: Promise<void>): void {
    this.running.add(run);
    void run.finally(() => {
      this.running.delete(run);
      this.waiting.shift()?.();
    });
  }

  /** Resolves once `n` more fit. */
  async roomFor(n: number): Promise<void> {
    while (this.running.size + n > this.limit)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  async drained(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }
}

/** At most `limit` holders at a time; the others wait in arrival order. */
class Slots {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Resolves with the function that frees the slot, once one is free. */
  async take(): Promise<() => void> {
    if (this.held >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.held++;
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      // Handed straight to the next waiter: the count stays, so nobody can jump the line.
      const next = this.waiting.shift();
      if (next) next();
      else this.held--;
    };
  }
}
