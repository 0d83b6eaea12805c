import { RolloutError } from '../../shared/errors.js';
import type { CardRef } from '../../shared/ports/card-store.js';

/**
 * Where a button click says it came from. A click is signed by Slack, but the payload names the
 * message the button was on, and a button with our action id and a rollout id in its value can
 * be put on any message (another service's channel, a message a person posted, a forged
 * payload replayed elsewhere). Only the card the bot posted for that rollout may move it.
 */
export interface ClickOrigin {
  /** Every channel id the payload names (`channel.id`, `container.channel_id`). */
  channels: string[];
  /** Every message ts the payload names (`message.ts`, `container.message_ts`). */
  messageTs: string[];
}

interface ClickBody {
  channel?: { id?: string } | null;
  message?: { ts?: string } | null;
  container?: { channel_id?: string; message_ts?: string } | null;
}

export function clickOrigin(body: ClickBody): ClickOrigin {
  const present = (values: (string | undefined)[]) =>
    values.filter((v): v is string => typeof v === 'string' && v !== '');
  return {
    channels: present([body.channel?.id, body.container?.channel_id]),
    messageTs: present([body.message?.ts, body.container?.message_ts]),
  };
}

/**
 * True when the click came from the rollout's card: the payload names at least one channel and
 * one message, and every one it names is the card's. A payload whose parts disagree is refused:
 * Slack never sends one.
 */
export function isFromCard(origin: ClickOrigin, card: CardRef | undefined): card is CardRef {
  if (!card) return false;
  if (origin.channels.length === 0 || origin.messageTs.length === 0) return false;
  return (
    origin.channels.every((c) => c === card.channel) &&
    origin.messageTs.every((ts) => ts === card.ts)
  );
}

/** A button click that did not come from the card the bot posted for the rollout it names. */
export class NotOnCardError extends RolloutError {
  constructor(
    readonly rolloutId: string,
    readonly card: CardRef | undefined,
  ) {
    super(
      'not_on_card',
      `this button is not on the card of rollout ${rolloutId}, so nothing was done` +
        (card
          ? `; use the buttons on its card in <#${card.channel}>, or /rollout approve|pause|resume|abort ${rolloutId}`
          : `; use /rollout approve|pause|resume|abort ${rolloutId}`),
    );
  }
}
