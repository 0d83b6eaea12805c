/**
 * `npm run bot` in distributed mode with Slack configured, as an operator runs it: `bot/main.ts`
 * in its own process on the Kafka test broker and a private Redis, its Web API pointed at the
 * Slack double. The Slack surface must be the one that answers (not the log notifier), and
 * `/readyz` must check Kafka, Redis and Slack for real.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2ePolicyYaml } from '../support/e2e-policy.js';
import { writeSigningKeys } from '../support/signing-keys.js';
import { spawnEntry, type EntryProcess } from '../support/entry-process.js';
import { startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { SlackApiDouble } from '../support/slack-api-double.js';
import { SlackRequests } from '../support/slack-requests.js';
import { waitFor } from '../support/wait-for.js';

const TOKEN = 'xoxb-3333-4444-distributedbottoken';
const SECRET = 'distributed-signing-secret-for-tests';

describe('npm run bot with Slack (distributed mode)', () => {
  let kafka: KafkaTestBroker;
  let redis: RedisServer;
  let slack: SlackApiDouble;
  let dir: string;
  let bot: EntryProcess;
  let base: string;

  beforeAll(async () => {
    [kafka, redis, slack] = await Promise.all([
      startKafkaBroker(),
      startRedis(),
      SlackApiDouble.start({ token: TOKEN }),
    ]);
    dir = await mkdtemp(join(tmpdir(), 'rollout-bot-slack-'));
    await writeFile(join(dir, 'policy.yaml'), e2ePolicyYaml());
    const keys = await writeSigningKeys(dir);
    bot = spawnEntry('bot/main.ts', {
      name: 'bot',
      env: {
        KAFKA_BROKERS: kafka.bootstrap.join(','),
        REDIS_URL: redis.url,
        ROLLOUT_CONFIG: join(dir, 'policy.yaml'),
        SLACK_BOT_TOKEN: TOKEN,
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_API_URL: slack.apiUrl,
        COMMAND_SIGNING_KEY_FILE: keys.privateKeyFile,
        PORT: '0',
      },
      readyLine: /bot running in distributed mode: .*Slack \(http mode\).*HTTP on 127\.0\.0\.1:\d+/,
      readyTimeoutMs: 60_000,
    });
    await bot.ready;
    const port = /HTTP on 127\.0\.0\.1:(\d+)/.exec(bot.output())![1]!;
    base = `http://127.0.0.1:${port}`;
  }, 90_000);

  afterAll(async () => {
    await bot?.kill('SIGKILL');
    await Promise.all([kafka?.stop(), redis?.stop(), slack?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('reports ready only after checking Kafka, Redis and Slack', async () => {
    const ready = await waitFor(
      async () => {
        const res = await fetch(`${base}/readyz`);
        return res.status === 200
          ? ((await res.json()) as { checks: Record<string, string> })
          : undefined;
      },
      { what: 'the bot to report ready', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(ready.checks).toEqual({ kafka: 'ok', redis: 'ok', slack: 'ok' });
  });

  it('answers /rollout through Slack and posts the card in the service’s channel', async () => {
    const requests = new SlackRequests({
      eventsUrl: `${base}/slack/events`,
      signingSecret: SECRET,
      api: slack,
    });
    const answer = await requests.command('start checkout 2.5.0 taking it live', {
      user: 'U0STARTER',
      channel: 'C0CHECKOUT',
    });
    expect(answer.status).toBe(200);
    const card = await waitFor(() => slack.channelMessages('C0CHECKOUT')[0], {
      what: 'the rollout card in #checkout',
      timeoutMs: 30_000,
    });
    expect(JSON.stringify(card)).toContain('2.5.0');
  });

  it('refuses an unsigned request', async () => {
    const res = await fetch(`${base}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'command=%2Frollout&text=list',
    });
    expect(res.status).toBe(401);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await bot.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
