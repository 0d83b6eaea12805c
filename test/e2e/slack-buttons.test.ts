import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CARD_ACTIONS } from '../../bot/slack/card.js';
import { CHANNELS, SLACK_PEOPLE } from '../support/slack-policy.js';
import { startSlackProduct, type SlackProduct } from '../support/slack-product.js';
import { waitFor } from '../support/wait-for.js';
import {
  ENDED,
  buttonsOf,
  cardText,
  startedId,
  waitForCardWhere,
  waitForStatus,
} from './slack-helpers.js';

const { STARTER, LEAD, OUTSIDER, GROUP_LEAD } = SLACK_PEOPLE;
const channel = CHANNELS.payments;

/** The card's buttons, clicked through Bolt's HTTP endpoint as Slack sends the clicks. */
describe('card buttons over HTTP', () => {
  let product: SlackProduct;
  beforeEach(async () => {
    product = await startSlackProduct();
  });
  afterEach(async () => {
    await product.stop();
  });

  async function startPayments(): Promise<string> {
    return startedId(await product.slack.ask('start payments 1.1.0', { user: STARTER, channel }));
  }

  async function click(action: keyof typeof CARD_ACTIONS, id: string, user: string) {
    const card = product.api.channelMessages(channel)[0]!;
    return product.slack.click(CARD_ACTIONS[action], id, { user, channel, messageTs: card.ts });
  }

  it('refuses the starter (four-eyes) and an outsider, audits both, and lets a group lead approve', async () => {
    const id = await startPayments();
    await waitForStatus(product, id, ['awaiting_approval']);
    const card = await waitForCardWhere(product, channel, 'the approve button', (c) =>
      buttonsOf(c).includes(CARD_ACTIONS.approve),
    );
    expect(buttonsOf(card)).toEqual([CARD_ACTIONS.approve, CARD_ACTIONS.pause, CARD_ACTIONS.abort]);
    expect(cardText(card)).toContain('approval(s) needed from <@U0LEAD>, <!subteam^S0LEADS>');

    const own = await click('approve', id, STARTER);
    expect(own.status).toBe(200);
    expect(await product.slack.reply(own)).toContain('started payments 1.1.0');
    expect(await product.slack.reply(own)).toContain('cannot approve it (four-eyes)');

    const outsider = await click('approve', id, OUTSIDER);
    expect(await product.slack.reply(outsider)).toContain(
      '<@U0OUTSIDER> may not approve stage 2/3 (50%)',
    );
    // Refusals are answered only to the person who clicked, and never replace the card.
    for (const post of product.api.responses()) {
      expect(post.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    }
    const denied = (await product.local.bot.service.auditTrail(id)).filter(
      (e) => e.input === 'denied',
    );
    expect(denied.map((d) => d.actor)).toEqual([`user:${STARTER}`, `user:${OUTSIDER}`]);
    expect((await product.local.bot.service.get(id))?.status).toBe('awaiting_approval');

    const approved = await click('approve', id, GROUP_LEAD);
    expect(approved.status).toBe(200);
    const done = await waitForStatus(product, id, ENDED);
    expect(done.status).toBe('succeeded');
    // A click that worked is answered by the card and its thread, not by an ephemeral message.
    expect(product.api.responses(approved.responseUrl)).toEqual([]);
    const final = await waitForCardWhere(product, channel, 'success', (c) =>
      c.text.includes('succeeded'),
    );
    expect(buttonsOf(final)).toEqual([]);
    await waitFor(
      () =>
        product.api
          .thread(channel, final.ts)
          .some((m) => m.text.includes('<@U0GROUPLEAD> approved; going on')),
      { what: 'the approval in the thread' },
    );
  });

  it('pauses and resumes from the card, and aborts after an outsider is refused', async () => {
    const id = await startPayments();
    await waitForStatus(product, id, ['awaiting_approval']);

    await click('pause', id, LEAD);
    await waitForStatus(product, id, ['paused']);
    const paused = await waitForCardWhere(product, channel, 'the resume button', (c) =>
      buttonsOf(c).includes(CARD_ACTIONS.resume),
    );
    expect(buttonsOf(paused)).toEqual([CARD_ACTIONS.resume, CARD_ACTIONS.abort]);

    await click('resume', id, LEAD);
    await waitForStatus(product, id, ['awaiting_approval']);

    const refused = await click('abort', id, OUTSIDER);
    expect(await product.slack.reply(refused)).toContain(
      'you may not abort rollouts of payments; ask one of <@U0LEAD>, <@U0STARTER>',
    );
    expect((await product.local.bot.service.get(id))?.status).toBe('awaiting_approval');

    await click('abort', id, LEAD);
    const done = await waitForStatus(product, id, ENDED);
    expect(done.status).toBe('aborted');
    const final = await waitForCardWhere(product, channel, 'the abort', (c) =>
      c.text.includes('aborted'),
    );
    expect(buttonsOf(final)).toEqual([]);
    expect(cardText(final)).toContain('*Aborted* by <@U0LEAD>, back on `1.0.0`');
    expect(cardText(final)).toContain('aborted by <@U0LEAD>: from the card');
    // Slack takes one post a second per channel, and the card goes before the thread's lines.
    await product.surface.idle();
    const thread = product.api.thread(channel, final.ts).map((m) => m.text);
    expect(thread).toEqual(
      expect.arrayContaining([
        ':double_vertical_bar: <@U0LEAD> paused the rollout',
        ':arrow_forward: <@U0LEAD> resumed the rollout',
      ]),
    );
  });

  it('refuses a click whose payload names another channel or another message than the card, and takes the genuine one', async () => {
    const id = await startPayments();
    await waitForStatus(product, id, ['awaiting_approval']);
    const card = await waitForCardWhere(product, channel, 'the approve button', (c) =>
      buttonsOf(c).includes(CARD_ACTIONS.approve),
    );
    const forgedChannel = await product.slack.click(CARD_ACTIONS.approve, id, {
      user: GROUP_LEAD,
      channel: CHANNELS.checkout,
      messageTs: card.ts,
    });
    expect(await product.slack.reply(forgedChannel)).toContain(
      `this button is not on the card of rollout ${id}, so nothing was done`,
    );
    const forgedTs = await product.slack.click(CARD_ACTIONS.approve, id, {
      user: GROUP_LEAD,
      channel,
      messageTs: '1111111111.000001',
    });
    expect(await product.slack.reply(forgedTs)).toContain(`its card in <#${channel}>`);
    const noMessage = await product.slack.click(CARD_ACTIONS.abort, id, { user: LEAD, channel });
    expect(await product.slack.reply(noMessage)).toContain('not on the card');
    expect((await product.local.bot.service.get(id))?.status).toBe('awaiting_approval');
    expect((await product.local.bot.service.get(id))?.approvals).toEqual([]);
    const warned = product.logs.filter((l) => l.includes('not from the rollout card'));
    expect(warned).toHaveLength(3);
    expect(warned.every((l) => JSON.parse(l).level === 'warn' || JSON.parse(l).level === 40)).toBe(
      true,
    );

    await product.slack.click(CARD_ACTIONS.approve, id, {
      user: GROUP_LEAD,
      channel,
      messageTs: card.ts,
    });
    expect((await waitForStatus(product, id, ENDED)).status).toBe('succeeded');
  });

  it('refuses a click on a rollout that has ended, saying so', async () => {
    const id = await startPayments();
    await waitForStatus(product, id, ['awaiting_approval']);
    await click('abort', id, LEAD);
    await waitForStatus(product, id, ENDED);
    const late = await click('pause', id, LEAD);
    expect(await product.slack.reply(late)).toContain('has ended');
  });
});
