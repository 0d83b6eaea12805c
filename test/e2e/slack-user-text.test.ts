import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, SLACK_PEOPLE } from '../support/slack-policy.js';
import { startSlackProduct, type SlackProduct } from '../support/slack-product.js';
import { replyText } from '../support/slack-requests.js';
import { waitFor } from '../support/wait-for.js';
import {
  cardText,
  startedId,
  waitForCard,
  waitForCardWhere,
  waitForStatus,
} from './slack-helpers.js';

const { DEPLOYER, LEAD } = SLACK_PEOPLE;
const channel = CHANNELS.checkout;

/** What a person typed would ping, if shown as Slack text: a group and a user of nobody's choosing. */
const PINGS = ['<!subteam^S123', '<@U999', '<!channel>', '<!here>'];

function pings(text: string): string[] {
  return PINGS.filter((p) => text.includes(p));
}

describe('what people type, as Slack shows it', () => {
  let product: SlackProduct | undefined;
  afterEach(async () => {
    await product?.stop();
    product = undefined;
  });

  it('an abort reason with a group and a user mention reaches the card, the thread, the alerts and the answers with no mention', async () => {
    product = await startSlackProduct({ sweeps: { intervalMs: 20, stuckAfterMs: 400 } });
    const p = product;
    // us-east's agent stops: the rollback there never confirms, so the rollout is stuck rolling
    // back and the sweep alerts its thread (broadcast, paging on-call).
    await p.local.agents.get('us-east')!.stop();
    const id = startedId(
      await p.slack.ask('start checkout 2.5.0 <!here> see *INC-7*', { user: DEPLOYER, channel }),
    );
    const card = await waitForCard(p, channel);
    const abort = await p.slack.ask(`abort ${id} <!subteam^S123> <@U999> wrong build`, {
      user: LEAD,
      channel,
    });
    expect(abort).toContain(`Aborted \`${id}\``);
    await waitForStatus(p, id, ['rolling_back']);

    const shown = '&lt;!subteam^S123&gt; &lt;@U999&gt; wrong build';
    const rollingBack = await waitForCardWhere(p, channel, 'the abort reason', (c) =>
      cardText(c).includes(shown),
    );
    expect(cardText(rollingBack)).toContain(`aborted by <@${LEAD}>: ${shown}`);
    expect(cardText(rollingBack)).toContain('&lt;!here&gt; see \u2217INC-7\u2217');
    await waitFor(
      () =>
        p.api
          .thread(channel, card.ts)
          .some(
            (m) => m.text === `:no_entry: <@${LEAD}> aborted the rollout: ${shown}; rolling back`,
          ),
      { what: 'the abort in the thread' },
    );
    const stuck = await waitFor(
      async () => {
        await p.local.bot.sweeps.tick();
        return p.api.thread(channel, card.ts).find((m) => m.text.includes('is stuck'));
      },
      { what: 'the stuck-rollout alert', intervalMs: 50 },
    );
    expect(stuck.broadcast).toBe(true);
    expect(stuck.text).toContain('<!subteam^S0ONCALL>');

    // A refusal that describes the rollout (and so quotes its abort reason), its status and the
    // service's history: answers only the asker sees, but still no mention of anyone typed.
    const refusal = await p.slack.ask(`pause ${id}`, { user: LEAD, channel });
    expect(refusal).toContain(shown);
    const history = await p.slack.ask('history checkout', { user: LEAD, channel });
    expect(history).toContain(shown);
    await p.slack.ask(`status ${id}`, { user: LEAD, channel });

    // Everything the bot ever sent to Slack: posts, updates, thread replies, alerts, answers.
    const sent = [
      ...p.api.calls().map((c) => JSON.stringify(c.args)),
      ...p.api.responses().map((r) => replyText(r.body)),
    ];
    expect(sent.flatMap(pings)).toEqual([]);
  });
});
