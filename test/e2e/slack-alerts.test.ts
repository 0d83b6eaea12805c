import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, SLACK_PEOPLE } from '../support/slack-policy.js';
import { startSlackProduct, type SlackProduct } from '../support/slack-product.js';
import { waitFor } from '../support/wait-for.js';
import { startedId, waitForCard } from './slack-helpers.js';

describe('alerts the sweeps raise, as Slack shows them', () => {
  let product: SlackProduct | undefined;
  afterEach(async () => {
    await product?.stop();
    product = undefined;
  });

  it('pages on-call in every channel of a silent agent’s services, and in a stuck rollout’s thread', async () => {
    product = await startSlackProduct({
      sweeps: { intervalMs: 20, agentSilenceMs: 400, stuckAfterMs: 400 },
    });
    const p = product;
    // us-east's agent stops: its heartbeats end and rollouts there cannot apply their stages.
    await p.local.agents.get('us-east')!.stop();
    const id = startedId(
      await p.slack.ask('start checkout 2.5.0', {
        user: SLACK_PEOPLE.STARTER,
        channel: CHANNELS.checkout,
      }),
    );
    const card = await waitForCard(p, CHANNELS.checkout);

    const silent = (channel: string) =>
      p.api.channelMessages(channel).find((m) => m.text.includes('Cluster us-east'));
    const stuck = () =>
      p.api.thread(CHANNELS.checkout, card.ts).find((m) => m.text.includes('is stuck'));
    await waitFor(
      async () => {
        await p.local.bot.sweeps.tick();
        return silent(CHANNELS.checkout) && silent(CHANNELS.payments) && stuck();
      },
      { what: 'the silent-agent and stuck-rollout alerts', intervalMs: 50 },
    );

    for (const channel of [CHANNELS.checkout, CHANNELS.payments]) {
      const alert = silent(channel)!;
      expect(alert.text).toContain('<!subteam^S0ONCALL>');
      expect(alert.text).toContain(
        'The rollout agent in us-east (local-us-east) has sent no heartbeat',
      );
    }

    const alert = stuck()!;
    expect(alert.broadcast).toBe(true);
    expect(alert.text).toContain('<!subteam^S0ONCALL>');
    expect(alert.text).toContain(`Rollout ${id} (checkout 2.5.0) has been progressing for`);
    expect(alert.text).toContain('waiting on us-east (applying)');
    // Each alert once, however many sweeps ran. And search runs only in eu-west: not bothered.
    // Every channel's alert is queued with the others, so once the lanes are idle it would be in.
    await p.surface.idle();
    expect(p.api.channelMessages(CHANNELS.search)).toEqual([]);
    expect(p.api.channelMessages(CHANNELS.payments)).toHaveLength(1);
    expect(
      p.api.thread(CHANNELS.checkout, card.ts).filter((m) => m.text.includes('is stuck')),
    ).toHaveLength(1);
  });
});
