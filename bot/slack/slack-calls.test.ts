import { webApi } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// The tests' Slack Web API double is the local console's (local/console/slack-web-api.ts).
import { SlackApiDouble } from '../../test/support/slack-api-double.js';
import { SurfaceMetrics } from './metrics.js';
import { SlackCallError, SlackCalls, SlackRateLimitedError } from './slack-calls.js';

const TOKEN = 'xoxb-test-slack-calls';

describe('SlackCalls reading 429s and failures (over HTTP, through the Web API client)', () => {
  let api: SlackApiDouble;
  let calls: SlackCalls;
  let metrics: SurfaceMetrics;
  beforeEach(async () => {
    api = await SlackApiDouble.start({ token: TOKEN });
    const client = new webApi.WebClient(TOKEN, {
      slackApiUrl: api.apiUrl,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
    });
    metrics = new SurfaceMetrics({ processMetrics: false });
    calls = new SlackCalls(client, metrics, { missingMs: 700, maxMs: 90_000 });
  });
  afterEach(() => api.close());

  const refusal = async (): Promise<unknown> =>
    calls.postMessage({ channel: 'C0ONE', text: 'hello' }).then(
      () => undefined,
      (err: unknown) => err,
    );

  it('honours a Retry-After in seconds', async () => {
    api.rateLimit({ retryAfterSeconds: 3, forMs: 60_000 });
    const err = await refusal();
    expect(err).toBeInstanceOf(SlackRateLimitedError);
    expect(err).toMatchObject({ method: 'chat.postMessage', retryAfterMs: 3_000 });
  });

  it.each([
    ['missing', null],
    ['garbage', 'soon'],
    ['negative', '-5'],
  ])('waits the default when Retry-After is %s', async (_what, header) => {
    api.rateLimit({ retryAfterSeconds: 1, retryAfterHeader: header, forMs: 60_000 });
    const err = await refusal();
    expect(err).toBeInstanceOf(SlackRateLimitedError);
    expect((err as SlackRateLimitedError).retryAfterMs).toBe(700);
    expect(
      await metrics.registry.getSingleMetricAsString('rollout_slack_api_rate_limited_total'),
    ).toContain('method="chat.postMessage"} 1');
  });

  it('caps a huge Retry-After', async () => {
    api.rateLimit({ retryAfterSeconds: 86_400, forMs: 60_000 });
    expect(await refusal()).toMatchObject({ retryAfterMs: 90_000 });
  });

  it('reads Slack down (HTTP 503) as a failure worth retrying (no Slack error code)', async () => {
    api.setUnavailable(true);
    const err = await refusal();
    expect(err).toBeInstanceOf(SlackCallError);
    expect((err as SlackCallError).slackError).toBeUndefined();
    api.setUnavailable(false);
    await expect(calls.postMessage({ channel: 'C0ONE', text: 'hello' })).resolves.toMatchObject({
      channel: 'C0ONE',
    });
  });
});
