import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCardStore } from '../../bot/adapters/memory-card-store.js';
import { MemoryHealthSampleStore } from '../../bot/adapters/memory-health-samples.js';
import { MemoryOnceClaims } from '../../bot/adapters/memory-once-claims.js';
import { MemoryRolloutStore } from '../../bot/adapters/memory-rollout-store.js';
import { CARD_ACTIONS } from '../../bot/slack/card.js';
import { createSlackSurface, type SlackEnv } from '../../bot/slack/surface.js';
import { systemClock } from '../../shared/clock.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { silentLogger } from '../../shared/log.js';
import { CHANNELS, SLACK_PEOPLE, slackPolicyYaml } from '../support/slack-policy.js';
import {
  BOT_TOKEN,
  SIGNING_SECRET,
  startSlackProduct,
  type SlackProduct,
} from '../support/slack-product.js';
import { signSlackRequest } from '../support/slack-requests.js';
import { waitFor } from '../support/wait-for.js';
import { commandsPublished } from './slack-helpers.js';

const who = { user: SLACK_PEOPLE.STARTER, channel: CHANNELS.checkout };
const FIVE_MINUTES = 300;

describe('Slack request verification', () => {
  let product: SlackProduct;
  afterEach(async () => {
    await product.stop();
  });

  it('refuses a bad signature, a stale and a future timestamp with 401 and runs nothing', async () => {
    product = await startSlackProduct();
    const now = Math.floor(Date.now() / 1000);
    const refused = [
      await product.slack.command('start checkout 2.5.0', who, { signature: 'v0=deadbeef' }),
      await product.slack.command('start checkout 2.5.0', who, {
        signature: signSlackRequest('another-apps-secret', now, 'text=start'),
      }),
      await product.slack.command('start checkout 2.5.0', who, {
        timestamp: now - FIVE_MINUTES - 60,
      }),
      await product.slack.command('start checkout 2.5.0', who, {
        timestamp: now + FIVE_MINUTES + 60,
      }),
      await product.slack.click(CARD_ACTIONS.abort, 'checkout-123456', who, { signature: 'v0=00' }),
      await product.slack.click(CARD_ACTIONS.abort, 'checkout-123456', who, {
        timestamp: now + FIVE_MINUTES + 60,
      }),
    ];
    expect(refused.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(product.api.responses()).toEqual([]);
    expect(await product.local.bot.service.list()).toEqual([]);
    expect(commandsPublished(product)).toBe(0);

    // Within the window either way, a correctly signed request is served.
    const early = await product.slack.command('list', who, { timestamp: now - 200 });
    const late = await product.slack.command('list', who, { timestamp: now + 200 });
    expect([early.status, late.status]).toEqual([200, 200]);

    const metrics = await (await fetch(`${product.baseUrl}/metrics`)).text();
    expect(metrics).toContain('rollout_slack_requests_refused_total{reason="timestamp"} 3');
    expect(metrics).toContain('rollout_slack_requests_refused_total{reason="signature"} 3');
  });

  it('never writes the bot token or the signing secret to the log, even at debug level', async () => {
    product = await startSlackProduct({ logLevel: 'debug' });
    await product.slack.ask('start checkout 2.5.0', who);
    await product.slack.command('list', who, { signature: 'v0=forged' });
    await product.slack.ask('status checkout', who);
    await product.surface.idle();
    const log = product.logs.join('');
    // Bolt's and the Web API client's own lines come through our logger…
    expect(product.logs.some((l) => l.includes('"component":"bolt"'))).toBe(true);
    // …and no secret does.
    expect(log).not.toContain(BOT_TOKEN);
    expect(log).not.toContain(BOT_TOKEN.slice(5));
    expect(log).not.toContain(SIGNING_SECRET);
  });
});

describe('health, readiness and metrics', () => {
  let product: SlackProduct;
  afterEach(async () => {
    await product.stop();
  });

  it('serves /healthz, /readyz (naming what is unreachable) and /metrics on the Slack port', async () => {
    let kafkaUp = true;
    product = await startSlackProduct({
      tuning: { slackCheckCacheMs: 0 },
      readiness: [
        {
          name: 'kafka',
          check: async () => {
            if (!kafkaUp) throw new Error('no broker answers');
          },
        },
      ],
    });
    const get = (path: string) => fetch(`${product.baseUrl}${path}`);
    expect((await get('/healthz')).status).toBe(200);

    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { kafka: 'ok', slack: 'ok' } });

    kafkaUp = false;
    product.api.setUnavailable(true);
    const notReady = await waitFor(
      async () => {
        const res = await get('/readyz');
        return res.status === 503 && ((await res.json()) as { checks: Record<string, string> });
      },
      { what: '/readyz to report 503' },
    );
    expect(notReady.checks.kafka).toBe('no broker answers');
    expect(notReady.checks.slack).not.toBe('ok');
    product.api.setUnavailable(false);
    kafkaUp = true;

    await product.slack.ask('help', who);
    await product.slack.ask('list', who);
    const metrics = await get('/metrics');
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toMatch(/rollout_slack_ack_seconds_count\{kind="command"\} 2/);
    expect(text).toContain('# TYPE rollout_rollouts_started_total counter');
    expect(text).toContain('# TYPE rollout_rollouts_ended_total counter');
    expect(text).toMatch(/rollout_slack_api_calls_total\{method="auth.test",result="ok"\} \d/);
    // Health routes are not Slack's endpoint: no signature needed, and nothing else is served.
    expect((await get('/slack/events')).status).toBe(404);
  });
});

describe('Slack configuration', () => {
  const base: SlackEnv = {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    PORT: 0,
    HOST: '127.0.0.1',
  };
  const deps = () => {
    const policy = parsePolicy(slackPolicyYaml(), 'slack-policy.yaml');
    return {
      policy: () => policy,
      store: new MemoryRolloutStore(),
      samples: new MemoryHealthSampleStore(),
      cards: new MemoryCardStore(),
      claims: new MemoryOnceClaims(systemClock),
      logger: silentLogger,
    };
  };

  it('needs the signing secret in HTTP mode, and says so by name', () => {
    expect(() => createSlackSurface({ env: base, ...deps() })).toThrow(
      /^SLACK_SIGNING_SECRET: is not set: HTTP mode needs it/,
    );
  });

  it('needs the bot token', () => {
    expect(() =>
      createSlackSurface({
        env: { ...base, SLACK_BOT_TOKEN: undefined, SLACK_SIGNING_SECRET: SIGNING_SECRET },
        ...deps(),
      }),
    ).toThrow(/^SLACK_BOT_TOKEN: is not set/);
  });

  it('uses Socket Mode when an app token is set, which needs no signing secret', () => {
    const surface = createSlackSurface({
      env: { ...base, SLACK_APP_TOKEN: 'xapp-1-A0-1-abcdef' },
      ...deps(),
    });
    expect(surface.mode).toBe('socket');
    const http = createSlackSurface({
      env: { ...base, SLACK_SIGNING_SECRET: SIGNING_SECRET },
      ...deps(),
    });
    expect(http.mode).toBe('http');
  });
});
