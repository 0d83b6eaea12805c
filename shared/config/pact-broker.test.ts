import { describe, expect, it } from 'vitest';
import { isRolloutError } from '../errors.js';
import { BotEnv, parseEnv } from './env.js';
import { pactBrokerSettings } from './pact-broker.js';
import { parsePolicy } from './policy-loader.js';

const WITH_CONTRACTS = parsePolicy(
  'clusters:\n  eu-west: {}\npact:\n  environment: production\nservices:\n' +
    '  payments:\n    channel: C0PAY\n    clusters: [eu-west]\n' +
    '  checkout:\n    channel: C0CO\n    clusters: [eu-west]\n    dependsOn: [payments]\n    contracts: [payments]\n',
  'p.yaml',
);
const WITHOUT = parsePolicy(
  'clusters:\n  eu-west: {}\nservices:\n  payments:\n    channel: C0PAY\n    clusters: [eu-west]\n',
  'p.yaml',
);
const TOKEN = 'pb-Secret-Token-9f8e7d';
const files: Record<string, string> = { '/run/token': `${TOKEN}\n`, '/run/empty': '\n' };
const readFile = (path: string): string => {
  const text = files[path];
  if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`);
  return text;
};

function refusal(fn: () => unknown): { variable: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isRolloutError(err, 'invalid_config'))
      return err as unknown as { variable: string; message: string };
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('Pact Broker settings', () => {
  it('reads the URL and the token, from the variable or from a file', () => {
    const env = parseEnv(BotEnv, {
      PACT_BROKER_URL: 'https://broker.example',
      PACT_BROKER_TOKEN: TOKEN,
    });
    expect(pactBrokerSettings(env, WITH_CONTRACTS, 'distributed', readFile)).toEqual({
      url: 'https://broker.example',
      token: TOKEN,
    });
    expect(
      pactBrokerSettings(
        { PACT_BROKER_URL: 'https://broker.example', PACT_BROKER_TOKEN_FILE: '/run/token' },
        WITH_CONTRACTS,
        'distributed',
        readFile,
      ),
    ).toEqual({ url: 'https://broker.example', token: TOKEN });
    expect(
      pactBrokerSettings({ PACT_BROKER_URL: 'http://broker:9292' }, WITHOUT, 'local', readFile),
    ).toEqual({ url: 'http://broker:9292' });
  });

  it('stops the bot when the policy names contract checks and PACT_BROKER_URL is not set', () => {
    const err = refusal(() => pactBrokerSettings({}, WITH_CONTRACTS, 'distributed', readFile));
    expect(err.variable).toBe('PACT_BROKER_URL');
    expect(err.message).toContain(
      'PACT_BROKER_URL: is not set, but the policy names contract checks (checkout → payments',
    );
  });

  it('needs no broker without contract checks, nor in local mode (the memory checks answer there)', () => {
    expect(pactBrokerSettings({}, WITHOUT, 'distributed', readFile)).toBeUndefined();
    expect(pactBrokerSettings({}, WITH_CONTRACTS, 'local', readFile)).toBeUndefined();
  });

  it('refuses half or double configurations, naming the variable and never showing the token', () => {
    const both = refusal(() =>
      pactBrokerSettings(
        {
          PACT_BROKER_URL: 'https://b',
          PACT_BROKER_TOKEN: TOKEN,
          PACT_BROKER_TOKEN_FILE: '/run/token',
        },
        WITHOUT,
        'local',
        readFile,
      ),
    );
    expect(both.variable).toBe('PACT_BROKER_TOKEN_FILE');
    const noUrl = refusal(() =>
      pactBrokerSettings({ PACT_BROKER_TOKEN: TOKEN }, WITHOUT, 'local', readFile),
    );
    expect(noUrl.variable).toBe('PACT_BROKER_URL');
    for (const err of [both, noUrl]) expect(err.message).not.toContain(TOKEN.slice(0, 4));
  });

  it('refuses a missing or empty token file, naming PACT_BROKER_TOKEN_FILE', () => {
    const url = 'https://broker.example';
    const missing = refusal(() =>
      pactBrokerSettings(
        { PACT_BROKER_URL: url, PACT_BROKER_TOKEN_FILE: '/run/nope' },
        WITHOUT,
        'local',
        readFile,
      ),
    );
    expect(missing.message).toMatch(/^PACT_BROKER_TOKEN_FILE: cannot read \/run\/nope/);
    const empty = refusal(() =>
      pactBrokerSettings(
        { PACT_BROKER_URL: url, PACT_BROKER_TOKEN_FILE: '/run/empty' },
        WITHOUT,
        'local',
        readFile,
      ),
    );
    expect(empty.message).toContain('PACT_BROKER_TOKEN_FILE: /run/empty is empty');
  });

  it('refuses a bad URL or a token with spaces at parse time, without echoing the token', () => {
    const badUrl = refusal(() => parseEnv(BotEnv, { PACT_BROKER_URL: 'broker.example' }));
    expect(badUrl.message).toMatch(/^PACT_BROKER_URL: is "broker.example": expected an http/);
    const spaced = refusal(() => parseEnv(BotEnv, { PACT_BROKER_TOKEN: `Bearer ${TOKEN}` }));
    expect(spaced.message).toBe(
      'PACT_BROKER_TOKEN: is "…": expected the API token alone, without spaces or line breaks',
    );
  });
});
