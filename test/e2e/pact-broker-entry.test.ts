/**
 * `npm run bot` with a policy that names contract checks: the Pact Broker settings are checked at
 * start, before any connection is made, so a missing broker stops the process naming the variable.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnEntry, type EntryProcess } from '../support/entry-process.js';

const POLICY =
  'clusters:\n  eu-west: {}\npact:\n  environment: production\nservices:\n' +
  '  payments:\n    channel: C0PAY\n    clusters: [eu-west]\n' +
  '  checkout:\n    channel: C0CO\n    clusters: [eu-west]\n    dependsOn: [payments]\n    contracts: [payments]\n';

let dir: string;
let running: EntryProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollout-pact-entry-'));
  await writeFile(join(dir, 'policy.yaml'), POLICY);
});
afterEach(async () => {
  await running?.kill('SIGKILL');
  running = undefined;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function botRefusal(extra: Record<string, string>) {
  running = spawnEntry('bot/main.ts', {
    name: 'bot',
    env: {
      // Nothing listens there: the refusal must come before any connection is tried.
      KAFKA_BROKERS: '127.0.0.1:1',
      REDIS_URL: 'redis://127.0.0.1:1',
      COMMAND_SIGNING: 'off',
      ROLLOUT_CONFIG: join(dir, 'policy.yaml'),
      PORT: '0',
      ...extra,
    },
    readyLine: /bot running/,
  });
  const exit = await running.exited;
  return { exit, output: running.output() };
}

describe('npm run bot with contract checks in the policy', () => {
  it('refuses to start without PACT_BROKER_URL, naming it and the checked edge', async () => {
    const { exit, output } = await botRefusal({});
    expect(exit.code).toBe(1);
    expect(output).toContain(
      'bot: PACT_BROKER_URL: is not set, but the policy names contract checks',
    );
    expect(output).toContain('checkout → payments');
    expect(output).not.toMatch(/bot running/);
  }, 30_000);

  it('refuses a token without a URL, naming PACT_BROKER_URL and never printing the token', async () => {
    const token = 'pb-token-that-must-never-be-printed';
    const { exit, output } = await botRefusal({ PACT_BROKER_TOKEN: token });
    expect(exit.code).toBe(1);
    expect(output).toContain('PACT_BROKER_URL: is not set but PACT_BROKER_TOKEN is');
    expect(output).not.toContain('must-never');
  }, 30_000);
});
