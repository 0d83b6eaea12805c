import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { silentLogger } from '../../shared/log.js';
import { startConsoleMode, type ConsoleMode } from './console-mode.js';

const POLICY = `
clusters:
  eu-west: {}
services:
  checkout:
    channel: C0CHECKOUT
    clusters: [eu-west]
    stableVersion: 2.4.0
    bake: 1m
    permissions:
      approve: [U0LEAD, S0LEADS]
`;

/** Sends a request with headers fetch would not let us set (Host). */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The console's first server-sent event: everything the page starts from. */
async function snapshot(base: string): Promise<{
  ephemerals: { text: string; command?: string }[];
  faults: { cluster: string; id: string }[];
  people: { id: string }[];
  channels: { id: string; name: string }[];
}> {
  const controller = new AbortController();
  const response = await fetch(`${base}console/api/events`, { signal: controller.signal });
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes('\n\n', text.indexOf('event: snapshot'))) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
  }
  controller.abort();
  const line = text.split('\n').find((l, i, all) => all[i - 1] === 'event: snapshot');
  return JSON.parse(line!.slice('data: '.length));
}

const post = (base: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('the console server', () => {
  let product: ConsoleMode;
  let base: string;

  beforeAll(async () => {
    product = await startConsoleMode({
      policy: parsePolicy(POLICY, 'policy.yaml'),
      logger: silentLogger,
      port: 0,
      host: '127.0.0.1',
      local: { samplingIntervalMs: 200, heartbeatIntervalMs: 1_000, sweepTimer: false },
      surface: { processMetrics: false },
    });
    base = `http://127.0.0.1:${product.port}/`;
  });

  afterAll(() => product?.stop());

  it('prints a localhost URL and serves the page with a policy that runs no inline script', async () => {
    expect(product.url).toBe(`http://localhost:${product.port}/`);
    const page = await fetch(base);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await page.text()).toContain('<script type="module" src="/console/console.js">');
    const script = await fetch(`${base}console/mrkdwn.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${base}console/../package.json`)).status).toBe(404);
  });

  it('answers the health routes on its port, from the Slack surface', async () => {
    expect(await (await fetch(`${base}healthz`)).json()).toEqual({ ok: true });
    expect(await (await fetch(`${base}readyz`)).json()).toMatchObject({
      ready: true,
      checks: { slack: 'ok' },
    });
    expect(await (await fetch(`${base}metrics`)).text()).toContain('rollout_slack_api_calls_total');
  });

  it('answers only requests addressed to a loopback name (no DNS rebinding)', async () => {
    const url = `http://127.0.0.1:${product.port}/console/api/events`;
    expect((await raw(url, { headers: { host: `attacker.example:${product.port}` } })).status).toBe(
      421,
    );
    expect((await raw(base, { headers: { host: `localhost:${product.port}` } })).status).toBe(200);
  });

  it('takes changes only as JSON from its own origin', async () => {
    const form = await fetch(`${base}console/api/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'channel=C0CHECKOUT&user=U0LOCAL&text=/rollout start checkout 2.5.0',
    });
    expect(form.status).toBe(403);
    const crossSite = await post(
      base,
      'console/api/command',
      { channel: 'C0CHECKOUT', user: 'U0LOCAL', text: '/rollout start checkout 2.5.0' },
      { origin: 'https://attacker.example' },
    );
    expect(crossSite.status).toBe(403);
    expect((await post(base, 'console/api/command', { text: 42 })).status).toBe(400);
    expect(await product.local.bot.service.list()).toEqual([]);
  });

  it('answers a body over its limit with 413 and the limit, then goes on serving', async () => {
    const text = `/rollout help ${'x'.repeat(70 * 1024)}`;
    const declared = await post(base, 'console/api/command', {
      channel: 'C0CHECKOUT',
      user: 'U0LOCAL',
      text,
    });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({
      error: "the request is over the console's limit of 64 KiB (65536 bytes)",
      limitBytes: 65536,
    });
    // Sent in chunks, with no Content-Length to refuse it by: counted as it arrives.
    const chunked = await raw(`${base}console/api/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      body: JSON.stringify({ channel: 'C0CHECKOUT', user: 'U0LOCAL', text }),
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toMatchObject({ limitBytes: 65536 });
    expect(
      (
        await post(base, 'console/api/command', {
          channel: 'C0CHECKOUT',
          user: 'U0LOCAL',
          text: '/rollout help',
        })
      ).status,
    ).toBe(200);
  });

  it('sends what is typed to the bot as a signed slash command and shows the answer to its sender', async () => {
    const sent = await post(base, 'console/api/command', {
      channel: 'C0CHECKOUT',
      user: 'U0LOCAL',
      text: '/rollout help',
    });
    expect(sent.status).toBe(200);
    const { ephemerals } = await snapshot(base);
    expect(ephemerals.at(-1)).toMatchObject({ command: '/rollout help' });
    expect(ephemerals.at(-1)?.text).toContain('*/rollout* — staged rollouts from Slack');

    await post(base, 'console/api/command', {
      channel: 'C0CHECKOUT',
      user: 'U0LOCAL',
      text: '/deploy x',
    });
    expect((await snapshot(base)).ephemerals.at(-1)?.text).toContain(
      '`/deploy` is not a valid command',
    );
  });

  it('lists the policy’s channels and people, with a member for each permission group', async () => {
    const { channels, people } = await snapshot(base);
    expect(channels).toEqual([{ id: 'C0CHECKOUT', name: 'checkout', services: ['checkout'] }]);
    expect(people.map((p) => p.id)).toEqual(['U0LOCAL', 'U0LEAD', 'U0LEADS']);
  });

  it('injects, lists and clears faults, refusing ones the simulation would not take', async () => {
    const bad = await post(base, 'console/api/faults', {
      cluster: 'eu-west',
      fault: { errorRate: 3 },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/errorRate/);
    const unknown = await post(base, 'console/api/faults', {
      cluster: 'mars',
      fault: { errorRate: 0.1 },
    });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toContain('unknown cluster "mars"');

    const ok = await post(base, 'console/api/faults', {
      cluster: 'eu-west',
      fault: { service: 'checkout', role: 'canary', addedLatencyMs: 300 },
    });
    expect(ok.status).toBe(200);
    expect(product.local.faults.list()).toEqual([
      {
        cluster: 'eu-west',
        id: expect.any(String),
        fault: { cluster: 'eu-west', service: 'checkout', role: 'canary', addedLatencyMs: 300 },
      },
    ]);
    expect((await snapshot(base)).faults).toHaveLength(1);
    await post(base, 'console/api/faults/clear', {});
    expect(product.local.faults.list()).toEqual([]);
  });

  it('keeps its Slack to itself: the Web API and Bolt listen on loopback and want the made-up token', async () => {
    expect(product.api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const answer = await fetch(`${product.api.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: 'Bearer xoxb-a-guess', 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'C0CHECKOUT', text: 'hello' }),
    });
    expect(await answer.json()).toEqual({ ok: false, error: 'invalid_auth' });
    expect(product.api.messages()).toEqual([]);
  });
});

describe('the console server on a non-loopback address', () => {
  it.each(['0.0.0.0', '::', '10.1.2.3'])(
    'refuses to start on %s, naming HOST, before anything starts',
    async (host) => {
      await expect(
        startConsoleMode({
          policy: parsePolicy(POLICY, 'policy.yaml'),
          logger: silentLogger,
          port: 0,
          host,
        }),
      ).rejects.toThrow(/^HOST: .*loopback/);
    },
  );
});
