import { describe, expect, it } from 'vitest';
import { isRolloutError } from '../../shared/errors.js';
import { isLoopbackHost, refuseExposedConsole } from './exposure.js';

describe('isLoopbackHost', () => {
  it.each([
    'localhost',
    'LOCALHOST',
    '127.0.0.1',
    '127.1.2.3',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
  ])('takes %s as loopback', (host) => expect(isLoopbackHost(host)).toBe(true));

  it.each([
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '128.0.0.1',
    '::ffff:10.0.0.1',
    'example.com',
    '127.0.0.1.nip.io',
    '',
  ])('does not take %s as loopback', (host) => expect(isLoopbackHost(host)).toBe(false));
});

describe('refuseExposedConsole', () => {
  const refusal = (env: { HOST: string; SLACK_BOT_TOKEN?: string }) => {
    try {
      refuseExposedConsole(env);
      return undefined;
    } catch (err) {
      if (!isRolloutError(err)) throw err;
      return err;
    }
  };

  it('lets a loopback console without a Slack token start', () => {
    expect(refusal({ HOST: '127.0.0.1' })).toBeUndefined();
    expect(refusal({ HOST: '::1', SLACK_BOT_TOKEN: '' })).toBeUndefined();
  });

  it('refuses a non-loopback HOST, naming the variable', () => {
    const err = refusal({ HOST: '0.0.0.0' });
    expect(err).toMatchObject({ code: 'invalid_config', variable: 'HOST' });
    expect(err?.message).toMatch(/^HOST: .*loopback.*"0\.0\.0\.0"/);
  });

  it('refuses a set SLACK_BOT_TOKEN, naming the variable and not echoing it', () => {
    const err = refusal({ HOST: '127.0.0.1', SLACK_BOT_TOKEN: 'xoxb-1-2-secret' });
    expect(err).toMatchObject({ code: 'invalid_config', variable: 'SLACK_BOT_TOKEN' });
    expect(err?.message).not.toContain('secret');
  });
});
