import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { CardRef } from '../../shared/ports/card-store.js';
import {
  PENDING_OWNER_TTL_MS,
  SLACK_PRIORITIES,
  type SlackPriority,
} from '../../shared/ports/slack-budget.js';
import { BudgetDrainer } from './budget-drainer.js';
import type { CardLanesOptions, LaneMessage } from './card-lane-options.js';
import { SlackCallError, SlackRateLimitedError } from './slack-calls.js';

// The options and what the lanes report live beside this file (kept small); importers use this one.
export type {
  CardLanesOptions,
  CardSent,
  Delivered,
  LaneMessage,
  RenderedCard,
} from './card-lane-options.js';

/** How long a replica holds the right to post a card while it posts it. */
const POST_CLAIM_MS = 30_000;
/**
 * Replies and alerts are claimed for a day by default. The claim only guards a replay of their
 * effect: one delivered but not yet marked done (a crash in between, replayed at the next start, or
 * another replica's drain racing this one). A bot down for longer than a day may post such a line
 * twice; a claim must not outlive that need (a rollout's are grouped: one record per rollout).
 */
export const MESSAGE_CLAIM_MS = 24 * 3_600_000;
/** How often a replica that lost the post claim looks for the winner's card. */
const CARD_POLL_MS = 200;

function rank(priority: SlackPriority): number {
  return SLACK_PRIORITIES.indexOf(priority);
}

/** A queued message and how to tell its sender what became of it. */
type Queued = LaneMessage & {
  priority: SlackPriority;
  queuedAt: number;
  claimed?: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
};

interface Lane {
  key: string;
  rolloutId?: string;
  card?: CardRef;
  /** The card must show the latest state. */
  dirty: boolean;
  /** Changes told to this lane so far, and how many of them the shared budget was told of. */
  changes: number;
  marked: number;
  /**
   * This replica owns the card's pending update across replicas (a shared budget's `markPending`):
   * it sends it; a replica that does not own it only counts its changes there.
   */
  owned: boolean;
  /** The most urgent of the changes not shown yet, and when the oldest and newest came. */
  updatePriority: SlackPriority;
  dirtySince: number;
  lastChangeAt: number;
  lastUpdateAt: number;
  messages: Queued[];
  /** Posts and updates the card. */
  cardRunning?: Promise<void>;
  /** Sends the thread lines once the card is posted, on their own budget: never behind the card's update. */
  messagesRunning?: Promise<void>;
  /** Told when the card loop knows the card (or ends without it): thread lines wait for that only. */
  cardKnown: (() => void)[];
  postClaimUntil: number;
  cardFailures: number;
  messageFailures: number;
  ended: boolean;
}

type Step = 'post' | 'message' | 'update';

/**
 * Sends what people see in Slack, one lane per rollout card (and per channel, for cluster
 * alerts), each lane independent of the others:
 *
 * - the card is posted once (a claim across replicas, its `(channel, ts)` saved in the
 *   CardStore), then only updated: updates are coalesced to one per `updateIntervalMs`, and each
 *   renders the rollout's state as it is when sent, so the last state always wins;
 * - thread replies and alerts go out in the order given, each at most once (a claim per message),
 *   once the card is posted; they do not wait for the card's updates, nor these for them (posts
 *   and updates draw on different budgets, so a card waiting minutes for an update at 1,000 cards
 *   does not hold its thread back);
 * - every call waits for the shared budget through one `BudgetDrainer` per process;
 * - a 429 waits for its `Retry-After` and sends again (for the card: the latest state); other
 *   failures are retried with backoff, then given up and logged.
 *
 * `refresh` is fire-and-forget: a lost card update is made good by the next one (or `refresh` at
 * start). `reply` and `post` return a promise of delivery, so a caller that must not lose a
 * message (an alert effect) can keep it until it is sent: it resolves once the message is posted,
 * or its claim shows another replica or an earlier run took it; it rejects when the message is
 * given up (its claim is released first, so a replay sends it) or the lanes stop before it went.
 */
export class CardLanes {
  private readonly lanes = new Map<string, Lane>();
  /** Delivery of each message queued here, by claim key: the same message is queued once. */
  private readonly queued = new Map<string, Promise<void>>();
  /**
   * When each card was last updated, kept for `updateIntervalMs` after: an idle lane is dropped
   * (memory stays one lane per card with work), and its successor still paces by it.
   */
  private readonly lastUpdates = new Map<string, number>();
  private readonly abort = new AbortController();
  private readonly drainer: BudgetDrainer | undefined;
  /** This process in the shared budget: its tickets, and the owner of the card updates it sends. */
  private readonly replica = randomUUID();
  private readonly heartbeat: NodeJS.Timeout | undefined;
  private readonly updateIntervalMs: number;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly maxQueuedMessages: number;
  private readonly now: () => number;

  constructor(private readonly options: CardLanesOptions) {
    this.updateIntervalMs = options.updateIntervalMs ?? 1000;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.maxQueuedMessages = options.maxQueuedMessages ?? 200;
    this.now = options.now ?? Date.now;
    // Every sleeping lane listens to this signal; there is one lane per active rollout.
    setMaxListeners(0, this.abort.signal);
    this.drainer = options.budget
      ? new BudgetDrainer({
          budget: options.budget,
          replica: this.replica,
          logger: options.logger,
          signal: this.abort.signal,
          sleep: (ms, signal) => this.sleepOn(ms, signal),
        })
      : undefined;
    // The card updates this replica owns stay its own while it lives (one command per interval).
    const budget = options.budget;
    if (budget) {
      this.heartbeat = setInterval(() => {
        budget.alive(this.replica).catch((err: unknown) => {
          options.logger.warn({ err }, 'could not tell the Slack budget this replica is alive');
        });
      }, PENDING_OWNER_TTL_MS / 3);
      this.heartbeat.unref();
    }
  }

  /**
   * The card of `rolloutId` should show the latest state: post it if it never was, else update it.
   * Changes not sent yet coalesce into one update at the most urgent of their priorities.
   */
  refresh(rolloutId: string, priority: SlackPriority = 'transition'): void {
    const lane = this.laneOf(`rollout:${rolloutId}`, rolloutId);
    const now = this.now();
    if (!lane.dirty) {
      lane.dirty = true;
      lane.dirtySince = now;
      lane.updatePriority = priority;
    } else if (rank(priority) < rank(lane.updatePriority)) {
      lane.updatePriority = priority;
      // Its update may be waiting for the budget already: it moves up the line now.
      if (lane.card) this.drainer?.raised('chat.update', lane.card.channel, priority);
    }
    lane.lastChangeAt = now;
    lane.changes += 1;
    this.kick(lane);
  }

  /** What the lanes of this process hold: cards to update and messages to send. */
  depth(): { cards: number; messages: number } {
    let cards = 0;
    let messages = 0;
    for (const lane of this.lanes.values()) {
      if (lane.dirty) cards += 1;
      messages += lane.messages.length;
    }
    return { cards, messages };
  }

  /**
   * A reply in the card's thread (after the card is posted), in order after earlier ones.
   * Resolves when delivered (see the class comment); rejects when given up.
   */
  reply(rolloutId: string, message: LaneMessage): Promise<void> {
    return this.enqueue(`rollout:${rolloutId}`, rolloutId, { ...message });
  }

  /** A message in a channel, not tied to a card (a cluster alert). Settles as `reply` does. */
  post(channel: string, message: LaneMessage): Promise<void> {
    return this.enqueue(`channel:${channel}`, undefined, { ...message, channel });
  }

  /** Resolves once every lane has sent everything (or given it up). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.lanes.values()].flatMap((l) => runningOf(l));
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /** Lets lanes finish for up to `graceMs`, then stops them; anything unsent is dropped. */
  async stop(graceMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.idle(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    clearInterval(this.heartbeat);
    this.abort.abort();
    await Promise.allSettled([...this.lanes.values()].flatMap((l) => runningOf(l)));
    const unsent = [...this.lanes.values()].flatMap((l) => l.messages);
    this.lanes.clear();
    await Promise.all(
      unsent.map((m) => this.giveUp(m, new Error('Slack lanes stopped before sending it'))),
    );
  }

  private enqueue(laneKey: string, rolloutId: string | undefined, message: LaneMessage) {
    if (this.abort.signal.aborted) {
      return Promise.reject(new Error('Slack lanes stopped: not sending'));
    }
    const onceKey = `${message.claimGroup ?? ''} ${message.claimKey}`;
    const existing = this.queued.get(onceKey);
    if (existing) return existing;
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers that do not care (thread lines) may drop the promise: its rejection is logged here.
    promise.catch(() => undefined);
    const settled = () => this.queued.delete(onceKey);
    this.queued.set(onceKey, promise);
    const lane = this.laneOf(laneKey, rolloutId);
    const priority = message.priority ?? 'transition';
    const queued: Queued = {
      ...message,
      priority,
      queuedAt: this.now(),
      resolve: () => {
        settled();
        resolve();
      },
      reject: (err) => {
        settled();
        reject(err);
      },
    };
    // An alert goes before the lane's other messages (after earlier alerts); the rest keep order.
    // The first is left in place: it may be on its way to Slack.
    const at =
      priority === 'alert'
        ? lane.messages.findIndex((m, i) => i > 0 && m.priority !== 'alert')
        : -1;
    if (at === -1) lane.messages.push(queued);
    else lane.messages.splice(at, 0, queued);
    this.bound(lane);
    this.kick(lane);
    return promise;
  }

  /** Releases the message's claim (if this process took it), so a replay can send it, then rejects. */
  private async giveUp(message: Queued, err: Error): Promise<void> {
    if (message.claimed) {
      await this.options.claims
        .release(message.claimKey, message.claimGroup)
        .catch((releaseErr: unknown) =>
          this.options.logger.warn(
            { err: releaseErr, claimKey: message.claimKey },
            'could not release the claim of a message given up',
          ),
        );
    }
    message.reject(err);
  }

  /** Drops the oldest message that is not an alert while the lane holds too many. */
  private bound(lane: Lane): void {
    while (lane.messages.length > this.maxQueuedMessages) {
      const i = lane.messages.findIndex((m, n) => n > 0 && m.priority !== 'alert');
      if (i === -1) return;
      const [dropped] = lane.messages.splice(i, 1);
      this.options.logger.warn(
        { lane: lane.key, claimKey: dropped!.claimKey, held: this.maxQueuedMessages },
        'Slack lane full: dropping its oldest routine message',
      );
      void this.giveUp(dropped!, new Error(`Slack lane ${lane.key} full: message dropped`));
    }
  }

  private laneOf(key: string, rolloutId?: string): Lane {
    let lane = this.lanes.get(key);
    if (!lane) {
      const now = this.now();
      for (const [card, at] of this.lastUpdates)
        if (now - at >= this.updateIntervalMs) this.lastUpdates.delete(card);
      lane = {
        key,
        ...(rolloutId ? { rolloutId } : {}),
        dirty: false,
        changes: 0,
        marked: 0,
        owned: false,
        updatePriority: 'routine',
        dirtySince: now,
        lastChangeAt: now,
        lastUpdateAt: this.lastUpdates.get(key) ?? Number.NEGATIVE_INFINITY,
        messages: [],
        cardKnown: [],
        postClaimUntil: 0,
        cardFailures: 0,
        messageFailures: 0,
        ended: false,
      };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  private kick(lane: Lane): void {
    if (this.abort.signal.aborted) return;
    this.kickCard(lane);
    if (lane.messages.length > 0 && !lane.messagesRunning) {
      lane.messagesRunning = this.runMessages(lane).finally(() => {
        lane.messagesRunning = undefined;
        this.settle(lane);
      });
    }
  }

  private kickCard(lane: Lane): void {
    const cardWork = lane.rolloutId !== undefined && (!lane.card || lane.dirty);
    if (!cardWork || lane.cardRunning || this.abort.signal.aborted) return;
    lane.cardRunning = this.runCard(lane).finally(() => {
      lane.cardRunning = undefined;
      for (const told of lane.cardKnown.splice(0)) told();
      this.settle(lane);
    });
  }

  /** After a loop ends: start again what has work, or drop the lane once both are idle. */
  private settle(lane: Lane): void {
    if (this.abort.signal.aborted) return;
    if (lane.messages.length > 0 || lane.dirty) {
      this.kick(lane);
      return;
    }
    if (lane.cardRunning || lane.messagesRunning) return;
    // Idle: the card's place is in the CardStore, its pacing in `lastUpdates`.
    if (lane.lastUpdateAt > Number.NEGATIVE_INFINITY && !lane.ended)
      this.lastUpdates.set(lane.key, lane.lastUpdateAt);
    if (this.lanes.get(lane.key) === lane) this.lanes.delete(lane.key);
  }

  /** Posts the card if it never was, then sends each update it needs (the state as it is then). */
  private async runCard(lane: Lane): Promise<void> {
    const rolloutId = lane.rolloutId!;
    while (!this.abort.signal.aborted) {
      let step: Step = 'post';
      try {
        if (!lane.card) {
          const outcome = await this.ensureCard(lane, rolloutId);
          if (outcome === 'gone') return;
          if (outcome === 'ready') for (const told of lane.cardKnown.splice(0)) told();
          if (outcome === 'wait') await this.sleep(CARD_POLL_MS);
          continue;
        }
        if (!lane.dirty) return;
        step = 'update';
        const budget = this.options.budget;
        if (budget && lane.marked !== lane.changes) {
          const changes = lane.changes;
          const owned = await budget.markPending(rolloutId, this.replica, lane.updatePriority);
          lane.marked = changes;
          lane.owned = owned;
          if (!owned) {
            // Another replica owns this card's update: it sends the latest state when it sends.
            if (lane.changes === changes) lane.dirty = false;
            continue;
          }
        }
        const wait = lane.lastUpdateAt + this.updateIntervalMs - this.now();
        if (wait > 0) {
          await this.sleep(wait);
          continue;
        }
        if (!(await this.admit('chat.update', lane.card.channel, () => lane.updatePriority)))
          return;
        // Read before the state: a change on any replica after this makes `sent` say so.
        const generation = budget ? await budget.pendingGeneration(rolloutId, this.replica) : 0;
        if (generation === undefined) {
          // A more urgent change on another replica moved the update there: it sends it.
          lane.owned = false;
          if (lane.marked === lane.changes) lane.dirty = false;
          continue;
        }
        const { dirtySince, lastChangeAt, updatePriority } = lane;
        lane.dirty = false;
        lane.lastUpdateAt = this.now();
        const rendered = await this.options.render(rolloutId);
        if (rendered) {
          lane.ended = rendered.ended;
          await this.options.calls.update(lane.card.channel, lane.card.ts, rendered.view);
          this.options.onCardSent?.({ rolloutId, kind: 'update', at: lane.lastUpdateAt });
          this.options.onDelivered?.({
            kind: 'update',
            priority: updatePriority,
            queuedMs: lane.lastUpdateAt - dirtySince,
            latestMs: lane.lastUpdateAt - lastChangeAt,
          });
        }
        lane.cardFailures = 0;
        if (budget) {
          // Changed on another replica since the state was read: still ours, send again.
          if (await budget.sent(rolloutId, this.replica, generation)) lane.owned = false;
          else lane.dirty = true;
        }
      } catch (err) {
        if (this.abort.signal.aborted) return;
        await this.failed(lane, step, err);
      }
    }
  }

  /** Sends the lane's messages in order, in the card's thread (once it is posted) or its channel. */
  private async runMessages(lane: Lane): Promise<void> {
    while (!this.abort.signal.aborted) {
      const message = lane.messages[0];
      if (!message) return;
      if (lane.rolloutId !== undefined && !lane.card) {
        // A thread needs its card: wait for the card's loop to post it. (Only the card's loop is
        // started here: this loop is being started, its `messagesRunning` not set yet.)
        await Promise.resolve();
        this.kickCard(lane);
        if (!lane.cardRunning) return;
        await new Promise<void>((resolve) => lane.cardKnown.push(resolve));
        if (!lane.card && !lane.cardRunning) return;
        continue;
      }
      try {
        if (
          !(await this.admit('chat.postMessage', this.channelOf(lane, message), message.priority))
        )
          return;
        await this.send(lane, message);
        lane.messages.shift();
        lane.messageFailures = 0;
        this.options.onDelivered?.({
          kind: 'message',
          priority: message.priority,
          queuedMs: this.now() - message.queuedAt,
        });
        message.resolve();
      } catch (err) {
        if (this.abort.signal.aborted) return;
        await this.failed(lane, 'message', err);
      }
    }
  }

  /** Waits for the budget's word to make one call; false when the lanes stop first. */
  private async admit(
    method: string,
    channel: string,
    priority: SlackPriority | (() => SlackPriority),
  ): Promise<boolean> {
    if (!this.drainer) return !this.abort.signal.aborted;
    return this.drainer.admit(method, channel, priority);
  }

  private channelOf(lane: Lane, message: Queued): string {
    const channel = lane.card?.channel ?? message.channel;
    if (!channel) throw new Error(`lane ${lane.key}: a message without a channel`);
    return channel;
  }

  /** Posts the card unless it exists; `wait` while another replica posts it, `gone` without a rollout. */
  private async ensureCard(lane: Lane, rolloutId: string): Promise<'ready' | 'wait' | 'gone'> {
    const stored = await this.options.cards.get(rolloutId);
    if (stored) {
      lane.card = stored;
      return 'ready';
    }
    if (this.now() >= lane.postClaimUntil) {
      if (!(await this.options.claims.claim(`card-post:${rolloutId}`, POST_CLAIM_MS)))
        return 'wait';
      lane.postClaimUntil = this.now() + POST_CLAIM_MS;
    }
    const rendered = await this.options.render(rolloutId);
    if (!rendered?.channel) {
      this.options.logger.warn(
        { rolloutId },
        'no card posted: the rollout or its service channel is unknown',
      );
      lane.dirty = false;
      const dropped = lane.messages;
      lane.messages = [];
      await Promise.all(
        dropped.map((m) => this.giveUp(m, new Error(`no card for rollout ${rolloutId}`))),
      );
      return 'gone';
    }
    const priority =
      rank(lane.updatePriority) < rank('transition') ? lane.updatePriority : 'transition';
    if (!(await this.admit('chat.postMessage', rendered.channel, priority))) return 'wait';
    const { dirtySince, lastChangeAt, updatePriority } = lane;
    // Cleared before the state is read: a change from now on makes the card dirty again. Read
    // again after the wait for the budget: the rollout may have moved on (or ended) meanwhile.
    lane.dirty = false;
    const latest = (await this.options.render(rolloutId)) ?? rendered;
    const posted = await this.options.calls.postMessage({
      channel: rendered.channel,
      text: latest.view.text,
      blocks: latest.view.blocks,
    });
    lane.lastUpdateAt = this.now();
    this.options.onCardSent?.({ rolloutId, kind: 'post', at: lane.lastUpdateAt });
    this.options.onDelivered?.({
      kind: 'post',
      priority: updatePriority,
      queuedMs: lane.lastUpdateAt - dirtySince,
      latestMs: lane.lastUpdateAt - lastChangeAt,
    });
    lane.ended = latest.ended;
    lane.card = await this.options.cards.save(rolloutId, posted);
    if (lane.card.ts !== posted.ts) {
      this.options.logger.warn(
        { rolloutId, kept: lane.card, extra: posted },
        'another replica saved a card first; this one is a duplicate',
      );
    }
    return 'ready';
  }

  /** Gives up owning the card's pending update (it cannot be sent): changes so far are dropped. */
  private async disown(lane: Lane): Promise<void> {
    const budget = this.options.budget;
    if (!budget || !lane.owned || !lane.rolloutId) return;
    lane.owned = false;
    try {
      const generation = await budget.pendingGeneration(lane.rolloutId, this.replica);
      if (generation !== undefined) await budget.sent(lane.rolloutId, this.replica, generation);
    } catch (err) {
      this.options.logger.warn({ err, lane: lane.key }, 'could not give up a card update');
    }
  }

  /** Posts the message, or finds its claim taken (sent by another replica or an earlier run). */
  private async send(lane: Lane, message: Queued): Promise<void> {
    if (!message.claimed) {
      const ttlMs = message.claimTtlMs ?? MESSAGE_CLAIM_MS;
      if (!(await this.options.claims.claim(message.claimKey, ttlMs, message.claimGroup))) return;
      message.claimed = true;
    }
    const channel = this.channelOf(lane, message);
    await this.options.calls.postMessage({
      channel,
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks } : {}),
      ...(lane.card ? { threadTs: lane.card.ts } : {}),
      ...(message.broadcast ? { broadcast: true } : {}),
    });
  }

  private async failed(lane: Lane, step: Step, err: unknown): Promise<void> {
    if (step === 'update') lane.dirty = true;
    if (err instanceof SlackRateLimitedError) {
      this.options.logger.info(
        { lane: lane.key, method: err.method, retryAfterMs: err.retryAfterMs },
        'Slack rate limit: waiting, then sending the latest',
      );
      const budget = this.options.budget;
      // Shared: every replica holds back this method until Slack's Retry-After has passed.
      if (budget) {
        try {
          await budget.pause(err.method, err.retryAfterMs);
          return;
        } catch (pauseErr) {
          this.options.logger.warn({ err: pauseErr }, 'could not share a Slack pause');
        }
      }
      await this.sleep(err.retryAfterMs);
      return;
    }
    const counter = step === 'message' ? 'messageFailures' : 'cardFailures';
    const failures = (lane[counter] += 1);
    const permanent =
      err instanceof SlackCallError &&
      err.slackError !== undefined &&
      !TRANSIENT.has(err.slackError);
    // Only an alert has a caller that keeps it and sends it again; the card and thread lines are
    // retried here until Slack is back (it shows the latest state then), so nothing is lost.
    const givesUp = step === 'message' && lane.messages[0]?.priority === 'alert';
    if (permanent || (givesUp && failures >= this.maxAttempts)) {
      this.options.logger.error(
        { err, lane: lane.key, step, attempts: failures },
        `giving up a Slack ${step}`,
      );
      lane[counter] = 0;
      const reason = new Error(`Slack ${step} given up`, { cause: err });
      if (step === 'message') {
        const message = lane.messages.shift();
        if (message) await this.giveUp(message, reason);
      }
      if (step === 'update') {
        lane.dirty = false;
        await this.disown(lane);
      }
      // The lane stays (with its post claim): the next refresh tries to post the card again.
      if (step === 'post') {
        const dropped = lane.messages;
        lane.messages = [];
        lane.dirty = false;
        await Promise.all(dropped.map((m) => this.giveUp(m, reason)));
      }
      return;
    }
    this.options.logger.warn(
      { err, lane: lane.key, step, attempt: failures },
      'Slack call failed; retrying',
    );
    await this.sleep(
      Math.min(this.maxRetryDelayMs, this.retryDelayMs * 2 ** Math.min(20, failures - 1)),
    );
  }

  private async sleep(ms: number): Promise<void> {
    try {
      await this.sleepOn(ms, this.abort.signal);
    } catch {
      // Aborted by stop(): the loop sees the signal and ends.
    }
  }

  private async sleepOn(ms: number, signal: AbortSignal): Promise<void> {
    if (this.options.sleep) await this.options.sleep(ms, signal);
    else await sleepFor(ms, undefined, { signal });
  }
}

function runningOf(lane: Lane): Promise<void>[] {
  return [lane.cardRunning, lane.messagesRunning].filter((r): r is Promise<void> => !!r);
}

/** Slack errors worth trying again; anything else Slack answered will not change on its own. */
const TRANSIENT = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
]);
