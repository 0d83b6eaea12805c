import cron, { type ScheduledTask } from 'node-cron';
import { startedTargets } from '../shared/rollout/draft.js';
import type { Clock } from '../shared/clock.js';
import { formatDuration } from '../shared/config/duration.js';
import { isRolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { AgentRegistry } from '../shared/ports/agent-registry.js';
import type { Notifier } from '../shared/ports/notifier.js';
import type { OnceClaims } from '../shared/ports/once-claims.js';
import { isGateWatched, type RolloutInput, type RolloutState } from '../shared/rollout/state.js';
import type { RolloutService } from './rollout-service.js';

export interface SweepOptions {
  /** How often the sweep runs. */
  intervalMs: number;
  /** An agent silent this long is reported. */
  agentSilenceMs: number;
  /** A rollout waiting on machines (clusters, the gate) this long past its last change is reported. */
  stuckAfterMs: number;
  /**
   * A service lock whose holder does not exist this long after it was taken is freed (a bot that
   * crashed between taking the lock and storing the rollout). Long enough for a start whose write
   * is still retried by the Redis client to land first. Default 5 minutes.
   */
  orphanLockGraceMs?: number;
  /**
   * A baking rollout's gate silent for three intervals, and at least this long, has lost its
   * evaluation job and gets a new one. Default 60 s (past BullMQ's 30 s stalled-job check).
   */
  lostTickAfterMs?: number;
  /**
   * A paused rollout is reminded of this long after its pause began, and again every as long:
   * its canary serves live traffic that no gate judges, and its service stays locked.
   * Default 1 hour.
   */
  pausedRemindEveryMs?: number;
}

export const DEFAULT_SWEEP_OPTIONS: SweepOptions = {
  intervalMs: 15_000,
  agentSilenceMs: 60_000,
  stuckAfterMs: 5 * 60_000,
  orphanLockGraceMs: 5 * 60_000,
};

export interface SweepDeps {
  service: RolloutService;
  agents: AgentRegistry;
  notifier: Notifier;
  claims: OnceClaims;
  clock: Clock;
  logger: Logger;
  /** Clusters an agent is expected in (from the policy). */
  clusters: () => string[];
}

const EPISODE_TTL_MS = 7 * 24 * 3_600_000;
/** A gate silent for less than this is never taken for lost: BullMQ's stalled check is 30 s. */
const LOST_TICK_FLOOR_MS = 60_000;

/**
 * Periodic checks for what no event will announce: an agent that stopped sending heartbeats, a
 * rollout stuck waiting, and a service lock no live rollout holds (freed, so the service can be
 * rolled out again); and finished rollouts folded into their compact summary. Every replica runs the timer; a claim per tick makes one of them sweep,
 * and a claim per episode (the cluster's last heartbeat, the rollout's version) alerts once.
 */
export class Sweeps {
  private task: ScheduledTask | undefined;

  constructor(
    private readonly deps: SweepDeps,
    private readonly options: SweepOptions = DEFAULT_SWEEP_OPTIONS,
  ) {}

  start(): void {
    const seconds = Math.max(1, Math.round(this.options.intervalMs / 1000));
    this.task = cron.schedule(`*/${Math.min(seconds, 59)} * * * * *`, () => {
      this.tick().catch((err) =>
        this.deps.logger.warn({ err }, 'sweep failed; the next tick tries again'),
      );
    });
  }

  stop(): void {
    void this.task?.stop();
    this.task = undefined;
  }

  /** One sweep, if this replica wins the tick. Returns the alerts it raised (for tests). */
  async tick(): Promise<string[]> {
    const now = this.deps.clock.now();
    const slot = Math.floor(now / this.options.intervalMs);
    if (!(await this.deps.claims.claim(`sweep:${slot}`, this.options.intervalMs))) return [];
    await this.deps.service
      .releaseOrphanedLocks(
        this.options.orphanLockGraceMs ?? (DEFAULT_SWEEP_OPTIONS.orphanLockGraceMs as number),
      )
      .catch((err: unknown) =>
        this.deps.logger.warn({ err }, 'checking service locks failed; the next sweep tries again'),
      );
    // Finished rollouts whose working state has gone become one compact record each.
    await this.deps.service
      .compactFinished()
      .catch((err: unknown) =>
        this.deps.logger.warn(
          { err },
          'folding finished rollouts failed; the next sweep tries again',
        ),
      );
    return [
      ...(await this.silentAgents(now)),
      ...(await this.stuckRollouts(now)),
      ...(await this.longPauses(now)),
      ...(await this.waitingApprovals(now)),
      ...(await this.lostGateTicks(now)),
    ];
  }

  private async silentAgents(now: number): Promise<string[]> {
    const expected = new Set(this.deps.clusters());
    const raised: string[] = [];
    for (const { cluster, agentId, at } of await this.deps.agents.lastSeen()) {
      if (!expected.has(cluster)) continue;
      if (now - at < this.options.agentSilenceMs) {
        await this.deps.notifier
          .clusterRecovered?.(cluster)
          .catch((err: unknown) =>
            this.deps.logger.warn(
              { err, cluster },
              'could not report an agent back; the next sweep tries again',
            ),
          );
        continue;
      }
      const message =
        `The rollout agent in ${cluster} (${agentId}) has sent no heartbeat for ${formatDuration(now - at)}. ` +
        `Rollouts there cannot progress or roll back until it is back: check its pod and its Kafka connection.`;
      if (
        await this.alertOnce(`silent:${cluster}:${at}`, () =>
          this.deps.notifier.clusterAlert(cluster, message),
        )
      )
        raised.push(message);
    }
    return raised;
  }

  /**
   * Paused rollouts, once per `pausedRemindEveryMs` of their pause: a pause is a person's
   * decision, but one forgotten for hours leaves a canary unjudged and the service locked.
   */
  private async longPauses(now: number): Promise<string[]> {
    const every = this.options.pausedRemindEveryMs ?? DEFAULT_PAUSED_REMIND_MS;
    const raised: string[] = [];
    for (const state of await this.deps.service.list()) {
      if (state.status !== 'paused' || state.pausedAt === undefined) continue;
      const round = Math.floor((now - state.pausedAt) / every);
      if (round < 1) continue;
      const message = describeLongPause(state, now);
      const key = `paused:${state.id}:${state.pausedAt}:${round}`;
      if (
        await this.alertOnce(key, () => this.deps.notifier.alert(state, 'rollout_paused', message))
      )
        raised.push(message);
    }
    return raised;
  }

  private async stuckRollouts(now: number): Promise<string[]> {
    const raised: string[] = [];
    for (const state of await this.deps.service.list()) {
      const limit = this.stuckLimit(state);
      const since = lastProgressAt(state);
      if (limit === undefined || now - since < limit) continue;
      const message = describeStuck(state, now, since);
      const key = `stuck:${state.id}:${state.status}:${since}`;
      if (
        await this.alertOnce(key, () => this.deps.notifier.alert(state, 'rollout_stuck', message))
      )
        raised.push(message);
    }
    return raised;
  }

  /**
   * Approvals that wait too long: asks the state machine for a reminder (past the rule's
   * `remindAfterMs`) or an escalation (past `escalateAfterMs`); it checks the wait against its own
   * record of when it began (health samples do not move it) and of what people were told, so
   * asking again, from any replica, changes nothing. The notices go through the outbox.
   */
  private async waitingApprovals(now: number): Promise<string[]> {
    const raised: string[] = [];
    for (const state of await this.deps.service.list()) {
      if (state.status !== 'awaiting_approval') continue;
      const rule = state.plan.stages[state.stageIndex]?.gate.approval;
      if (rule?.remindAfterMs === undefined) continue;
      const waited = now - (state.approvalRequestedAt ?? state.updatedAt);
      const input: RolloutInput | undefined =
        rule.escalateAfterMs !== undefined && waited >= rule.escalateAfterMs
          ? { type: 'approval_overdue' }
          : waited >= rule.remindAfterMs
            ? { type: 'approval_reminder' }
            : undefined;
      if (input === undefined) continue;
      try {
        await this.deps.service.apply(state.id, input, 'system:sweep');
        raised.push(`${input.type} ${state.id}`);
      } catch (err) {
        if (!isRolloutError(err, 'stale_event'))
          this.deps.logger.warn(
            { err, rolloutId: state.id, input: input.type },
            'could not act on a waiting approval; the next sweep tries again',
          );
      }
    }
    return raised;
  }

  /**
   * Sends an alert once per `key` across replicas and sweeps. The claim is taken first (so two
   * replicas do not both send it) and given back when the alert is not delivered, so the next
   * sweep tries again rather than the alert being lost.
   */
  private async alertOnce(key: string, send: () => Promise<void>): Promise<boolean> {
    if (!(await this.deps.claims.claim(key, EPISODE_TTL_MS))) return false;
    try {
      await send();
      return true;
    } catch (err) {
      this.deps.logger.warn({ err, key }, 'alert not delivered; the next sweep sends it again');
      await this.deps.claims
        .release(key)
        .catch((releaseErr: unknown) =>
          this.deps.logger.warn({ err: releaseErr, key }, 'could not release an alert claim'),
        );
      return false;
    }
  }

  /**
   * A baking (or held) rollout whose gate has not reported for three intervals (and at least a minute, past
   * BullMQ's stalled-job check) lost its evaluation job: a job that stalled too often is failed
   * for good, and nothing else would ever schedule the next one. Asks for a new tick, which the
   * state machine grants only if that tick is still the one it waits for (a late result wins).
   */
  private async lostGateTicks(now: number): Promise<string[]> {
    const raised: string[] = [];
    const floor = this.options.lostTickAfterMs ?? LOST_TICK_FLOOR_MS;
    for (const state of await this.deps.service.list()) {
      const stage = state.plan.stages[state.stageIndex];
      if (stage === undefined) continue;
      const scheduledAt = state.gate.scheduledAt ?? state.updatedAt;
      let input: RolloutInput | undefined;
      if (isGateWatched(state.status)) {
        if (now - scheduledAt >= Math.max(3 * stage.gate.intervalMs, floor)) {
          input = { type: 'gate_lost', stageIndex: state.stageIndex, tick: state.gate.tick };
        }
      } else if (state.status === 'rolling_back' && state.gate.retryDueAt !== undefined) {
        // The retry timer of failed rollbacks is a job too, and can be lost the same way.
        if (now - state.gate.retryDueAt >= floor) {
          input = { type: 'rollback_retry', tick: state.gate.tick };
        }
      }
      if (input === undefined) continue;
      try {
        await this.deps.service.apply(state.id, input, 'system:sweep');
        const message = `${input.type === 'gate_lost' ? 'rescheduled the lost gate tick' : 'ran the lost rollback retry'} ${state.gate.tick} of ${state.id}`;
        this.deps.logger.warn({ rolloutId: state.id, input: input.type }, message);
        raised.push(message);
      } catch (err) {
        if (!isRolloutError(err, 'stale_event'))
          this.deps.logger.warn(
            { err, rolloutId: state.id },
            'could not recover a lost gate or retry job',
          );
      }
    }
    return raised;
  }

  /** Only states that wait on machines can be stuck; people may take their time. */
  private stuckLimit(state: RolloutState): number | undefined {
    switch (state.status) {
      case 'pending':
      case 'progressing':
      case 'promoting':
      case 'rolling_back':
        return this.options.stuckAfterMs;
      case 'baking': {
        const stage = state.plan.stages[state.stageIndex];
        // The gate should report every interval; several missed reports mean the scheduler is not running.
        return stage
          ? Math.max(this.options.stuckAfterMs, stage.bakeMs + 3 * stage.gate.intervalMs)
          : undefined;
      }
      default:
        return undefined;
    }
  }
}

/**
 * When the rollout last moved in a way the stuck check cares about: its gate's last tick while
 * baking (health samples move `updatedAt` every few seconds), its last change otherwise.
 */
function lastProgressAt(state: RolloutState): number {
  return state.status === 'baking' ? (state.gate.scheduledAt ?? state.updatedAt) : state.updatedAt;
}

const DEFAULT_PAUSED_REMIND_MS = 3_600_000;

function describeLongPause(state: RolloutState, now: number): string {
  const weights = startedTargets(state).map(([name, c]) => `${c.weight}% in ${name}`);
  const paused = formatDuration(Math.floor((now - (state.pausedAt ?? now)) / 60_000) * 60_000);
  return (
    `Rollout ${state.id} (${state.plan.service} ${state.plan.version}) has been paused for ${paused}` +
    (weights.length > 0 ? ` at ${weights.join(', ')}` : '') +
    `: the new version serves that traffic with no gate judging it, and ${state.plan.service} stays ` +
    'locked. Resume it or abort it.'
  );
}

function describeStuck(state: RolloutState, now: number, since: number): string {
  // Clusters of waves not started yet wait on nothing: they were sent nothing.
  const waiting = startedTargets(state)
    .filter(([, c]) => !['applied', 'promoted', 'rolled_back'].includes(c.status))
    .map(([name, c]) => `${name} (${c.status})`);
  const waited = formatDuration(Math.round((now - since) / 1000) * 1000);
  return (
    `Rollout ${state.id} (${state.plan.service} ${state.plan.version}) has been ${state.status.replace('_', ' ')} ` +
    `for ${waited} with no progress` +
    (waiting.length > 0 ? `; waiting on ${waiting.join(', ')}` : '') +
    '. Check the agents of those clusters; abort if it cannot finish.'
  );
}
