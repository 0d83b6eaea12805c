import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHANNELS, SLACK_PEOPLE, slackPolicyYaml } from '../support/slack-policy.js';
import { startSlackProduct, type SlackProduct } from '../support/slack-product.js';
import { waitFor } from '../support/wait-for.js';
import {
  ENDED,
  commandsPublished,
  startedId,
  waitForCard,
  waitForStatus,
} from './slack-helpers.js';

const { STARTER, LEAD, OUTSIDER, DEPLOYER } = SLACK_PEOPLE;
const inCheckout = (user: string) => ({ user, channel: CHANNELS.checkout });
const inPayments = (user: string) => ({ user, channel: CHANNELS.payments });

/**
 * `/rollout` through Bolt's HTTP endpoint, signed as Slack signs it, with the product running in
 * local mode and Slack's Web API played by the double.
 */
describe('/rollout over HTTP', () => {
  let product: SlackProduct;
  beforeEach(async () => {
    product = await startSlackProduct();
  });
  afterEach(async () => {
    await product.stop();
  });

  it('answers help (and an empty command) with the usage of every subcommand', async () => {
    for (const text of ['help', '']) {
      const reply = await product.slack.ask(text, inCheckout(STARTER));
      for (const usage of ['/rollout start <service> <version>', '--dry-run', '/rollout status']) {
        expect(reply).toContain(usage);
      }
      expect(reply).toContain('approve|pause|resume|abort');
    }
  });

  it('shows the plan of a dry run (stages, clusters, gates, approvers) and starts nothing', async () => {
    const reply = await product.slack.ask(
      'start payments 1.1.0 --bake 2m --dry-run smoke test',
      inPayments(STARTER),
    );
    expect(reply).toContain('Dry run: nothing was started');
    expect(reply).toContain(
      '*payments* `1.1.0` (from `1.0.0`) · canary · clusters eu-west, us-east',
    );
    expect(reply).toContain('1. *10%* · bake 2m · gate: errors ≤ 5.0%, p99 ≤ 1.5× stable');
    expect(reply).toContain(
      '2. *50%* · bake 2m · gate: errors ≤ 5.0%, p99 ≤ 1.5× stable, ≥ 20 canary requests, every 100ms, ' +
        'roll back after 2 failed evaluation(s) in a row · then 1 approval(s) from <@U0LEAD>, <!subteam^S0LEADS>, <@U0STARTER> (not the starter: four-eyes)',
    );
    expect(reply).toContain('*Who may start it*: anyone (you may)');
    expect(await product.local.bot.service.list()).toEqual([]);
    expect(commandsPublished(product)).toBe(0);
    expect(product.api.calls('chat.postMessage')).toEqual([]);
  });

  it('takes a start and an action only in the service’s channel: a DM or another channel is refused, naming the channel', async () => {
    for (const channel of ['D0DIRECTMESSAGE', CHANNELS.payments]) {
      const reply = await product.slack.ask('start checkout 2.5.0', { user: STARTER, channel });
      expect(reply).toContain(`start for checkout is taken only in <#${CHANNELS.checkout}>`);
      expect(reply).toContain('services.checkout.permissions.channelOnly');
    }
    expect(await product.local.bot.service.list()).toEqual([]);
    expect(commandsPublished(product)).toBe(0);

    const id = startedId(await product.slack.ask('start checkout 2.5.0', inCheckout(STARTER)));
    const elsewhere = await product.slack.ask(`abort ${id} not here`, inPayments(LEAD));
    expect(elsewhere).toContain(`abort for checkout is taken only in <#${CHANNELS.checkout}>`);
    expect((await product.local.bot.service.get(id))?.status).not.toMatch(/rolling_back|aborted/);
    // Reading works anywhere.
    expect(await product.slack.ask(`status ${id}`, { user: OUTSIDER, channel: 'D0DM' })).toContain(
      'checkout',
    );
  });

  it('answers a version over 128 characters and a reason over 500 with the limit, and starts nothing', async () => {
    const version = `2.5.0-${'a'.repeat(294)}`;
    const reason = 'x'.repeat(600);
    const cases: [string, string][] = [
      [`start checkout ${version}`, 'the version is 300 characters; at most 128'],
      [`start checkout 2.5.0 ${reason}`, 'the reason is 600 characters; at most 500'],
      [`start checkout ${version} --dry-run`, 'the version is 300 characters; at most 128'],
    ];
    for (const [text, expected] of cases) {
      const result = await product.slack.command(text, inCheckout(STARTER));
      const reply = await product.slack.reply(result);
      expect(reply).toContain(expected);
      expect(reply).not.toContain('Something went wrong');
      expect(JSON.parse(result.body)).toMatchObject({ response_type: 'ephemeral' });
    }
    expect(await product.local.bot.service.list()).toEqual([]);
    expect(await product.local.bot.service.history('checkout')).toEqual([]);
    expect(commandsPublished(product)).toBe(0);
    expect(product.api.calls('chat.postMessage')).toEqual([]);
    expect(product.logs.filter((l) => l.includes('ZodError'))).toEqual([]);
  });

  it('refuses the stable version and a downgrade without --allow-downgrade; a dry run says so and shows the stable version', async () => {
    const same = await product.slack.ask('start checkout 2.4.0', inCheckout(STARTER));
    expect(same).toContain('checkout already runs 2.4.0 as its stable version');
    const older = await product.slack.ask('start checkout 2.3.0', inCheckout(STARTER));
    expect(older).toContain(
      "2.3.0 is older than checkout's stable version 2.4.0: to go back to it, add --allow-downgrade",
    );
    const dryRun = await product.slack.ask('start checkout 2.4.0 --dry-run', inCheckout(STARTER));
    expect(dryRun).toContain('*checkout* `2.4.0` (from `2.4.0`)');
    expect(dryRun).toContain('*A start now would be refused*:');
    expect(dryRun).toContain('checkout already runs 2.4.0 as its stable version');
    expect(await product.local.bot.service.list()).toEqual([]);
    expect(commandsPublished(product)).toBe(0);

    const id = startedId(
      await product.slack.ask(
        'start checkout 2.3.0 --allow-downgrade back out',
        inCheckout(STARTER),
      ),
    );
    const busy = await product.slack.ask('start checkout 2.6.0 --dry-run', inCheckout(STARTER));
    expect(busy).toContain(`checkout already has an active rollout, ${id}`);
    expect(busy).not.toContain('To start it, send the same command');
  });

  it('answers each bad input with what was wrong and what would be right, and starts nothing', async () => {
    const cases: [string, string[]][] = [
      [
        'start chekout 2.5.0',
        [
          'unknown service "chekout"; did you mean "checkout"?',
          'Known services: checkout, payments, search',
        ],
      ],
      ['start checkout two-point-five', ['"two-point-five" is not a version: write it like 2.4.1']],
      ['start checkout 2.5.0 --stage 5,100', ['unknown flag --stage; did you mean --stages?']],
      [
        'start checkout 2.5.0 --stages 50,25,100',
        ['canary stages must increase, got 50,25,100 (for example 5,25,50,100)'],
      ],
      ['start checkout 2.5.0 --stages 5,25,50', ['the last stage must be 100, got 5,25,50']],
      [
        'start checkout 2.5.0 --clusters ap-south',
        ['checkout does not run in ap-south; its clusters are eu-west, us-east'],
      ],
      [
        'start checkout 2.5.0 --approve-at 30',
        ['--approve-at 30 is not one of the stages 5,25,50,100'],
      ],
      [
        'start checkout 2.5.0 --bake soon',
        ['--bake takes a duration like 30s, 5m or 1h; got "soon"'],
      ],
      ['start checkout', ['needs a version', 'e.g. /rollout start checkout 2.4.1']],
      ['approve checkout-0nope0', ['no rollout has id "checkout-0nope0"', '/rollout list']],
      ['strat checkout 2.5.0', ['unknown subcommand "strat"; did you mean `start`?']],
      ['history chekout', ['unknown service "chekout"; did you mean "checkout"?']],
      [
        'status nothing-here',
        [
          'no rollout or service is called "nothing-here"',
          'the services are checkout, payments, search',
        ],
      ],
    ];
    for (const [text, expected] of cases) {
      const reply = await product.slack.ask(text, inCheckout(STARTER));
      for (const part of expected) expect(reply, `/rollout ${text}`).toContain(part);
    }
    expect(await product.local.bot.service.history('checkout')).toEqual([]);
    expect(commandsPublished(product)).toBe(0);
    expect(product.api.calls('chat.postMessage')).toEqual([]);
    // Every answer went only to the person who asked.
    for (const post of product.api.responses()) expect(post.body.response_type).toBe('ephemeral');
  });

  it('starts a rollout, posts its card in the service channel, and shows it in status, list and history', async () => {
    const reply = await product.slack.ask('start checkout 2.5.0 fixes INC-42', inCheckout(STARTER));
    expect(reply).toContain('Its card is in <#C0CHECKOUT>');
    const id = startedId(reply);
    const card = await waitForCard(product, CHANNELS.checkout);
    expect(card.text).toContain('checkout 2.5.0');

    for (const text of [`status ${id}`, 'status checkout']) {
      const status = await product.slack.ask(text, inPayments(OUTSIDER));
      expect(status).toContain(`\`${id}\``);
      expect(status).toContain(
        '*checkout* `2.5.0` (from `2.4.0`) · canary · started by <@U0STARTER>',
      );
    }
    // In the service's channel, `status` alone means that service.
    expect(await product.slack.ask('status', inCheckout(OUTSIDER))).toContain(`\`${id}\``);
    expect(await product.slack.ask('list', inPayments(OUTSIDER))).toContain(
      `\`${id}\` · *checkout* \`2.5.0\``,
    );
    await waitForStatus(product, id, ENDED);
    const history = await product.slack.ask('history checkout', inPayments(OUTSIDER));
    expect(history).toContain(`\`${id}\` · \`2.5.0\` · succeeded · by <@U0STARTER>`);
    expect(await product.slack.ask('list', inPayments(OUTSIDER))).toContain('No rollout is active');
  });

  it('refuses a start to someone the policy does not list, saying who may, and audits it', async () => {
    const reply = await product.slack.ask('start checkout 2.5.0', inCheckout(OUTSIDER));
    expect(reply).toContain(
      'you may not start rollouts of checkout; ask one of <@U0STARTER>, <!subteam^S0DEPLOYERS>',
    );
    expect(await product.local.bot.service.list()).toEqual([]);
    expect(commandsPublished(product)).toBe(0);
    const audit = product.logs.map((l) => JSON.parse(l)).filter((l) => l.audit === 'denied');
    expect(audit).toEqual([
      expect.objectContaining({
        subcommand: 'start',
        user: OUTSIDER,
        reason: expect.stringContaining('may not start'),
      }),
    ]);
  });

  it('lets a member of a permitted user group start (group membership read from Slack)', async () => {
    const reply = await product.slack.ask('start checkout 2.5.0', inCheckout(DEPLOYER));
    expect(reply).toContain('Started `checkout-');
    expect(product.api.calls('usergroups.users.list').map((c) => c.args.usergroup)).toContain(
      'S0DEPLOYERS',
    );
  });

  it('refuses a second rollout of a busy service and names the active one', async () => {
    const id = startedId(await product.slack.ask('start payments 1.1.0', inPayments(STARTER)));
    const reply = await product.slack.ask('start payments 1.2.0', inPayments(LEAD));
    expect(reply).toContain(`payments already has an active rollout, ${id}`);
    expect(reply).toContain(`/rollout abort ${id}`);
  });

  it('pauses, resumes and aborts by command; an unlisted person is refused and it is in the history', async () => {
    const id = startedId(await product.slack.ask('start payments 1.1.0', inPayments(STARTER)));
    await waitForStatus(product, id, ['awaiting_approval']);

    expect(await product.slack.ask(`pause ${id}`, inPayments(LEAD))).toContain(`Paused \`${id}\``);
    expect((await product.local.bot.service.get(id))?.status).toBe('paused');
    expect(await product.slack.ask(`resume ${id}`, inPayments(LEAD))).toContain(
      `Resumed \`${id}\``,
    );

    const denied = await product.slack.ask(
      `abort ${id} I think it is broken`,
      inPayments(OUTSIDER),
    );
    expect(denied).toContain(
      'you may not abort rollouts of payments; ask one of <@U0LEAD>, <@U0STARTER>',
    );
    expect(await product.slack.ask(`approve ${id}`, inPayments(OUTSIDER))).toContain(
      '<@U0OUTSIDER> may not approve stage 2/3 (50%) of payments 1.1.0 ' +
        `(${id}): approvers are <@U0LEAD>, <!subteam^S0LEADS>, <@U0STARTER>`,
    );

    const aborted = await product.slack.ask(`abort ${id} wrong build`, inPayments(LEAD));
    expect(aborted).toContain(`Aborted \`${id}\``);
    const done = await waitForStatus(product, id, ENDED);
    expect(done.status).toBe('aborted');
    expect(done.outcome).toBe('aborted by U0LEAD: wrong build');

    const trail = await product.local.bot.service.auditTrail(id);
    expect(
      trail.filter((e) => e.input === 'denied').map((e) => [e.actor, e.detail?.split(':')[0]]),
    ).toEqual([
      [`user:${OUTSIDER}`, 'abort refused'],
      [`user:${OUTSIDER}`, 'approve refused'],
    ]);
    await waitFor(
      () =>
        product.api
          .thread(CHANNELS.payments, product.api.channelMessages(CHANNELS.payments)[0]!.ts)
          .some((m) => m.text.includes('aborted the rollout: wrong build')),
      {
        what: 'the abort in the card thread',
      },
    );
  });
});

/** Releases: planned and shown with --dry-run, started without it. */
describe('/rollout start of a release over HTTP', () => {
  let product: SlackProduct;
  beforeEach(async () => {
    // checkout calls payments: a release of both starts payments first.
    const policyYaml = slackPolicyYaml().replace(
      '    stableVersion: 2.4.0\n',
      '    stableVersion: 2.4.0\n    dependsOn: [payments]\n',
    );
    product = await startSlackProduct({ policyYaml });
  });
  afterEach(async () => {
    await product.stop();
  });

  async function nothingStarted(): Promise<void> {
    expect(await product.local.bot.service.list()).toEqual([]);
    expect(commandsPublished(product)).toBe(0);
    expect(product.api.calls('chat.postMessage')).toEqual([]);
    for (const post of product.api.responses()) expect(post.body.response_type).toBe('ephemeral');
  }

  it('shows the plan of a dry run: providers first, what each waits for, the release settings', async () => {
    const reply = await product.slack.ask(
      'start checkout@2.5.0 payments@1.1.0 search@7.2.0 --dry-run new card API',
      inCheckout(STARTER),
    );
    expect(reply).toContain('Dry run: nothing was started');
    expect(reply).toContain('*Release of 3 services*, providers before their consumers');
    expect(reply).toContain('(at most 2 at once; release.maxParallel)');
    expect(reply).toContain('1. *payments* `1.1.0` · starts first · clusters eu-west, us-east');
    expect(reply).toContain('2. *search* `7.2.0` · starts first · clusters eu-west');
    expect(reply).toContain(
      '3. *checkout* `2.5.0` · waits for *payments* · clusters eu-west, us-east',
    );
    expect(reply).toContain(
      'A consumer starts when each provider it waits for has finished its rollout.',
    );
    expect(reply).toContain('release.onFailure: rollback-all');
    expect(reply).toContain('*Reason*: new card API');
    await nothingStarted();
  });

  it("starts a release: its own card in the first provider's channel, member cards that name it, and acts on it by id", async () => {
    const reply = await product.slack.ask(
      'start payments@1.1.0 checkout@2.5.0 new card API',
      inCheckout(STARTER),
    );
    const id = /Release `(rel-[0-9a-f]+)` started/.exec(reply)?.[1];
    expect(id, reply).toBeDefined();
    expect(reply).toContain('payments → checkout');
    const card = await waitFor(
      async () =>
        product.api
          .calls('chat.postMessage')
          .find((c) => String(c.args.text).includes(`*Release \`${id}\`*`)),
      { what: 'the release card', timeoutMs: 10_000, intervalMs: 20 },
    );
    expect(card.args.channel).toBe(CHANNELS.payments);
    expect(String(card.args.text)).toContain('1. *payments* `1.1.0`');
    expect(String(card.args.text)).toContain('2. *checkout* `2.5.0` · waiting · after payments');
    // The member's own card, in its own channel, names the release.
    await waitFor(
      async () =>
        product.api
          .calls('chat.postMessage')
          .find(
            (c) =>
              c.args.channel === CHANNELS.payments &&
              JSON.stringify(c.args.blocks ?? []).includes(`part of release \`${id}\``),
          ),
      { what: 'the payments card naming the release', timeoutMs: 10_000, intervalMs: 20 },
    );
    const list = await product.slack.ask('list', inCheckout(STARTER));
    expect(list).toContain('*Active releases* (1)');
    expect(list).toContain(`\`${id}\` · running · payments`);
    const status = await product.slack.ask(`status ${id}`, inCheckout(STARTER));
    expect(status).toContain(`*Release \`${id}\`*`);
    const aborted = await product.slack.ask(`abort ${id} wrong build`, inCheckout(STARTER));
    expect(aborted).toContain('aborted by');
    const ended = await waitFor(
      async () => {
        const state = await product.local.bot.releases.get(id!);
        return state?.status === 'aborted' ? state : undefined;
      },
      { what: 'the release to end aborted', timeoutMs: 30_000, intervalMs: 20 },
    );
    expect(ended.members.checkout?.state).toBe('cancelled');
    // Locks are freed by effects carried out after the commits that ended the members.
    await waitFor(
      async () => {
        const held = await Promise.all(
          ['payments', 'checkout'].map((s) => product.local.bot.service.activeRolloutOf(s)),
        );
        return held.every((h) => h === undefined) ? true : undefined;
      },
      { what: 'both locks to be freed', timeoutMs: 10_000, intervalMs: 20 },
    );
  });

  it('answers each bad release with what was wrong and what would be right, and starts nothing', async () => {
    const cases: [string, string[]][] = [
      [
        'start payments@1.1.0 payments@1.2.0 --dry-run',
        ['payments is named twice (payments@1.1.0 and payments@1.2.0)'],
      ],
      [
        'start paymnts@1.1.0 checkout@2.5.0',
        [
          'unknown service "paymnts"; did you mean "payments"?',
          'Known services: checkout, payments, search',
        ],
      ],
      [
        'start payments@1.1.0 checkout@latest --dry-run',
        ['checkout@latest: "latest" is not a version; write it like 2.4.1'],
      ],
      ['start payments@ checkout@2.5.0', ['"payments@" has no version after the @']],
      ['start payments@1.1.0 checkout 2.5.0', ['in a release write it checkout@2.5.0']],
      ['start payments@1.1.0', ['a release needs at least two services']],
    ];
    for (const [text, expected] of cases) {
      const reply = await product.slack.ask(text, inCheckout(STARTER));
      for (const part of expected) expect(reply, `/rollout ${text}`).toContain(part);
    }
    await nothingStarted();
  });
});
