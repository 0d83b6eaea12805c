import type { Logger } from '../../shared/log.js';
import type { CardStore } from '../../shared/ports/card-store.js';
import type { OnceClaims } from '../../shared/ports/once-claims.js';
import type { SlackBudget, SlackPriority } from '../../shared/ports/slack-budget.js';
import type { CardView } from './card.js';
import type { OutgoingMessage, SlackCalls } from './slack-calls.js';

/** A message for a lane: a reply in the card's thread, or a channel message for a channel lane. */
export interface LaneMessage extends Omit<OutgoingMessage, 'threadTs' | 'channel'> {
  /** Posted at most once across replicas and replays: whoever claims this key posts it. */
  claimKey: string;
  /**
   * The claim's group (see `OnceClaims`): a rollout's id, so its many thread lines are one record
   * rather than one each. `claimKey` need then be unique within the group only.
   */
  claimGroup?: string;
  /** How long the claim holds. Default a day (`MESSAGE_CLAIM_MS`). */
  claimTtlMs?: number;
  /** Channel lanes only: where to post. */
  channel?: string;
  /**
   * Default `transition`. An `alert` goes before the lane's other messages, and is given up after
   * `maxAttempts` failures (its caller keeps it and sends it again); other messages are retried
   * until Slack takes them (or refuses them for good).
   */
  priority?: SlackPriority;
}

export interface RenderedCard {
  /** Where a card not posted yet goes (the service's channel); unknown if the policy lost the service. */
  channel: string | undefined;
  view: CardView;
  /** The rollout has ended: its lane is dropped once everything is sent. */
  ended: boolean;
}

export interface CardLanesOptions {
  calls: Pick<SlackCalls, 'postMessage' | 'update'>;
  cards: CardStore;
  claims: OnceClaims;
  /** The card for the rollout's latest state, read when it is sent; `undefined` if there is none. */
  render: (rolloutId: string) => Promise<RenderedCard | undefined>;
  logger: Logger;
  /** At most one `chat.update` per card in this many ms. Default 1000 (Slack's per-message limit). */
  updateIntervalMs?: number;
  /**
   * The Slack budget every replica draws from: each call waits for its turn. Without one, calls
   * go as fast as the lanes make them (unit tests of other concerns).
   */
  budget?: SlackBudget;
  /** Attempts at an alert that failed for a reason other than a 429 before it is given up. Default 5. */
  maxAttempts?: number;
  /** Wait after the first such failure, doubled after each up to `maxRetryDelayMs`. Default 500 ms. */
  retryDelayMs?: number;
  /** Default 30 s: Slack down for long is retried every 30 s, so cards catch up soon after it is back. */
  maxRetryDelayMs?: number;
  /**
   * Messages a lane holds; past it the oldest that is not an alert is dropped (logged), so a card
   * whose channel Slack will not take keeps memory bounded. Default 200.
   */
  maxQueuedMessages?: number;
  /** Time and waiting, for tests that run lanes on a virtual clock. Default: real ones. */
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Told of each card post and update once Slack took it, with the reading of `now` the lane
   * paced it by (consecutive ones are at least `updateIntervalMs` apart): lets a test check the
   * pacing where it is decided rather than on arrival times, which network and load can squeeze.
   */
  onCardSent?: (sent: CardSent) => void;
  /** Told of every call Slack took, with how long it waited here: the metrics. */
  onDelivered?: (delivered: Delivered) => void;
}

/** A call Slack took, and how long it waited in its lane (ms on the lane's clock). */
export interface Delivered {
  kind: 'post' | 'update' | 'message';
  priority: SlackPriority;
  /** Since the oldest change (or message) this call delivers was queued. */
  queuedMs: number;
  /** Cards: since the newest change it shows (the delay from a rollout's last transition). */
  latestMs?: number;
}

/** A card post or update as the lane sent it; `at` is on the lane's clock (`now`). */
export interface CardSent {
  rolloutId: string;
  kind: 'post' | 'update';
  at: number;
}
