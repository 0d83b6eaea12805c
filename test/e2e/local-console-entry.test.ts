/**
 * `npm start` as a person runs it: `bot/main.ts` in its own process with nothing configured but a
 * free port, on the example policy. It prints the console's URL, serves the page and the health
 * routes there, and stops cleanly on SIGTERM. (test/browser/console.test.ts drives the page.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnEntry, type EntryProcess } from '../support/entry-process.js';

describe('npm start', () => {
  let bot: EntryProcess | undefined;
  afterEach(async () => {
    await bot?.kill('SIGKILL');
    bot = undefined;
  });

  it('prints the console URL, serves the console and health routes there, and stops on SIGTERM', async () => {
    bot = spawnEntry('bot/main.ts', {
      name: 'bot',
      env: { PORT: '0' },
      readyLine: /Open the console: http:\/\/localhost:\d+\//,
    });
    await bot.ready;
    const url = /Open the console: (http:\/\/localhost:\d+\/)/.exec(bot.output())![1]!;
    // Node's fetch resolves localhost to IPv4 or IPv6; the console answers on 127.0.0.1.
    const base = url.replace('localhost', '127.0.0.1');

    const page = await fetch(base);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Rollout ChatOps · local console</title>');
    expect(await (await fetch(`${base}healthz`)).json()).toEqual({ ok: true });
    expect(await (await fetch(`${base}readyz`)).json()).toMatchObject({ ready: true });
    expect(bot.output()).not.toMatch(/xoxb-local-[0-9a-f]{8}/);

    expect(await bot.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 60_000);
});
