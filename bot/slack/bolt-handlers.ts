import { performance } from 'node:perf_hooks';
import type { App, BlockAction, ButtonAction, RespondFn } from '@slack/bolt';
import type { Logger } from '../../shared/log.js';
import type { CardStore } from '../../shared/ports/card-store.js';
import { CARD_ACTIONS, type CardAction } from './card.js';
import { clickOrigin, isFromCard, NotOnCardError } from './card-origin.js';
import { parseCommand } from './command-parser.js';
import type { SurfaceMetrics } from './metrics.js';
import { refusalText } from './replies.js';
import type { Reply, RolloutCommands } from './rollout-commands.js';

export const SLASH_COMMAND = '/rollout';

/** Set by the request guard on each HTTP request: when it arrived (`performance.now()`). */
export const RECEIVED_AT = 'rolloutReceivedAt';

export interface HandlerDeps {
  commands: RolloutCommands;
  /** Where each rollout's card is: a click is taken only from that message. */
  cards: Pick<CardStore, 'get'>;
  metrics: SurfaceMetrics;
  logger: Logger;
}

/**
 * `/rollout` and the card's buttons. Every handler acks first (Slack allows 3 seconds) and does
 * the work after, answering by `respond()` (the request's response_url), always ephemeral. Input
 * that is wrong on its face (a parse error, `help`) is answered in the ack itself.
 */
export function registerHandlers(app: App, deps: HandlerDeps): void {
  const { commands, cards, metrics, logger } = deps;

  app.command(SLASH_COMMAND, async ({ command, ack, respond, context }) => {
    const started = receivedAt(context);
    const parsed = parseCommand(command.text ?? '');
    if (!parsed.ok) {
      await ack({ response_type: 'ephemeral', text: `:warning: ${parsed.error}` });
      observeAck(metrics, 'command', started);
      metrics.commands.inc({ subcommand: 'parse', result: 'refused' });
      return;
    }
    if (parsed.command.type === 'help') {
      const reply = await commands.execute(parsed.command, requester(command));
      await ack({ response_type: 'ephemeral', text: reply.text });
      observeAck(metrics, 'command', started);
      return;
    }
    await ack();
    observeAck(metrics, 'command', started);
    await afterTheAckIsOut();
    const reply = await commands.execute(parsed.command, requester(command));
    await answer(respond, reply, logger);
  });

  const actionIds = new RegExp(`^(${Object.values(CARD_ACTIONS).join('|')})$`);
  app.action<BlockAction<ButtonAction>>(
    { type: 'block_actions', action_id: actionIds },
    async ({ ack, body, action, respond, context }) => {
      const started = receivedAt(context);
      await ack();
      observeAck(metrics, 'action', started);
      await afterTheAckIsOut();
      const kind = (Object.entries(CARD_ACTIONS).find(([, id]) => id === action.action_id)?.[0] ??
        'abort') as CardAction;
      const rolloutId = action.value ?? '';
      const who = { userId: body.user.id, channelId: body.channel?.id ?? '' };
      const refusal = rolloutId
        ? await notFromCard(cards, rolloutId, clickOrigin(body), who.userId, kind, logger)
        : refusalText(new Error('button without a rollout id'));
      const reply = refusal
        ? { text: refusal, refused: true }
        : await commands.act(kind, rolloutId, who, kind === 'abort' ? 'from the card' : undefined);
      // A click that worked shows on the card and in its thread; only refusals need an answer.
      if (reply.refused) await answer(respond, reply, logger);
    },
  );
}

/**
 * A refusal when the click did not come from the card the bot posted for the rollout (its
 * channel and message ts as stored), else `undefined`. When the card cannot be read the click is
 * refused too: a button must not move traffic on a check that was not made.
 */
async function notFromCard(
  cards: Pick<CardStore, 'get'>,
  rolloutId: string,
  origin: ReturnType<typeof clickOrigin>,
  userId: string,
  kind: CardAction,
  logger: Logger,
): Promise<string | undefined> {
  let card;
  try {
    card = await cards.get(rolloutId);
  } catch (err) {
    logger.error({ err, rolloutId }, 'could not read the card of a clicked rollout');
    return refusalText(err);
  }
  if (isFromCard(origin, card)) return undefined;
  logger.warn(
    { audit: 'denied', rolloutId, user: userId, action: kind, origin, card: card ?? null },
    'button click refused: not from the rollout card',
  );
  return refusalText(new NotOnCardError(rolloutId, card));
}

/**
 * `ack()` ends the HTTP response, but its bytes leave only when the event loop next does I/O; the
 * work after it (planning, the store, the state machine) runs in promise callbacks that would
 * hold them back. Yield once so Slack gets its ack first.
 */
function afterTheAckIsOut(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function requester(command: { user_id: string; channel_id: string }) {
  return { userId: command.user_id, channelId: command.channel_id };
}

async function answer(respond: RespondFn, reply: Reply, logger: Logger): Promise<void> {
  try {
    await respond({
      response_type: 'ephemeral',
      replace_original: false,
      text: reply.text,
      ...(reply.blocks ? { blocks: reply.blocks } : {}),
    });
  } catch (err) {
    logger.warn({ err }, 'could not answer through response_url');
  }
}

function receivedAt(context: Record<string, unknown>): number {
  const at = context[RECEIVED_AT];
  return typeof at === 'number' ? at : performance.now();
}

function observeAck(metrics: SurfaceMetrics, kind: 'command' | 'action', started: number): void {
  metrics.ackSeconds.observe({ kind }, (performance.now() - started) / 1000);
}
