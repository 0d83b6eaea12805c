import type { Command } from '../shared/contracts/commands.js';
import type { RolloutEvent } from '../shared/contracts/events.js';
import { isRolloutError, RolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { EventBus } from '../shared/ports/buses.js';
import { describeError } from '../shared/errors.js';
import type { EventFactory } from './event-factory.js';
import { fromRoute, type RolloutTable, type TrackedRollout } from './rollout-table.js';
import type {
  AppliedMark,
  RouteState,
  RouteTarget,
  TrafficRouter,
} from './routers/traffic-router.js';

export interface CommandApplierOptions {
  cluster: string;
  router: TrafficRouter;
  events: EventBus;
  envelopes: EventFactory;
  table: RolloutTable;
  logger: Logger;
  /** How a failing `rollback` is tried again before `command_failed`. Default `DEFAULT_ROLLBACK_RETRY`. */
  rollbackRetry?: RetryPolicy;
  /** Waits between rollback tries. Default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** Tries of an idempotent router call: `attempts` in all, waits doubling from `initialDelayMs` up to `maxDelayMs`. */
export interface RetryPolicy {
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

/**
 * Five tries over about 4 s. Kept short on purpose: the command handler holds its consumer while it
 * retries (Kafka heartbeats wait), and the bot sends the rollback again after a `command_failed`,
 * so a longer outage is retried by new commands rather than by one handler that never returns.
 */
export const DEFAULT_ROLLBACK_RETRY: RetryPolicy = {
  attempts: 5,
  initialDelayMs: 250,
  maxDelayMs: 2_000,
};

type CommandOf<T extends Command['type']> = Extract<Command, { type: T }>;

/**
 * Applies one cluster's commands through the router and answers each with an event.
 *
 * Idempotency, without any file of the agent's own:
 * - a command whose seq is not newer than the last one this process answered for the rollout is
 *   ignored (duplicates and reordering are harmless);
 * - otherwise, a command whose seq equals the applied mark stored with the route was applied
 *   before its answer went out (a crash, or a failed publish): the answer is published again from
 *   what the router reads back, and the router is not called ("no stage applied twice");
 * - a seq below the route's mark is ignored: commands of a rollout are handled in order and the
 *   next one is taken only once this one's answer is published, so it was answered already.
 *
 * A router failure is answered with `command_failed` and never thrown; so is a weight the router
 * reads back different from the one asked for (the split is not what the stage commands, so the
 * bot must not count it applied). A `rollback` is tried again a few times first (`rollbackRetry`):
 * it is idempotent and it is what makes traffic safe. The handler rejects only when publishing the
 * answer fails, so the bus delivers the command again and the mark turns the retry into a
 * re-publish.
 */
export class CommandApplier {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly rollbackRetry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: CommandApplierOptions) {
    const retry = options.rollbackRetry ?? DEFAULT_ROLLBACK_RETRY;
    if (
      !(Number.isInteger(retry.attempts) && retry.attempts >= 1) ||
      !(retry.initialDelayMs >= 0 && retry.maxDelayMs >= retry.initialDelayMs)
    ) {
      throw new RolloutError(
        'invalid_config',
        `rollbackRetry needs attempts ≥ 1 and 0 ≤ initialDelayMs ≤ maxDelayMs, got ${JSON.stringify(retry)}`,
      );
    }
    this.rollbackRetry = retry;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  handle(command: Command): Promise<void> {
    const { cluster, logger } = this.options;
    const rolloutId = command.rolloutId;
    if (command.cluster !== cluster || rolloutId === null) {
      logger.warn(
        { id: command.id, cluster: command.cluster, rolloutId: command.rolloutId },
        'ignoring a command that is not for a rollout in this cluster',
      );
      return Promise.resolve();
    }
    return this.exclusive(rolloutId, () => this.apply(command, rolloutId));
  }

  /** Resolves once every command being handled has finished. */
  async drain(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  /**
   * Runs `work` after everything queued for the rollout, and before anything queued later: one
   * command at a time per rollout (different rollouts proceed independently). Others that change
   * a tracked rollout while commands may be applied to it (`RouteSync`) queue here too.
   */
  exclusive(rolloutId: string, work: () => Promise<void>): Promise<void> {
    const previous = this.chains.get(rolloutId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.chains.set(rolloutId, tail);
    void tail.then(() => {
      if (this.chains.get(rolloutId) === tail) this.chains.delete(rolloutId);
    });
    return next;
  }

  private async apply(command: Command, rolloutId: string): Promise<void> {
    const log = this.options.logger.child({ rolloutId, seq: command.seq, command: command.type });
    let rollout = this.options.table.get(rolloutId);
    if (rollout === undefined) {
      try {
        rollout = await this.learn(rolloutId, command);
      } catch (err) {
        log.warn({ err: describeError(err) }, 'cannot read the route to check what was applied');
        await this.fail(
          command,
          `cannot read the route of ${command.payload.service}: ${describeError(err)}`,
        );
        return;
      }
    }
    if (rollout.fencedBy !== undefined) {
      log.warn(
        { fence: command.fence, routeFence: rollout.fencedBy },
        'refusing a command of a rollout older than the one the route records',
      );
      return;
    }
    if (command.seq <= rollout.handledSeq) {
      log.debug({ handledSeq: rollout.handledSeq }, 'ignoring a duplicate or older command');
      return;
    }
    if (command.seq <= rollout.appliedSeq) {
      if (command.seq === rollout.appliedSeq) {
        log.info('already applied (route mark); confirming again without calling the router');
        await this.confirmAgain(rollout, command);
      } else {
        log.info({ appliedSeq: rollout.appliedSeq }, 'older than the route mark; already answered');
      }
      rollout.handledSeq = command.seq;
      return;
    }
    await this.execute(rollout, command, log);
    rollout.handledSeq = command.seq;
  }

  /**
   * First command of a rollout in this process: what does the route say was applied? A route
   * whose mark has a higher fence belongs to a newer rollout: this one is fenced for good.
   */
  private async learn(rolloutId: string, command: Command): Promise<TrackedRollout> {
    const service = command.payload.service;
    const route = await this.options.router.read(service);
    const routeFence = route?.applied?.fence ?? 0;
    const rollout: TrackedRollout =
      route?.applied?.rolloutId === rolloutId
        ? fromRoute(rolloutId, service, route)
        : { rolloutId, service, active: false, paused: false, handledSeq: -1, appliedSeq: -1 };
    if (routeFence > command.fence && route?.applied?.rolloutId !== rolloutId) {
      rollout.fencedBy = routeFence;
    }
    this.options.table.set(rollout);
    return rollout;
  }

  private async execute(rollout: TrackedRollout, command: Command, log: Logger): Promise<void> {
    const { router } = this.options;
    try {
      switch (command.type) {
        case 'start': {
          const { service, version, stableVersion, strategy, stages, mirrorPercent } =
            command.payload;
          rollout.target = {
            service,
            stableVersion,
            canaryVersion: version,
            strategy,
            ...(mirrorPercent !== undefined && { mirrorPercent }),
          };
          rollout.stages = stages;
          if (command.payload.dependents !== undefined) {
            rollout.dependents = command.payload.dependents;
          }
          await router.setWeight(rollout.target, 0, markOf(rollout, command, 0));
          rollout.appliedSeq = command.seq;
          rollout.active = true;
          rollout.paused = false;
          rollout.stageIndex = 0;
          log.info({ target: rollout.target }, 'rollout started at weight 0');
          return;
        }
        case 'set_weight': {
          const target = this.requireTarget(rollout, command);
          const { stageIndex, weight } = command.payload;
          const state = await router.setWeight(
            target,
            weight,
            markOf(rollout, command, stageIndex),
          );
          rollout.appliedSeq = command.seq;
          rollout.active = true;
          rollout.stageIndex = command.payload.stageIndex;
          await this.answerSetWeight(command, state, log);
          return;
        }
        case 'promote': {
          const target = this.requireTarget(rollout, command);
          await router.promote(target, markOf(rollout, command, rollout.stageIndex ?? 0));
          rollout.appliedSeq = command.seq;
          rollout.active = false;
          await this.publish(this.promoted(command, target));
          return;
        }
        case 'rollback': {
          const target = rollout.target;
          if (target !== undefined) {
            const mark = markOf(rollout, command, rollout.stageIndex ?? 0);
            await this.retried(() => router.rollback(target, mark), log);
            rollout.appliedSeq = command.seq;
          } else {
            // Nothing of this rollout reached this cluster's route: there is nothing to undo.
            log.info('rollback of a rollout this cluster never started; nothing to undo');
          }
          rollout.active = false;
          await this.publish(this.rolledBack(command));
          return;
        }
        case 'pause':
        case 'resume':
          rollout.paused = command.type === 'pause';
          log.info(`rollout ${command.type}d`);
          return;
        default: {
          const unknown: never = command;
          log.warn({ command: unknown }, 'ignoring a command type this agent does not know');
          return;
        }
      }
    } catch (err) {
      if (err instanceof PublishError) throw err;
      if (isRolloutError(err, 'fenced')) {
        // An older rollout's command (a replay, an expired offset): nothing changed and nobody
        // waits for an answer, since its rollout ended before the newer one could start.
        log.warn({ fence: command.fence, reason: err.message }, 'refusing a fenced command');
        return;
      }
      log.warn({ err: describeError(err) }, 'command failed');
      await this.fail(command, describeError(err));
    }
  }

  /** Publishes the answer a command applied earlier would have had, from the route as it is. */
  private async confirmAgain(rollout: TrackedRollout, command: Command): Promise<void> {
    switch (command.type) {
      case 'start':
        rollout.target = {
          service: command.payload.service,
          stableVersion: command.payload.stableVersion,
          canaryVersion: command.payload.version,
          strategy: command.payload.strategy,
        };
        rollout.stages = command.payload.stages;
        if (command.payload.dependents !== undefined) {
          rollout.dependents = command.payload.dependents;
        }
        rollout.active = true;
        rollout.stageIndex = 0;
        return;
      case 'set_weight': {
        const state = await this.readOrFail(command);
        if (state === undefined) return;
        rollout.active = true;
        rollout.stageIndex = command.payload.stageIndex;
        return this.answerSetWeight(command, state, this.options.logger);
      }
      case 'promote': {
        rollout.active = false;
        const state = await this.readOrFail(command);
        if (state === undefined) return;
        return this.publish(
          this.options.envelopes.event(
            'promoted',
            { rolloutId: command.rolloutId, seq: command.seq },
            { version: rollout.target?.canaryVersion ?? state.stableVersion },
          ),
        );
      }
      case 'rollback':
        rollout.active = false;
        return this.publish(this.rolledBack(command));
      case 'pause':
      case 'resume':
        return; // never stored with the route, so never at its mark
    }
  }

  /**
   * `stage_applied` only when the router reads back the weight the stage asked for. Anything else
   * (a router that rounds, a controller that rewrote the route) is not the stage the bot would
   * bake and judge: `command_failed`, and the bot rolls back.
   */
  private async answerSetWeight(
    command: CommandOf<'set_weight'>,
    state: RouteState,
    log: Logger,
  ): Promise<void> {
    const asked = command.payload.weight;
    if (state.canaryWeight === asked) return this.publish(this.stageApplied(command, state));
    log.warn({ asked, read: state.canaryWeight }, 'weight read back differs; reporting failure');
    return this.fail(command, `router reads ${state.canaryWeight}%, asked ${asked}%`);
  }

  /** `call` again after a wait while it rejects, up to `rollbackRetry.attempts` tries in all. */
  private async retried<T>(call: () => Promise<T>, log: Logger): Promise<T> {
    const { attempts, initialDelayMs, maxDelayMs } = this.rollbackRetry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (isRolloutError(err, 'fenced')) throw err; // trying again cannot unfence it
        if (attempt >= attempts) {
          throw new Error(`${describeError(err)} (tried ${attempts} times)`, { cause: err });
        }
        const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
        log.warn({ attempt, attempts, delayMs, err: describeError(err) }, 'retrying');
        await this.sleep(delayMs);
      }
    }
  }

  private requireTarget(rollout: TrackedRollout, command: Command): RouteTarget {
    if (rollout.target !== undefined) return rollout.target;
    throw new Error(
      `rollout ${rollout.rolloutId} is unknown in cluster ${this.options.cluster}: no start was received ` +
        `and the route of ${rollout.service} shows no rollout of it in progress, so ${command.type} has nothing to act on`,
    );
  }

  private async readOrFail(command: Command): Promise<RouteState | undefined> {
    try {
      const state = await this.options.router.read(command.payload.service);
      if (state !== undefined) return state;
      await this.fail(command, `the route of ${command.payload.service} is gone`);
    } catch (err) {
      await this.fail(
        command,
        `cannot read the route of ${command.payload.service}: ${describeError(err)}`,
      );
    }
    return undefined;
  }

  private stageApplied(command: CommandOf<'set_weight'>, state: RouteState): RolloutEvent {
    return this.options.envelopes.event(
      'stage_applied',
      { rolloutId: command.rolloutId, seq: command.seq },
      { stageIndex: command.payload.stageIndex, weight: state.canaryWeight },
    );
  }

  private promoted(command: CommandOf<'promote'>, target: RouteTarget): RolloutEvent {
    return this.options.envelopes.event(
      'promoted',
      { rolloutId: command.rolloutId, seq: command.seq },
      { version: target.canaryVersion },
    );
  }

  private rolledBack(command: CommandOf<'rollback'>): RolloutEvent {
    return this.options.envelopes.event(
      'rolled_back',
      { rolloutId: command.rolloutId, seq: command.seq },
      { weight: 0, reason: command.payload.reason },
    );
  }

  private fail(command: Command, reason: string): Promise<void> {
    return this.publish(
      this.options.envelopes.event(
        'command_failed',
        { rolloutId: command.rolloutId, seq: command.seq },
        { commandId: command.id, commandType: command.type, reason: reason || 'unknown error' },
      ),
    );
  }

  /** Publishes an answer; a failure is a `PublishError`, never mistaken for a router failure. */
  private async publish(event: RolloutEvent): Promise<void> {
    try {
      await this.options.events.publish(event);
    } catch (err) {
      this.options.logger.warn(
        { type: event.type, rolloutId: event.rolloutId, err: describeError(err) },
        'cannot publish event; the command will be delivered again',
      );
      throw new PublishError(err);
    }
  }
}

class PublishError extends Error {
  constructor(override readonly cause: unknown) {
    super(`publish failed: ${describeError(cause)}`);
  }
}

/** The mark stored with the route by a command's write (see `AppliedMark`). */
function markOf(rollout: TrackedRollout, command: Command, stageIndex: number): AppliedMark {
  return {
    rolloutId: rollout.rolloutId,
    seq: command.seq,
    stageIndex,
    // Every caller has set or checked the target first.
    strategy: rollout.target?.strategy ?? 'canary',
    fence: command.fence,
  };
}
