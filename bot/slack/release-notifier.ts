import { createHash } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { Policy } from '../../shared/config/policy.js';
import type { Logger } from '../../shared/log.js';
import type { CardStore } from '../../shared/ports/card-store.js';
import type { ReleaseNotifier } from '../../shared/ports/release-notifier.js';
import type { ReleaseStore } from '../../shared/ports/release-store.js';
import type { SlackPriority } from '../../shared/ports/slack-budget.js';
import { isReleaseTerminal, type ReleaseState } from '../../shared/release/state.js';
import type { CardLanes, RenderedCard } from './card-lanes.js';
import { renderReleaseCard } from './release-card.js';
import { escapeText, mention } from './slack-text.js';

/**
 * A release card's id in the lanes and the CardStore: `release:<id>`. Rollout ids never hold a
 * `:` (they name BullMQ jobs), so the two kinds of card cannot collide.
 */
export function releaseCardId(releaseId: string): string {
  return `${RELEASE_PREFIX}${releaseId}`;
}

/** The release id of a lane's card id, or undefined when the card is a rollout's. */
export function releaseIdOfCard(cardId: string): string | undefined {
  return cardId.startsWith(RELEASE_PREFIX) ? cardId.slice(RELEASE_PREFIX.length) : undefined;
}

const RELEASE_PREFIX = 'release:';

export interface ReleaseCardRendererDeps {
  /** The releases, read when the card is sent (the latest state always wins); none yet: no card. */
  releases: () => Pick<ReleaseStore, 'get'> | undefined;
  policy: () => Policy;
  clock: Clock;
}

/**
 * The lanes' view of a release card: posted in the channel of the release's first member (the
 * first provider of the plan), rendered from the stored release when it is sent.
 */
export function releaseCardRenderer(deps: ReleaseCardRendererDeps) {
  return async (releaseId: string): Promise<RenderedCard | undefined> => {
    const state = await deps.releases()?.get(releaseId);
    if (!state) return undefined;
    const first = state.plan.members[0]?.service;
    return {
      channel: first === undefined ? undefined : deps.policy().services[first]?.channel,
      view: renderReleaseCard(state, deps.clock.now()),
      ended: isReleaseTerminal(state.status),
    };
  };
}

export interface SlackReleaseNotifierDeps {
  /** The rollout cards' lanes: the release card and its thread share their budget and priorities. */
  lanes: Pick<CardLanes, 'refresh' | 'reply'>;
  /** Where the lanes keep the release card's (channel, ts), under `releaseCardId`. */
  cards: CardStore;
  policy: () => Policy;
  logger: Logger;
}

/**
 * The release card in Slack: posted once, updated in place, with the release's lines and its page
 * in its thread. Member cards stay in their own channels and name the release (see `card.ts`).
 *
 * Every call goes through `CardLanes`, like a rollout card's: its updates coalesce (the latest
 * state is rendered when sent), they wait for the shared Slack budget at their priority (a page is
 * an `alert`, the end `terminal`, other changes and lines `transition`), and a 429 is waited out.
 * `releaseChanged` and `releaseLine` return at once (a line is best-effort, as a rollout's thread
 * lines are, so a slow Slack never holds the release's effects back); `releasePage` settles with
 * delivery, so the release runner keeps the page until it is in Slack.
 */
export class SlackReleaseNotifier implements ReleaseNotifier {
  constructor(private readonly deps: SlackReleaseNotifierDeps) {}

  async releaseChanged(state: ReleaseState): Promise<void> {
    const card = releaseCardId(state.id);
    this.deps.lanes.refresh(card, cardPriority(state));
    if (isReleaseTerminal(state.status)) {
      try {
        await this.deps.cards.retain(card, this.deps.policy().retention.finishedRollouts);
      } catch (err) {
        this.deps.logger.warn({ err, releaseId: state.id }, 'could not set the card to expire');
      }
    }
  }

  async releaseLine(state: ReleaseState, text: string, key?: string): Promise<void> {
    // Best-effort: CardLanes logs a line it gives up.
    void this.deps.lanes
      .reply(releaseCardId(state.id), {
        text: escapeText(text),
        priority: 'transition',
        claimKey: `release-line:${state.id}:${key ?? digest(text)}`,
      })
      .catch(() => undefined);
  }

  async releasePage(state: ReleaseState, services: string[], message: string): Promise<void> {
    const groups = [
      ...new Set(
        services.map((s) => this.deps.policy().services[s]?.oncall).filter((g) => g !== undefined),
      ),
    ];
    await this.deps.lanes.reply(releaseCardId(state.id), {
      // Shown in the channel too: a page must not hide in a thread.
      broadcast: true,
      text: `${groups.map(mention).join(' ')} :rotating_light: ${escapeText(message)}`.trim(),
      priority: 'alert',
      claimKey: `release-page:${state.id}:${digest(`${services.join(',')}:${message}`)}`,
    });
  }
}

/** The end of a release is `terminal`; everything else it shows is a `transition`. */
function cardPriority(state: ReleaseState): SlackPriority {
  return isReleaseTerminal(state.status) ? 'terminal' : 'transition';
}

function digest(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 16);
}
