import { afterEach, describe, expect, it } from 'vitest';
import { threadLine } from '../../bot/slack/thread-lines.js';
import type { RolloutState } from '../../shared/rollout/state.js';
import { waitFor } from '../support/wait-for.js';
import { CHANNELS, SLACK_PEOPLE } from '../support/slack-policy.js';
import { startSlackProduct, type SlackProduct } from '../support/slack-product.js';
import {
  ENDED,
  buttonsOf,
  startedId,
  waitForCard,
  waitForCardWhere,
  waitForStatus,
} from './slack-helpers.js';

const channel = CHANNELS.checkout;

describe('Slack rate limits', () => {
  let product: SlackProduct | undefined;
  afterEach(async () => {
    await product?.stop();
    product = undefined;
  });

  it('waits out 429s: the final card still arrives and nothing is posted twice', async () => {
    product = await startSlackProduct();
    const p = product;
    const id = startedId(
      await p.slack.ask('start checkout 2.5.0', { user: SLACK_PEOPLE.STARTER, channel }),
    );
    const card = await waitForCard(p, channel);
    // From now on, for a while, Slack refuses every post and update with Retry-After: 1.
    p.api.rateLimit({
      methods: ['chat.postMessage', 'chat.update'],
      retryAfterSeconds: 1,
      forMs: 2_500,
    });
    const done = await waitForStatus(p, id, ENDED);
    expect(done.status).toBe('succeeded');
    const final = await waitForCardWhere(p, channel, 'success', (c) =>
      c.text.includes('succeeded'),
    );
    await p.surface.idle();

    expect(p.api.calls().filter((c) => c.status === 429).length).toBeGreaterThan(0);
    expect(final.ts).toBe(card.ts);
    expect(buttonsOf(final)).toEqual([]);
    expect(p.api.channelMessages(channel)).toHaveLength(1);
    await expectWholeThread(p, done, card.ts);

    const metrics = await (await fetch(`${p.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /rollout_slack_api_rate_limited_total\{method="chat\.(update|postMessage)"\} [1-9]/,
    );
  });

  it('Slack down for a whole rollout, then 429s with no usable Retry-After: the rollout does not wait, and nothing is lost', async () => {
    product = await startSlackProduct({ tuning: { retryAfter: { missingMs: 300 } } });
    const p = product;
    const id = startedId(
      await p.slack.ask('start checkout 2.5.0', { user: SLACK_PEOPLE.STARTER, channel }),
    );
    const card = await waitForCard(p, channel);
    p.api.setUnavailable(true);
    // Never on the critical path: the rollout runs to its end while no Slack call goes through.
    const done = await waitForStatus(p, id, ENDED);
    expect(done.status).toBe('succeeded');
    expect(p.api.calls().filter((c) => c.status === 503).length).toBeGreaterThan(0);
    expect(p.api.message(channel, card.ts)!.text).not.toContain('succeeded');
    p.api.setUnavailable(false);
    p.api.rateLimit({
      methods: ['chat.postMessage', 'chat.update'],
      retryAfterSeconds: 1,
      retryAfterHeader: 'soon',
      forMs: 1_000,
    });
    await waitFor(() => p.api.calls().some((c) => c.status === 429), {
      what: 'a 429 with a garbage Retry-After',
    });
    const final = await waitForCardWhere(p, channel, 'success', (c) =>
      c.text.includes('succeeded'),
    );
    await p.surface.idle();
    expect(final.ts).toBe(card.ts);
    expect(buttonsOf(final)).toEqual([]);
    expect(p.api.channelMessages(channel)).toHaveLength(1);
    await expectWholeThread(p, done, card.ts);
  });
});

/** The thread holds each transition's line exactly once, in order: none lost, none repeated. */
async function expectWholeThread(p: SlackProduct, done: RolloutState, cardTs: string) {
  const trail = await p.local.bot.service.auditTrail(done.id);
  const expected = trail
    .filter((e) => e.input !== 'denied')
    .map((e) =>
      threadLine(done, {
        actor: e.actor,
        input: e.input as Exclude<typeof e.input, 'denied'>,
        version: e.version,
        status: e.status,
        ...(e.detail ? { detail: e.detail } : {}),
      }),
    )
    .filter((line): line is string => line !== undefined);
  expect(p.api.thread(channel, cardTs).map((m) => m.text)).toEqual(expected);
}
