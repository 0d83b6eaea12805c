/**
 * How long after a rollout's last transition its Slack card showed it: the "card
 * freshness" (target p99 under 10 s at 1,000 × 10). Read off the Slack double's calls, with no
 * hook into the bot: a card is a `chat.postMessage` or `chat.update` whose last context block says
 * `` `<rollout id>` · updated <!date^SECONDS^…> `` (`renderCard`), and its `text` ends the rollout
 * when it says one of the terminal outcomes (`describeStatus`). The delay is the call's time less
 * that `updated` time, the time of the rollout's last transition, so it is whole seconds rounded
 * down on the transition's side: up to a second longer than the truth, never shorter.
 */

/** `cardText` of a terminal status: "<service> <version>: succeeded: …" and the like. */
const ENDED = /^\S+ \S+: (succeeded|rolled back|aborted|failed)\b/;
const STAMP = /`([^`\s]+)` · updated <!date\^(\d+)\^/;

export interface CardCall {
  method: string;
  status: number;
  at: number;
  args: Record<string, unknown>;
}

/**
 * The thread line of a rollout's last transition ends with one of these (`ENDING` in
 * bot/slack/thread-lines.ts): what a person reads in the card's thread when the card itself cannot
 * be updated in time (Slack allows about 50 `chat.update` a minute per workspace).
 */
const ENDING_LINE = /\*The rollout (succeeded|was rolled back|was aborted|failed)[.:]/;

/** A posted Slack message as the double keeps it. */
export interface PostedMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  blocks?: unknown[];
  postedAt: number;
}

/** The rollout id a card (a top-level message) is for, from its stamp; undefined if not a card. */
export function cardRolloutId(message: PostedMessage): string | undefined {
  if (message.threadTs !== undefined) return undefined;
  return STAMP.exec(JSON.stringify(message.blocks ?? []))?.[1];
}

/**
 * Per rollout, ms from its end (`endedAt`, its last transition) to the first reply in its card's
 * thread that says it ended. Rollouts without such a reply are left out.
 */
export function endLineDelays(
  messages: readonly PostedMessage[],
  endedAt: ReadonlyMap<string, number>,
): Map<string, number> {
  const cards = new Map<string, string>();
  for (const m of messages) {
    const id = cardRolloutId(m);
    if (id !== undefined) cards.set(`${m.channel} ${m.ts}`, id);
  }
  const delays = new Map<string, number>();
  for (const m of messages) {
    if (m.threadTs === undefined || !ENDING_LINE.test(m.text)) continue;
    const id = cards.get(`${m.channel} ${m.threadTs}`);
    const end = id === undefined ? undefined : endedAt.get(id);
    if (id === undefined || end === undefined || delays.has(id)) continue;
    delays.set(id, Math.max(0, m.postedAt - end));
  }
  return delays;
}

/** Per rollout, the first card that showed it ended, as ms after its last transition. */
export class CardFreshness {
  private readonly delays = new Map<string, number>();

  /** Looks at one Slack call; anything but a delivered card showing an ended rollout is ignored. */
  observe(call: CardCall): void {
    if (call.status !== 200) return;
    if (call.method !== 'chat.update' && call.method !== 'chat.postMessage') return;
    const text = call.args.text;
    if (typeof text !== 'string' || !ENDED.test(text)) return;
    const stamp = STAMP.exec(JSON.stringify(call.args.blocks ?? []));
    if (!stamp) return;
    const [, rolloutId, seconds] = stamp;
    if (!this.delays.has(rolloutId!))
      this.delays.set(rolloutId!, Math.max(0, call.at - Number(seconds) * 1000));
  }

  /** Delays in ms, one per rollout whose card showed it ended. */
  values(): number[] {
    return [...this.delays.values()];
  }
}
