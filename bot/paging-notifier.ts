import { createHash } from 'node:crypto';
import type { PagerRouting } from '../shared/config/pager-routing.js';
import type { Logger } from '../shared/log.js';
import type { Notifier, TransitionCause } from '../shared/ports/notifier.js';
import type { OnceClaims } from '../shared/ports/once-claims.js';
import { PageRejectedError, type Pager, type PageSeverity } from '../shared/ports/pager.js';
import { isTerminal, type AlertKind, type RolloutState } from '../shared/rollout/state.js';

export interface PagingNotifierDeps {
  /** The notifier people read (Slack, the console, the log): every call goes to it first. */
  inner: Notifier;
  pager: Pager;
  routing: PagerRouting;
  /** Makes a page go out once across replicas and replays, and remembers it is open. */
  claims: OnceClaims;
  logger: Logger;
}

/** What pages, and how loudly. Other alerts (approval needed, an inconclusive gate) stay in Slack. */
const PAGED: Partial<Record<AlertKind, { cause: string; severity: PageSeverity }>> = {
  // Both begin an automatic rollback: one incident per rollout, whichever caused it.
  gate_breached: { cause: 'automatic_rollback', severity: 'error' },
  command_failed: { cause: 'automatic_rollback', severity: 'error' },
  rollback_failed: { cause: 'rollback_failed', severity: 'critical' },
  rollout_stuck: { cause: 'rollout_stuck', severity: 'error' },
  // An approval nobody gave for hours holds the service: on-call decides (approve or abort).
  approval_overdue: { cause: 'approval_overdue', severity: 'warning' },
};
const ROLLOUT_CAUSES = [...new Set(Object.values(PAGED).map((p) => p.cause))];

/** An incident stays "open" this long at most in our memory (a page never resolved is let go). */
const OPEN_TTL_MS = 30 * 24 * 3_600_000;

/** The dedup key of a rollout's incident for one cause: a repeat of the cause joins it. */
export function rolloutDedupKey(rolloutId: string, cause: string): string {
  return `rollout/${rolloutId}/${cause}`;
}

/** The dedup key of a cluster's silent-agent incident. */
export function clusterDedupKey(cluster: string): string {
  return `cluster/${cluster}/agent_silent`;
}

/**
 * Sends on-call's pager what must wake someone, beside the notifier people read: an automatic
 * rollback, a rollback that cannot finish, a stuck rollout and a silent agent trigger an incident
 * (PagerDuty Events API v2 semantics) with a dedup key per rollout and cause (per cluster for an
 * agent), and the rollout's incidents are resolved once it ends with traffic settled on a stable
 * version (rolled back, aborted, or promoted), the agent's once its heartbeats return.
 *
 * A trigger claims its key for as long as the incident is open, so a replayed effect, a second
 * replica or a repeated alert of the same cause does not page twice; the claim is also how a
 * resolve knows there is something to resolve. `alert` settles with both deliveries, so the
 * effect runner retries an alert whose page did not go out; a page the pager refused as invalid
 * (400) is logged and not retried, since the same event would be refused again.
 */
export class PagingNotifier implements Notifier {
  /** The latest send per claim key on this replica (see `serial`). */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly deps: PagingNotifierDeps) {}

  async rolloutChanged(state: RolloutState, cause: TransitionCause): Promise<void> {
    await this.deps.inner.rolloutChanged(state, cause);
    // Card updates hold the rollout's later effects (its lock release) while they fail: the
    // resolve goes its own way, with the pager's own retries. The `rolled_back` alert resolves
    // through the outbox too.
    if (settled(state)) {
      void this.resolveRollout(state).catch((err: unknown) =>
        this.deps.logger.warn(
          { err, rolloutId: state.id },
          'could not resolve the rollout’s pages',
        ),
      );
    }
  }

  async alert(state: RolloutState, kind: AlertKind, message: string): Promise<void> {
    await Promise.all([
      this.deps.inner.alert(state, kind, message),
      this.pageFor(state, kind, message),
    ]);
  }

  async clusterAlert(cluster: string, message: string): Promise<void> {
    const dedupKey = clusterDedupKey(cluster);
    await Promise.all([
      this.deps.inner.clusterAlert(cluster, message),
      ...this.deps.routing.forCluster(cluster).map((routingKey) =>
        this.trigger(routingKey, dedupKey, {
          summary: message,
          source: `cluster ${cluster}`,
          severity: 'error',
          class: 'agent_silent',
          component: 'rollout-agent',
          details: { cluster },
        }),
      ),
    ]);
  }

  async clusterRecovered(cluster: string): Promise<void> {
    await this.deps.inner.clusterRecovered?.(cluster);
    const dedupKey = clusterDedupKey(cluster);
    await Promise.all(
      this.deps.routing.forCluster(cluster).map((key) => this.resolve(key, dedupKey)),
    );
  }

  private async pageFor(state: RolloutState, kind: AlertKind, message: string): Promise<void> {
    const routingKey = this.deps.routing.forService(state.plan.service);
    if (routingKey === undefined) return;
    if (kind === 'rolled_back') return this.resolveRollout(state);
    const paged = PAGED[kind];
    if (paged === undefined) return;
    await this.trigger(routingKey, rolloutDedupKey(state.id, paged.cause), {
      summary: message,
      source: state.plan.service,
      severity: paged.severity,
      class: paged.cause,
      component: state.plan.clusters.join(','),
      details: {
        rolloutId: state.id,
        service: state.plan.service,
        version: state.plan.version,
        stableVersion: state.plan.stableVersion,
        status: state.status,
        clusters: Object.fromEntries(
          Object.entries(state.clusters).map(([name, c]) => [name, `${c.status} at ${c.weight}%`]),
        ),
      },
    });
  }

  private async resolveRollout(state: RolloutState): Promise<void> {
    const routingKey = this.deps.routing.forService(state.plan.service);
    if (routingKey === undefined) return;
    await Promise.all(
      ROLLOUT_CAUSES.map((cause) => this.resolve(routingKey, rolloutDedupKey(state.id, cause))),
    );
  }

  private trigger(
    routingKey: string,
    dedupKey: string,
    page: Omit<Parameters<Pager['trigger']>[0], 'routingKey' | 'dedupKey'>,
  ): Promise<void> {
    const claim = openClaim(routingKey, dedupKey);
    return this.serial(claim, async () => {
      if (!(await this.deps.claims.claim(claim, OPEN_TTL_MS))) return; // paged already, still open
      try {
        await this.deps.pager.trigger({ ...page, routingKey, dedupKey });
        this.deps.logger.info({ dedupKey, class: page.class }, 'paged on-call');
      } catch (err) {
        if (err instanceof PageRejectedError) {
          // Keep the claim: the same event would be refused again, and the log says why.
          this.deps.logger.error({ dedupKey, errors: err.errors }, 'page refused by the pager');
          return;
        }
        await this.deps.claims.release(claim);
        throw err;
      }
    });
  }

  private resolve(routingKey: string, dedupKey: string): Promise<void> {
    const claim = openClaim(routingKey, dedupKey);
    return this.serial(claim, async () => {
      // Winning the claim means no incident is open for the key: give it back, nothing to resolve.
      if (await this.deps.claims.claim(claim, OPEN_TTL_MS)) {
        await this.deps.claims.release(claim);
        return;
      }
      try {
        await this.deps.pager.resolve(routingKey, dedupKey);
      } catch (err) {
        if (!(err instanceof PageRejectedError)) throw err;
        this.deps.logger.error({ dedupKey, errors: err.errors }, 'resolve refused by the pager');
        return;
      }
      this.deps.logger.info({ dedupKey }, 'resolved the page');
      await this.deps.claims.release(claim);
    });
  }

  /**
   * Runs one key's sends one after another on this replica: a resolve waits for the trigger still
   * on its way (else it would reach the pager first and be dropped), and two resolves of the same
   * incident (the `rolled_back` alert and the final card update) send one.
   */
  private serial(claim: string, send: () => Promise<void>): Promise<void> {
    const previous = this.inFlight.get(claim) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(send);
    const tracked = next.finally(() => {
      if (this.inFlight.get(claim) === tracked) this.inFlight.delete(claim);
    });
    this.inFlight.set(claim, tracked);
    return tracked;
  }
}

/** Traffic settled on a stable version: rolled back or aborted (all at 0%) or promoted. */
function settled(state: RolloutState): boolean {
  return isTerminal(state.status) && state.status !== 'failed';
}

/** Claim keys carry a digest of the routing key, never the key itself (claims may be inspected). */
function openClaim(routingKey: string, dedupKey: string): string {
  const digest = createHash('sha256').update(routingKey).digest('hex').slice(0, 12);
  return `page:${digest}:${dedupKey}`;
}
