import type { Logger } from '../shared/log.js';
import { describeError } from '../shared/errors.js';
import { fromRoute, type RolloutTable } from './rollout-table.js';
import type { RouteState, TrafficRouter } from './routers/traffic-router.js';

export interface RouteSyncOptions {
  router: TrafficRouter;
  table: RolloutTable;
  logger: Logger;
  /** Queues work behind the commands of a rollout (`CommandApplier.exclusive`). */
  exclusive(rolloutId: string, work: () => Promise<void>): Promise<void>;
}

/**
 * Brings the agent's rollout table in line with the routes: the route is what every replica of a
 * cluster's agent shares, and what survives a restart. A rollout the route shows in progress is
 * tracked (and so sampled and listed in heartbeats) whichever replica applied its commands; one
 * whose route moved past what this process knows (another replica applied newer commands) is
 * updated from the route, and stops being active once the route shows it ended or shows another
 * rollout. The agent runs it at start and before every sampling round, because the partition
 * holding a rollout's commands can move between replicas at any time. Samples from two replicas
 * are harmless: the bot keeps the latest per rollout, stage and cluster.
 */
export class RouteSync {
  constructor(private readonly options: RouteSyncOptions) {}

  /**
   * Reads the routes of `services` and of the active rollouts tracked. A route that cannot be read
   * is logged and skipped (the next round tries again); never rejects.
   */
  async sync(services: readonly string[]): Promise<void> {
    const all = new Set([...services, ...this.options.table.active().map((r) => r.service)]);
    await Promise.all([...all].map((service) => this.syncService(service)));
  }

  private async syncService(service: string): Promise<void> {
    const route = await this.read(service);
    if (route === undefined) return;
    const mark = route.applied;
    if (mark !== undefined) this.adopt(mark.rolloutId, service, route);
    // A rollout of this service the route no longer shows: checked behind its commands, from a
    // fresh read, so a command being applied for it right now is not mistaken for its end.
    const others = this.options.table
      .active()
      .filter((r) => r.service === service && r.rolloutId !== mark?.rolloutId);
    await Promise.all(
      others.map((rollout) =>
        this.options.exclusive(rollout.rolloutId, async () => {
          const owner = (await this.read(service))?.applied?.rolloutId;
          if (owner === undefined || owner === rollout.rolloutId || !rollout.active) return;
          rollout.active = false;
          this.options.logger.info(
            { rolloutId: rollout.rolloutId, service, routeRollout: owner },
            'the route shows another rollout now; no longer active here',
          );
        }),
      ),
    );
  }

  /**
   * The route carries a mark of `rolloutId`: track it if new, or catch up if the route is ahead.
   * It only ever moves forward (a mark newer than `appliedSeq`), so it is safe next to a command
   * being applied for the same rollout: both set what the route shows.
   */
  private adopt(rolloutId: string, service: string, route: RouteState): void {
    const { table, logger } = this.options;
    const tracked = table.get(rolloutId);
    const seen = fromRoute(rolloutId, service, route);
    if (tracked === undefined) {
      table.set(seen);
      logger.info(
        { rolloutId, service, mark: route.applied, active: seen.active },
        'found rollout on its route',
      );
      return;
    }
    if (seen.appliedSeq <= tracked.appliedSeq) return;
    tracked.appliedSeq = seen.appliedSeq;
    tracked.active = seen.active;
    if (seen.target !== undefined) tracked.target = seen.target;
    if (seen.stageIndex !== undefined) tracked.stageIndex = seen.stageIndex;
    logger.info(
      { rolloutId, service, mark: route.applied, active: seen.active },
      'route is ahead of this process (another replica applied it); caught up',
    );
  }

  private async read(service: string): Promise<RouteState | undefined> {
    try {
      return await this.options.router.read(service);
    } catch (err) {
      this.options.logger.warn({ service, err: describeError(err) }, 'cannot read route to sync');
      return undefined;
    }
  }
}
