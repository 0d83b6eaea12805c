import { afterEach, describe, expect, it } from 'vitest';
import type { CardSent } from '../../bot/slack/card-lanes.js';
import { threadLine } from '../../bot/slack/thread-lines.js';
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

const { STARTER } = SLACK_PEOPLE;
const channel = CHANNELS.checkout;

/** What people in the channel see of whole rollouts: one card, its thread, the alerts. */
describe('a rollout seen from Slack', () => {
  let product: SlackProduct | undefined;
  afterEach(async () => {
    await product?.stop();
    product = undefined;
  });

  it('posts the card once, then only updates it; a thread line per transition; the end without buttons', async () => {
    const sent: CardSent[] = [];
    product = await startSlackProduct({ tuning: { onCardSent: (s) => void sent.push(s) } });
    const p = product;
    const id = startedId(
      await p.slack.ask('start checkout 2.5.0 ship it', { user: STARTER, channel }),
    );
    const done = await waitForStatus(p, id, ENDED);
    expect(done.status).toBe('succeeded');
    const card = await waitForCardWhere(p, channel, 'success', (c) => c.text.includes('succeeded'));
    await p.surface.idle();

    // One top-level message in the channel, posted once; every later change is an update of it.
    expect(p.api.channelMessages(channel)).toHaveLength(1);
    const posts = p.api.calls('chat.postMessage').filter((c) => c.status === 200);
    expect(posts.filter((c) => c.args.thread_ts === undefined)).toHaveLength(1);
    const updates = p.api.calls('chat.update').filter((c) => c.status === 200);
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.every((c) => c.args.ts === card.ts && c.args.channel === channel)).toBe(true);
    // Coalesced: never two sends of the card within a second of each other, on the clock the
    // card's lane paces them by (arrival times at the double add network and scheduling jitter).
    const ofCard = sent.filter((s) => s.rolloutId === id);
    expect(ofCard.map((s) => s.kind)).toEqual(['post', ...updates.map(() => 'update')]);
    for (let i = 1; i < ofCard.length; i++)
      expect(ofCard[i]!.at - ofCard[i - 1]!.at).toBeGreaterThanOrEqual(1_000);
    // Every message and update carries a text fallback beside its blocks.
    for (const call of [...posts, ...updates]) expect(String(call.args.text ?? '')).not.toBe('');

    expect(buttonsOf(card)).toEqual([]);
    expect(cardText(card)).toContain('*Succeeded* · `2.5.0` is stable in eu-west, us-east');
    expect(cardText(card)).toContain('~100%~ :heavy_check_mark:');

    const thread = p.api.thread(channel, card.ts).map((m) => m.text);
    expect(thread[0]).toBe(
      ':arrow_forward: <@U0STARTER> started the rollout: 5% → 25% → 50% → 100% in eu-west, us-east',
    );
    for (const [stage, weight] of [
      [1, 5],
      [2, 25],
      [3, 50],
      [4, 100],
    ]) {
      for (const cluster of ['eu-west', 'us-east']) {
        expect(thread.some((t) => t.includes(`${cluster} at ${weight}% (stage ${stage})`))).toBe(
          true,
        );
      }
    }
    expect(thread.filter((t) => t.startsWith(':white_check_mark: The gate passed'))).toHaveLength(
      4,
    );
    expect(thread.at(-1)).toContain(':white_check_mark: *The rollout succeeded.*');
    // Exactly the transitions of the audit trail people care about, in order, none twice.
    const trail = await p.local.bot.service.auditTrail(id);
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
    expect(thread).toEqual(expected);
  });

  it('rolls back on an injected fault and tells the channel with the breached numbers, paging on-call', async () => {
    product = await startSlackProduct({
      faults: [
        { cluster: 'us-east', service: 'checkout', role: 'canary', fromStage: 1, errorRate: 0.3 },
      ],
    });
    const p = product;
    const id = startedId(await p.slack.ask('start checkout 2.5.0', { user: STARTER, channel }));
    const done = await waitForStatus(p, id, ENDED);
    expect(done.status).toBe('rolled_back');
    const card = await waitForCardWhere(p, channel, 'the rollback', (c) =>
      c.text.includes('rolled back'),
    );

    const notice = await waitFor(
      () => p.api.thread(channel, card.ts).find((m) => m.text.includes('Automatic rollback')),
      { what: 'the rollback notice' },
    );
    expect(notice.broadcast).toBe(true);
    const text = `${notice.text}\n${cardText(notice)}`;
    expect(text).toContain('<!subteam^S0ONCALL>');
    expect(text).toMatch(/error_rate \d+(\.\d+)?% &gt; 5(\.0)?% \(absolute\) in us-east/);
    expect(text).toContain('gate breached at stage 2/4 (25%)');
    expect(text).toContain('(25%)');
    expect(text).toContain('rolling back to 2.4.0 in eu-west, us-east');
    expect(text).toContain('*Breached*');
    expect(text).toContain('*Clusters (now)*');

    expect(buttonsOf(card)).toEqual([]);
    expect(cardText(card)).toContain('*Rolled back* to `2.4.0` in eu-west, us-east');
    expect(cardText(card)).toMatch(
      /gate breached at stage 2\/4 \(25%\): error_rate \d+(\.\d+)?% &gt; 5\.0% \(absolute\) in us-east/,
    );
    // The rollback's end is a broadcast too; nothing was posted outside the card and its thread.
    expect(p.api.channelMessages(channel)).toHaveLength(1);

    const metrics = await (await fetch(`${p.baseUrl}/metrics`)).text();
    expect(metrics).toContain('rollout_rollouts_started_total{service="checkout"} 1');
    await waitFor(
      async () =>
        (await (await fetch(`${p.baseUrl}/metrics`)).text()).includes(
          'rollout_rollouts_ended_total{service="checkout",outcome="rolled_back"} 1',
        ),
      { what: 'the ended rollout in /metrics' },
    );
  });
});
