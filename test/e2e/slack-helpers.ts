import type { RolloutState, RolloutStatus } from '../../shared/rollout/state.js';
import type { SlackMessage } from '../support/slack-api-double.js';
import type { SlackProduct } from '../support/slack-product.js';
import { blocksText } from '../support/slack-requests.js';
import { waitFor } from '../support/wait-for.js';

export const ENDED: RolloutStatus[] = ['succeeded', 'rolled_back', 'aborted', 'failed'];

/** The rollout id in a "Started `checkout-3f9a1c`" reply. */
export function startedId(reply: string): string {
  const id = /Started `([a-z0-9-]+)`/.exec(reply)?.[1];
  if (!id) throw new Error(`not a start confirmation: ${reply}`);
  return id;
}

export async function waitForStatus(
  product: SlackProduct,
  rolloutId: string,
  statuses: RolloutStatus[],
): Promise<RolloutState> {
  return waitFor(
    async () => {
      const state = await product.local.bot.service.get(rolloutId);
      return state && statuses.includes(state.status) ? state : undefined;
    },
    { what: `rollout ${rolloutId} to be ${statuses.join(' or ')}`, timeoutMs: 30_000 },
  );
}

/** The channel's one card, once it was posted. */
export async function waitForCard(product: SlackProduct, channel: string): Promise<SlackMessage> {
  return waitFor(() => product.api.channelMessages(channel)[0], {
    what: `a card in ${channel}`,
  });
}

/** Waits until the card (as Slack shows it now) satisfies `test`. */
export async function waitForCardWhere(
  product: SlackProduct,
  channel: string,
  what: string,
  test: (card: SlackMessage) => boolean,
): Promise<SlackMessage> {
  return waitFor(
    () => {
      const card = product.api.channelMessages(channel)[0];
      return card && test(card) ? card : undefined;
    },
    { what: `the card in ${channel} to show ${what}`, timeoutMs: 30_000 },
  );
}

/** The action ids of the card's buttons. */
export function buttonsOf(card: SlackMessage): string[] {
  const actions = (card.blocks ?? []).find(
    (b): b is { type: 'actions'; elements: { action_id: string }[] } =>
      (b as { type?: string }).type === 'actions',
  );
  return actions?.elements.map((e) => e.action_id) ?? [];
}

export function cardText(card: SlackMessage): string {
  return `${card.text}\n${blocksText(card.blocks ?? [])}`;
}

/** Nothing reached the agents: no command on any cluster's topic. */
export function commandsPublished(product: SlackProduct): number {
  return ['eu-west', 'us-east']
    .map((c) => product.local.broker.produced(`rollout.commands.${c}`))
    .reduce((a, b) => a + b, 0);
}
