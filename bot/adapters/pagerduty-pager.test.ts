import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import {
  PagerUnavailableError,
  PageRejectedError,
  type PageTrigger,
} from '../../shared/ports/pager.js';
import { PagerDutyDouble } from '../../test/support/pagerduty-double.js';
import { PagerDutyPager } from './pagerduty-pager.js';

const KEY = 'R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32';

const aPage = (overrides: Partial<PageTrigger> = {}): PageTrigger => ({
  routingKey: KEY,
  dedupKey: 'rollout/checkout-1a2b3c/automatic_rollback',
  summary: 'checkout 2.5.0 rolled back automatically: gate breached at stage 2',
  source: 'checkout',
  severity: 'critical',
  class: 'automatic_rollback',
  ...overrides,
});

describe('PagerDutyPager against a double of the Events API v2', () => {
  let double: PagerDutyDouble;
  let log: string;
  let slept: number[];
  const pager = (maxAttempts = 4) =>
    new PagerDutyPager({
      eventsUrl: double.url,
      logger: createLogger(
        'bot',
        'info',
        new Writable({
          write(chunk: Buffer, _enc, done) {
            log += chunk.toString();
            done();
          },
        }),
      ),
      maxAttempts,
      baseDelayMs: 100,
      maxDelayMs: 2_000,
      sleep: async (ms) => void slept.push(ms),
    });

  beforeEach(async () => {
    double = await new PagerDutyDouble().start();
    log = '';
    slept = [];
  });
  afterEach(() => double.stop());

  it('triggers with the documented fields and is done at 202', async () => {
    await pager().trigger(aPage({ details: { rolloutId: 'checkout-1a2b3c' } }));
    expect(double.requests.map((r) => [r.path, r.status])).toEqual([['/v2/enqueue', 202]]);
    expect(double.accepted('trigger')[0]).toMatchObject({
      routing_key: KEY,
      event_action: 'trigger',
      dedup_key: 'rollout/checkout-1a2b3c/automatic_rollback',
      payload: {
        summary: expect.stringContaining('rolled back automatically') as unknown,
        source: 'checkout',
        severity: 'critical',
        class: 'automatic_rollback',
        custom_details: { rolloutId: 'checkout-1a2b3c' },
      },
    });
  });

  it('resolves by dedup key', async () => {
    await pager().resolve(KEY, 'rollout/checkout-1a2b3c/automatic_rollback');
    expect(double.accepted('resolve')).toEqual([
      {
        routing_key: KEY,
        event_action: 'resolve',
        dedup_key: 'rollout/checkout-1a2b3c/automatic_rollback',
      },
    ]);
  });

  it('retries a 429 after its Retry-After (capped), then delivers once', async () => {
    double.rateLimit(2, 1);
    await pager().trigger(aPage());
    expect(double.requests.map((r) => r.status)).toEqual([429, 429, 202]);
    expect(double.accepted('trigger')).toHaveLength(1);
    expect(slept).toEqual([1_000, 1_000]);
  });

  it('retries 5xx with capped exponential backoff', async () => {
    double.failNext(3);
    await pager(5).trigger(aPage());
    expect(double.requests.map((r) => r.status)).toEqual([500, 500, 500, 202]);
    expect(slept).toEqual([100, 200, 400]);
  });

  it('gives up after its attempts with PagerUnavailableError', async () => {
    double.rateLimit(10);
    await expect(pager(3).trigger(aPage())).rejects.toBeInstanceOf(PagerUnavailableError);
    expect(double.requests).toHaveLength(3);
  });

  it('does not retry a 400, logs PagerDuty’s errors and never the routing key', async () => {
    const err = await pager()
      .trigger(
        aPage({ routingKey: `${KEY}-too-long`, severity: 'fatal' as PageTrigger['severity'] }),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PageRejectedError);
    expect((err as PageRejectedError).errors).toEqual([
      "'routing_key' must be a 32 character integration key",
      "'payload.severity' must be one of critical, error, warning, info",
    ]);
    expect(double.requests.map((r) => r.status)).toEqual([400]);
    expect(log).toContain("'payload.severity' must be one of critical, error, warning, info");
    expect(log).not.toContain(KEY);
  });
});
