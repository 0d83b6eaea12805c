import { createHash } from 'node:crypto';
import { cardSamples } from './card-samples.js';
import type { Policy } from '../../shared/config/policy.js';
import type { Logger } from '../../shared/log.js';
import type { CardStore } from '../../shared/ports/card-store.js';
import type { HealthSampleStore } from '../../shared/ports/health-samples.js';
import type { Notifier, TransitionCause } from '../../shared/ports/notifier.js';
import type { OnceClaims } from '../../shared/ports/once-claims.js';
import type { RolloutStore } from '../../shared/ports/rollout-store.js';
import type { SlackPriority } from '../../shared/ports/slack-budget.js';
import { isTerminal, type AlertKind, type RolloutState } from '../../shared/rollout/state.js';
import { alertView, clusterAlertText } from './alert-messages.js';
import { renderCard } from './card.js';
import { MESSAGE_CLAIM_MS, type CardLanes, type RenderedCard } from './card-lanes.js';
import type { SurfaceMetrics } from './metrics.js';
import { threadLine } from './thread-lines.js';

export interface SlackNotifierOptions {
  lanes: CardLanes;
  /** Where cards are kept: a finished rollout's card expires with it. */
  cards: CardStore;
  claims: OnceClaims;
  policy: () => Policy;
  metrics: SurfaceMetrics;
  logger: Logger;
}

/** Changes that refresh what the card shows without changing where the rollout is (gate ticks, health). */
const ROUTINE_CHANGES = new Set<TransitionCause['input']>(['unrecorded', 'health_counts']);
/** Thread lines one per cluster (ten at each stage with ten clusters): after every other line. */
const ROUTINE_LINES = new Set<TransitionCause['input']>([
  'stage_applied',
  'promoted',
  'rolled_back',
]);

/**
 * A card waiting for approval shows its Approve button as soon as an alert would go out; a card
 * whose rollout ended goes before other cards' transitions (its last update, the one people wait
 * for, is never starved by a busy release day).
 */
function cardPriority(cause: TransitionCause): SlackPriority {
  if (cause.status === 'awaiting_approval') return 'alert';
  if (cause.status && isTerminal(cause.status)) return 'terminal';
  if (ROUTINE_CHANGES.has(cause.input)) return 'refresh';
  return 'transition';
}

/**
 * The Notifier on Slack: the rollout card (posted once, then updated in place), a thread reply
 * per transition people care about, and alerts that page the service's on-call group. `CardLanes`
 * does the sending (coalescing, 429s, once-only posts). `rolloutChanged` returns at once (the card
 * catches up on the next update; a thread line is best-effort); `alert` and `clusterAlert` settle
 * with delivery, so the effect runner keeps an alert until it is in Slack.
 */
export class SlackNotifier implements Notifier {
  constructor(private readonly options: SlackNotifierOptions) {}

  async rolloutChanged(state: RolloutState, cause: TransitionCause): Promise<void> {
    const { lanes } = this.options;
    lanes.refresh(state.id, cardPriority(cause));
    const line = threadLine(state, cause);
    if (line) {
      // Best-effort: CardLanes logs a line it gives up.
      void lanes
        .reply(state.id, {
          text: line,
          priority: ROUTINE_LINES.has(cause.input) ? 'routine' : 'transition',
          claimKey: `t:${cause.version ?? `${state.version}:${digest(JSON.stringify(cause))}`}`,
          ...this.claimOf(state),
        })
        .catch(() => undefined);
    }
    if (cause.status && isTerminal(cause.status)) {
      await this.countEnded(state, cause.status);
      await this.retainCard(state);
    }
  }

  async alert(state: RolloutState, kind: AlertKind, message: string): Promise<void> {
    const oncall = this.options.policy().services[state.plan.service]?.oncall;
    const view = alertView(state, kind, message, oncall);
    await this.options.lanes.reply(state.id, {
      text: view.text,
      blocks: view.blocks,
      broadcast: view.broadcast,
      priority: 'alert',
      claimKey: `a:${kind}:${digest(message)}`,
      ...this.claimOf(state),
    });
  }

  /** To the channel of every service that runs in `cluster`, paging each one's on-call group. */
  async clusterAlert(cluster: string, message: string): Promise<void> {
    const byChannel = new Map<string, string[]>();
    for (const service of Object.values(this.options.policy().services)) {
      if (!service.clusters.includes(cluster)) continue;
      const oncall = byChannel.get(service.channel) ?? [];
      if (service.oncall && !oncall.includes(service.oncall)) oncall.push(service.oncall);
      byChannel.set(service.channel, oncall);
    }
    if (byChannel.size === 0) {
      this.options.logger.warn({ cluster, message }, 'cluster alert: no service runs there');
    }
    // Every channel is tried; a replay re-sends only those not delivered (the others' claims hold).
    const outcomes = await Promise.allSettled(
      [...byChannel].map(([channel, oncall]) =>
        this.options.lanes.post(channel, {
          text: clusterAlertText(cluster, message, oncall),
          priority: 'alert',
          claimKey: `cluster-alert:${cluster}:${channel}:${digest(message)}`,
        }),
      ),
    );
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * A rollout's claims (thread lines, alerts, its end) are one record, which lasts no longer than
   * the rollout's own: once that expired, nothing of the rollout is replayed that they could guard.
   */
  private claimOf(state: RolloutState): { claimGroup: string; claimTtlMs: number } {
    const retention = this.options.policy().retention.finishedRollouts;
    return { claimGroup: state.id, claimTtlMs: Math.min(MESSAGE_CLAIM_MS, retention) };
  }

  /** The card goes when the rollout does (`retention.finishedRollouts` after its end). */
  private async retainCard(state: RolloutState): Promise<void> {
    try {
      await this.options.cards.retain(state.id, this.options.policy().retention.finishedRollouts);
    } catch (err) {
      this.options.logger.warn({ err, rolloutId: state.id }, 'could not set the card to expire');
    }
  }

  /** Counted once across replicas and replays, by whoever first sees the end. */
  private async countEnded(state: RolloutState, outcome: string): Promise<void> {
    try {
      const { claimGroup, claimTtlMs } = this.claimOf(state);
      if (await this.options.claims.claim('ended', claimTtlMs, claimGroup)) {
        this.options.metrics.rolloutsEnded.inc({ service: state.plan.service, outcome });
      }
    } catch (err) {
      this.options.logger.warn({ err, rolloutId: state.id }, 'could not count the ended rollout');
    }
  }
}

export interface CardRendererDeps {
  store: Pick<RolloutStore, 'get'>;
  samples: HealthSampleStore;
  policy: () => Policy;
  logger: Logger;
}

/** The card as the rollout stands now: what `CardLanes` sends, read at the moment it sends. */
export function cardRenderer(deps: CardRendererDeps) {
  return async (rolloutId: string): Promise<RenderedCard | undefined> => {
    const state = await deps.store.get(rolloutId);
    if (!state) return undefined;
    const samples = await cardSamples(deps.samples, state).catch((err) => {
      deps.logger.warn({ err, rolloutId }, 'card without health: samples unavailable');
      return [];
    });
    return {
      channel: deps.policy().services[state.plan.service]?.channel,
      view: renderCard(state, { samples, buttons: true }),
      ended: isTerminal(state.status),
    };
  };
}

function digest(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 16);
}
