import type { Clock } from '../../shared/clock.js';
import type { Policy } from '../../shared/config/policy.js';
import type { Logger } from '../../shared/log.js';
import type { CardRef, CardStore } from '../../shared/ports/card-store.js';
import type { ReleaseNotifier } from '../../shared/ports/release-notifier.js';
import { isReleaseTerminal, type ReleaseState } from '../../shared/release/state.js';
import { renderReleaseCard } from './release-card.js';
import type { SlackCalls } from './slack-calls.js';
import { escapeText, mention } from './slack-text.js';

export interface SlackReleaseNotifierDeps {
  calls: SlackCalls;
  /** The release card's (channel, ts), under `release:<id>`, so a restarted bot updates it. */
  cards: CardStore;
  policy: () => Policy;
  clock: Clock;
  logger: Logger;
}

/**
 * The release card in Slack: posted once in the channel of the release's first member (the first
 * provider of the plan), updated in place, with the release's lines and its page in its thread.
 * Member cards stay in their own channels and name the release (see `card.ts`).
 *
 * Calls go straight to the Web API rather than through the rollout cards' lanes: a release changes
 * a few times per member, not with every health sample.
 */
export class SlackReleaseNotifier implements ReleaseNotifier {
  constructor(private readonly deps: SlackReleaseNotifierDeps) {}

  async releaseChanged(state: ReleaseState): Promise<void> {
    const view = renderReleaseCard(state, this.deps.clock.now());
    const key = cardKey(state.id);
    const known = await this.deps.cards.get(key);
    if (known) await this.deps.calls.update(known.channel, known.ts, view);
    else await this.post(state);
    if (isReleaseTerminal(state.status)) {
      await this.deps.cards.retain(key, this.deps.policy().retention.finishedRollouts);
    }
  }

  async releaseLine(state: ReleaseState, text: string): Promise<void> {
    const card = await this.card(state);
    await this.deps.calls.postMessage({
      channel: card.channel,
      threadTs: card.ts,
      text: escapeText(text),
    });
  }

  async releasePage(state: ReleaseState, services: string[], message: string): Promise<void> {
    const card = await this.card(state);
    const groups = [
      ...new Set(
        services.map((s) => this.deps.policy().services[s]?.oncall).filter((g) => g !== undefined),
      ),
    ];
    await this.deps.calls.postMessage({
      channel: card.channel,
      threadTs: card.ts,
      // Shown in the channel too: a page must not hide in a thread.
      broadcast: true,
      text: `${groups.map(mention).join(' ')} :rotating_light: ${escapeText(message)}`.trim(),
    });
  }

  private async card(state: ReleaseState): Promise<CardRef> {
    return (await this.deps.cards.get(cardKey(state.id))) ?? this.post(state);
  }

  /** Posts the card; of two writers that both posted, the first one saved is the card. */
  private async post(state: ReleaseState): Promise<CardRef> {
    const first = state.plan.members[0]!.service;
    const channel = this.deps.policy().services[first]?.channel;
    if (channel === undefined) throw new Error(`no channel for ${first} in the policy`);
    const view = renderReleaseCard(state, this.deps.clock.now());
    const posted = await this.deps.calls.postMessage({ channel, ...view });
    return this.deps.cards.save(cardKey(state.id), posted);
  }
}

function cardKey(releaseId: string): string {
  return `release:${releaseId}`;
}
