import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisCardStore } from '../../bot/adapters/redis-card-store.js';
import { RedisOnceClaims } from '../../bot/adapters/redis-once-claims.js';
import { CARD_ACTIONS } from '../../bot/slack/card.js';
import { privateRedis } from '../support/redis-adapters.js';
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

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

const channel = CHANNELS.payments;

describe('the Slack surface restarted mid-rollout', () => {
  let product: SlackProduct | undefined;
  afterEach(async () => {
    await product?.stop();
    product = undefined;
  });

  it('keeps updating the same card, found in the Redis card store', async () => {
    const prefix = redis.prefix();
    product = await startSlackProduct({
      cards: new RedisCardStore(redis.client(), prefix),
      claims: new RedisOnceClaims(redis.client(), prefix),
    });
    const p = product;
    const id = startedId(
      await p.slack.ask('start payments 1.1.0', { user: SLACK_PEOPLE.STARTER, channel }),
    );
    await waitForStatus(p, id, ['awaiting_approval']);
    const card = await waitForCardWhere(p, channel, 'the approve button', (c) =>
      buttonsOf(c).includes(CARD_ACTIONS.approve),
    );
    const portBefore = p.baseUrl;

    // A new Bolt app, notifier and card lanes: nothing of the first surface survives but Redis.
    await p.restartSurface();
    expect(p.baseUrl).not.toBe(portBefore);

    const click = await p.slack.click(CARD_ACTIONS.approve, id, {
      user: SLACK_PEOPLE.LEAD,
      channel,
      messageTs: card.ts,
    });
    expect(click.status).toBe(200);
    const done = await waitForStatus(p, id, ENDED);
    expect(done.status).toBe('succeeded');
    const final = await waitForCardWhere(p, channel, 'success', (c) =>
      c.text.includes('succeeded'),
    );
    await p.surface.idle();

    expect(final.ts).toBe(card.ts);
    expect(buttonsOf(final)).toEqual([]);
    expect(cardText(final)).toContain('*Succeeded*');
    expect(p.api.channelMessages(channel)).toHaveLength(1);
    const posts = p.api.calls('chat.postMessage').filter((c) => c.status === 200);
    expect(posts.filter((c) => c.args.thread_ts === undefined)).toHaveLength(1);
    await waitFor(
      () =>
        p.api.thread(channel, card.ts).some((m) => m.text.includes('<@U0LEAD> approved; going on')),
      { what: 'the approval in the original thread' },
    );
    expect(await new RedisCardStore(redis.client(), prefix).get(id)).toEqual({
      channel,
      ts: card.ts,
    });
  });
});
