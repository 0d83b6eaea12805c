import { describe, expect, it } from 'vitest';
import { parseCommand, type SlashCommand } from './command-parser.js';

function parsed(text: string): SlashCommand {
  const result = parseCommand(text);
  if (!result.ok) throw new Error(`expected "${text}" to parse, got: ${result.error}`);
  return result.command;
}

function error(text: string): string {
  const result = parseCommand(text);
  if (result.ok) throw new Error(`expected "${text}" to be refused, got ${JSON.stringify(result)}`);
  return result.error;
}

describe('parseCommand: start', () => {
  it('takes a service and a version, with everything else from the policy', () => {
    expect(parsed('start checkout 2.4.1')).toEqual({
      type: 'start',
      request: { service: 'checkout', version: '2.4.1' },
      dryRun: false,
    });
  });

  it('reads every flag, with a value after a space or an equals sign, and the rest as the reason', () => {
    expect(
      parsed(
        'start checkout v2.5.0-rc.1 --clusters eu-west,us-east --strategy=canary --stages 5,25,50,100 ' +
          '--bake 5m --approve-at 50 --dry-run fixes the login bug',
      ),
    ).toEqual({
      type: 'start',
      request: {
        service: 'checkout',
        version: 'v2.5.0-rc.1',
        clusters: ['eu-west', 'us-east'],
        strategy: 'canary',
        stages: [5, 25, 50, 100],
        bakeMs: 300_000,
        approveAt: [50],
        reason: 'fixes the login bug',
      },
      dryRun: true,
    });
  });

  it('reads flags after the reason too, and a dash that Slack turned into an em dash', () => {
    expect(parsed('start checkout 2.4.1 hotfix for INC-42 —dry-run')).toMatchObject({
      request: { reason: 'hotfix for INC-42' },
      dryRun: true,
    });
  });

  it('accepts a blue-green plan and percent signs', () => {
    expect(parsed('start search 7.2.0 --strategy blue-green --stages 0%,100%')).toMatchObject({
      request: { strategy: 'blue-green', stages: [0, 100] },
    });
  });

  it('names an unknown flag and the nearest one', () => {
    const message = error('start checkout 2.4.1 --stage 5,100');
    expect(message).toContain('unknown flag --stage');
    expect(message).toContain('did you mean --stages?');
    expect(message).toContain('--approve-at');
  });

  it('says what a flag without a value needs', () => {
    expect(error('start checkout 2.4.1 --bake')).toContain('--bake needs a value, e.g. --bake 5m');
    expect(error('start checkout 2.4.1 --stages --dry-run')).toContain('--stages needs a value');
  });

  it('refuses malformed flag values with an example of a good one', () => {
    expect(error('start checkout 2.4.1 --stages 5,x,100')).toContain('e.g. 5,25,50,100');
    expect(error('start checkout 2.4.1 --stages 5,250')).toContain('whole percentages');
    expect(error('start checkout 2.4.1 --bake soon')).toContain('30s, 5m or 1h');
    expect(error('start checkout 2.4.1 --strategy linear')).toContain('canary or blue-green');
    expect(error('start checkout 2.4.1 --approve-at half')).toContain('e.g. 50');
    expect(error('start checkout 2.4.1 --dry-run=yes')).toContain('takes no value');
    expect(error('start checkout 2.4.1 --bake 1m --bake 2m')).toContain('given twice');
  });

  it('reads --allow-downgrade as a switch', () => {
    expect(parsed('start checkout 2.3.0 --allow-downgrade back to the old one')).toEqual({
      type: 'start',
      request: {
        service: 'checkout',
        version: '2.3.0',
        allowDowngrade: true,
        reason: 'back to the old one',
      },
      dryRun: false,
    });
    expect(error('start checkout 2.3.0 --allow-downgrade=yes')).toContain(
      '--allow-downgrade takes no value (got "yes"); write just --allow-downgrade',
    );
  });

  it('answers every length limit with the limit, before anything else sees the input', () => {
    expect(error(`start checkout 2.4.1-${'a'.repeat(294)}`)).toBe(
      'the version is 300 characters; at most 128. Nothing was done.',
    );
    expect(error(`start checkout 2.4.1 ${'why '.repeat(150).trim()}`)).toBe(
      'the reason is 599 characters; at most 500. Nothing was done.',
    );
    expect(error(`start ${'c'.repeat(64)} 2.4.1`)).toContain(
      'the service name is 64 characters; at most 63',
    );
    expect(error(`start checkout 2.4.1 --clusters eu-west,${'x'.repeat(70)}`)).toContain(
      'the cluster name is 70 characters; at most 63',
    );
    expect(error('start checkout 2.4.1 --bake 9999999999999999h')).toContain(
      '--bake is too long; at most 2501999792h',
    );
    expect(error(`abort ${'r'.repeat(129)} oops`)).toContain(
      'the rollout id is 129 characters; at most 128',
    );
    expect(error(`status ${'r'.repeat(129)}`)).toContain(
      'the rollout id or service is 129 characters; at most 128',
    );
    expect(error(`history ${'s'.repeat(64)}`)).toContain(
      'the service name is 64 characters; at most 63',
    );
    // At the limits themselves, all is well; an abort reason has no limit.
    expect(parsed(`start checkout 2.4.1-${'a'.repeat(122)} ${'x'.repeat(500)}`).type).toBe('start');
    expect(parsed(`abort checkout-3f9a1c ${'x'.repeat(2000)}`).type).toBe('act');
  });

  it('leaves stage order and the final 100 to the plan check, which knows the strategy', () => {
    expect(parsed('start checkout 2.4.1 --stages 50,25,100')).toMatchObject({
      request: { stages: [50, 25, 100] },
    });
  });

  it('needs a service and a version', () => {
    expect(error('start')).toContain('start needs a service and a version. Usage: /rollout start');
    expect(error('start checkout')).toContain('e.g. /rollout start checkout 2.4.1');
    expect(error('start checkout --dry-run')).toContain('needs a version');
  });
});

describe('parseCommand: the other subcommands', () => {
  it('reads status with and without a target', () => {
    expect(parsed('status')).toEqual({ type: 'status' });
    expect(parsed('status checkout-3f9a1c')).toEqual({ type: 'status', target: 'checkout-3f9a1c' });
    expect(error('status a b')).toContain('Usage: /rollout status');
  });

  it('reads list, history and help', () => {
    expect(parsed('list')).toEqual({ type: 'list' });
    expect(parsed('LIST')).toEqual({ type: 'list' });
    expect(parsed('history checkout')).toEqual({ type: 'history', service: 'checkout' });
    expect(parsed('help')).toEqual({ type: 'help' });
    expect(parsed('   ')).toEqual({ type: 'help' });
    expect(error('list everything')).toContain('list does not take "everything"');
    expect(error('history')).toContain('history needs a service name');
  });

  it('reads the actions on a rollout, with an optional reason', () => {
    expect(parsed('approve checkout-3f9a1c')).toEqual({
      type: 'act',
      action: 'approve',
      rolloutId: 'checkout-3f9a1c',
    });
    expect(parsed('abort checkout-3f9a1c error budget burning')).toEqual({
      type: 'act',
      action: 'abort',
      rolloutId: 'checkout-3f9a1c',
      reason: 'error budget burning',
    });
    for (const action of ['pause', 'resume']) {
      expect(parsed(`${action} r1`)).toMatchObject({ type: 'act', action, rolloutId: 'r1' });
    }
    expect(error('abort')).toContain(
      'abort needs a rollout id. Usage: /rollout abort <rollout id>',
    );
  });

  it('names an unknown subcommand and the nearest one', () => {
    const message = error('strat checkout 2.4.1');
    expect(message).toContain('unknown subcommand "strat"; did you mean `start`');
    expect(message).toContain('/rollout help');
    expect(error('deploy checkout')).toContain('Subcommands: start, status, list');
  });

  it('reads the characters Slack sent as entities as the person typed them', () => {
    expect(
      parseCommand('abort checkout-1a2b3c rollback &lt;now&gt; &amp; page &amp;lt;ops&amp;gt;'),
    ).toEqual({
      ok: true,
      command: {
        type: 'act',
        action: 'abort',
        rolloutId: 'checkout-1a2b3c',
        reason: 'rollback <now> & page &lt;ops&gt;',
      },
    });
  });
});

describe('parseCommand: start a release', () => {
  it('reads service@version members, the reason and --dry-run', () => {
    expect(parsed('start payments@2.0.0 Checkout@v3.1.0 new card API --dry-run')).toEqual({
      type: 'start_release',
      members: [
        { service: 'payments', version: '2.0.0' },
        { service: 'checkout', version: 'v3.1.0' },
      ],
      reason: 'new card API',
      dryRun: true,
    });
    expect(parsed('start a@1 b@2 c@3')).toEqual({
      type: 'start_release',
      members: [
        { service: 'a', version: '1' },
        { service: 'b', version: '2' },
        { service: 'c', version: '3' },
      ],
      dryRun: false,
    });
  });

  it('keeps a member named twice for the planner to refuse with both versions', () => {
    expect(parsed('start a@1 a@2')).toMatchObject({
      members: [
        { service: 'a', version: '1' },
        { service: 'a', version: '2' },
      ],
    });
  });

  it('refuses a member with an empty version or service, saying how to write it', () => {
    expect(error('start payments@ checkout@3.1.0')).toContain(
      '"payments@" has no version after the @: write it service@version, e.g. payments@2.0.0',
    );
    expect(error('start @2.0.0 checkout@3.1.0')).toContain(
      '"@2.0.0" has no service before the @: write it service@version, e.g. payments@2.0.0',
    );
    expect(error('start payments@2@3 checkout@3.1.0')).toContain(
      '"payments@2@3" has more than one @',
    );
  });

  it('refuses mixing service@version and a bare version, in either order', () => {
    expect(error('start payments@2.0.0 checkout 3.1.0')).toContain(
      '"checkout 3.1.0" mixes the two forms: in a release write it checkout@3.1.0, like payments@2.0.0',
    );
    expect(error('start payments@2.0.0 3.1.0')).toContain(
      '"3.1.0" after payments@2.0.0 is a version without a service',
    );
    expect(error('start payments 2.0.0 checkout@3.1.0')).toContain(
      'for a release write every member as service@version (payments@2.0.0 checkout@3.1.0); for one rollout leave "checkout@3.1.0" out',
    );
    expect(error('start payments checkout@3.1.0')).toContain(
      '(payments@&lt;version&gt; checkout@3.1.0)',
    );
  });

  it('refuses a member after the reason', () => {
    expect(error('start payments@2.0.0 checkout@3.1.0 new API search@7.2.0')).toContain(
      '"search@7.2.0" comes after the reason "new API": put every service@version first, then the reason',
    );
  });

  it('refuses a single member: that is a rollout, written without the @', () => {
    expect(error('start payments@2.0.0 fixes INC-1')).toContain(
      'a release needs at least two services (got only payments@2.0.0); to roll out one service, write /rollout start payments 2.0.0',
    );
  });

  it('refuses the flags that shape one rollout, naming them', () => {
    expect(error('start payments@2.0.0 checkout@3.1.0 --stages 5,100 --bake 1m')).toContain(
      '--stages, --bake shapes a single rollout; a release plans each service from its policy (stages, bake, clusters, waves) and takes only --dry-run',
    );
  });

  it('answers names and versions over the limits with the limit', () => {
    expect(error(`start payments@2.0.0 checkout@1.0.0-${'a'.repeat(200)}`)).toContain(
      'the version of checkout is 206 characters; at most 128',
    );
    expect(error(`start payments@2.0.0 checkout@1 ${'why '.repeat(200)}`)).toContain(
      'the reason is 799 characters; at most 500',
    );
  });

  it('reads a mention or an address in the reason as words, not members', () => {
    expect(parsed('start a@1 b@2 ask <@U0LEAD> or ops@example.com')).toMatchObject({
      reason: 'ask <@U0LEAD> or ops@example.com',
    });
  });
});
