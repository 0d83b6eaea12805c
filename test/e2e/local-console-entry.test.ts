/**
 * `npm start` as a person runs it: `local/main.ts` in its own process with nothing configured but
 * a free port, on the example policy. It prints the console's URL, serves the page and the health
 * routes there, and stops cleanly on SIGTERM. (test/browser/console.test.ts drives the page.)
 *
 * The console has no login, so it must not start where it could be reached from the network or
 * beside a real Slack token; and `npm run bot` (`bot/main.ts`) has no local mode to fall back to.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnEntry, type EntryProcess } from '../support/entry-process.js';

let running: EntryProcess | undefined;
afterEach(async () => {
  await running?.kill('SIGKILL');
  running = undefined;
});

/** Starts `entry` with `env` and waits for it to exit, which it must before any ready line. */
async function refusal(entry: string, env: Record<string, string>) {
  running = spawnEntry(entry, { name: entry, env, readyLine: /running/ });
  const exit = await running.exited;
  return { exit, output: running.output() };
}

describe('npm start', () => {
  it('prints the console URL, serves the console and health routes there, and stops on SIGTERM', async () => {
    const local = spawnEntry('local/main.ts', {
      name: 'local',
      env: { PORT: '0' },
      readyLine: /Open the console: http:\/\/localhost:\d+\//,
    });
    running = local;
    await local.ready;
    const url = /Open the console: (http:\/\/localhost:\d+\/)/.exec(local.output())![1]!;
    // Node's fetch resolves localhost to IPv4 or IPv6; the console answers on 127.0.0.1.
    const base = url.replace('localhost', '127.0.0.1');

    const page = await fetch(base);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Rollout ChatOps · local console</title>');
    expect(await (await fetch(`${base}healthz`)).json()).toEqual({ ok: true });
    expect(await (await fetch(`${base}readyz`)).json()).toMatchObject({ ready: true });
    expect(local.output()).not.toMatch(/xoxb-local-[0-9a-f]{8}/);

    expect(await local.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 60_000);

  it.each(['0.0.0.0', '::', '192.168.1.20', 'example.com'])(
    'refuses to serve the console on HOST=%s (not loopback), naming HOST',
    async (host) => {
      const { exit, output } = await refusal('local/main.ts', { PORT: '0', HOST: host });
      expect(exit.code).toBe(1);
      expect(output).toMatch(/HOST: .*loopback/);
      expect(output).not.toMatch(/Open the console/);
    },
    30_000,
  );

  it('refuses to start when SLACK_BOT_TOKEN is set, naming it', async () => {
    const { exit, output } = await refusal('local/main.ts', {
      PORT: '0',
      SLACK_BOT_TOKEN: 'xoxb-1111-2222-realworkspacetoken',
    });
    expect(exit.code).toBe(1);
    expect(output).toMatch(/SLACK_BOT_TOKEN: is set/);
    expect(output).not.toMatch(/Open the console/);
    expect(output).not.toContain('realworkspacetoken');
  }, 30_000);

  it('refuses Kafka and Redis, pointing at npm run bot', async () => {
    const { exit, output } = await refusal('local/main.ts', {
      PORT: '0',
      KAFKA_BROKERS: '127.0.0.1:1',
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(exit.code).toBe(1);
    expect(output).toContain('npm run bot');
  }, 30_000);
});

describe('npm run bot', () => {
  it('refuses to start without KAFKA_BROKERS and REDIS_URL, naming them and npm start', async () => {
    const { exit, output } = await refusal('bot/main.ts', { PORT: '0' });
    expect(exit.code).toBe(1);
    expect(output).toMatch(/KAFKA_BROKERS/);
    expect(output).toMatch(/REDIS_URL/);
    expect(output).toContain('npm start');
    expect(output).not.toMatch(/console/i);
  }, 30_000);
});
