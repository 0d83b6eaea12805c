/**
 * A rollback that cannot finish (us-east's router refuses it, as a cluster that is gone would),
 * and the way out people have: `/rollout force-finish`, which says what it would leave behind and
 * acts only when confirmed, by someone who may abort, with an audit trail. Local mode, Slack over
 * signed HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, SLACK_PEOPLE } from '../support/slack-policy.js';
import { startSlackProduct, type SlackProduct } from '../support/slack-product.js';
import { waitFor } from '../support/wait-for.js';
import { startedId, waitForStatus } from './slack-helpers.js';

const { STARTER, LEAD, OUTSIDER } = SLACK_PEOPLE;
const inPayments = (user: string) => ({ user, channel: CHANNELS.payments });

let product: SlackProduct | undefined;
afterEach(async () => {
  await product?.stop();
  product = undefined;
});

describe('/rollout force-finish', () => {
  it('releases a rollback that cannot finish only when confirmed, by someone who may abort, and says what is left', async () => {
    product = await startSlackProduct({
      faults: [{ cluster: 'us-east', service: 'payments', routerFailure: ['rollback'] }],
    });
    const id = startedId(await product.slack.ask('start payments 1.1.0', inPayments(STARTER)));
    await waitForStatus(product, id, ['baking', 'awaiting_approval']);
    await product.slack.ask(`abort ${id} bad build`, inPayments(LEAD));
    const stuck = await waitFor(
      async () => {
        const state = await product!.local.bot.service.get(id);
        return state?.clusters['us-east']?.status === 'failed' && state;
      },
      { what: 'us-east’s rollback to fail', timeoutMs: 30_000 },
    );
    expect(stuck.status).toBe('rolling_back');

    const asked = await product.slack.ask(`force-finish ${id} us-east is gone`, inPayments(LEAD));
    expect(asked).toContain('Nothing was changed');
    expect(asked).toContain('us-east (failed');
    expect(asked).toContain(`/rollout force-finish ${id} us-east is gone --confirm`);
    expect((await product.local.bot.service.get(id))?.status).toBe('rolling_back');

    expect(await product.slack.ask(`force-finish ${id} --confirm`, inPayments(LEAD))).toContain(
      'force-finish needs a reason',
    );
    const denied = await product.slack.ask(
      `force-finish ${id} nope --confirm`,
      inPayments(OUTSIDER),
    );
    expect(denied).toContain('may not abort rollouts of payments');
    expect((await product.local.bot.service.get(id))?.status).toBe('rolling_back');

    const done = await product.slack.ask(
      `force-finish ${id} us-east is gone --confirm`,
      inPayments(LEAD),
    );
    expect(done).toContain('Force-finished');
    const ended = await product.local.bot.service.get(id);
    expect(ended?.status).toBe('failed');
    expect(ended?.outcome).toBe(
      'force-finished by U0LEAD: us-east is gone; not confirmed back on 1.0.0: us-east',
    );
    const trail = await product.local.bot.service.auditTrail(id);
    expect(trail.find((e) => e.input === 'force_finish')).toMatchObject({
      actor: `user:${LEAD}`,
      detail: 'us-east is gone',
    });
    // The service is free again.
    await waitFor(
      async () => (await product!.local.bot.service.activeRolloutOf('payments')) === undefined,
      {
        what: 'the payments lock to be released',
      },
    );
  }, 60_000);
});
