import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WebhookCheck } from '../../shared/rollout/plan.js';
import { startWebhookServer, type WebhookServer } from '../../test/support/webhook-server.js';
import { runWebhook, type WebhookCall } from './webhook-runner.js';

const call: WebhookCall = {
  rolloutId: 'r-1',
  service: 'search',
  version: '7.2.0',
  stableVersion: '7.1.0',
  cluster: 'eu-west',
  stageIndex: 0,
  weight: 0,
  strategy: 'blue-green',
};
const noWait = { sleep: async () => {} };

describe('runWebhook', () => {
  let server: WebhookServer;
  let check: WebhookCheck;
  beforeAll(async () => {
    server = await startWebhookServer();
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.answer({ status: 200, body: { ok: true } });
    check = {
      name: 'smoke',
      url: `${server.url}/smoke`,
      timeoutMs: 2_000,
      retries: 0,
      expect: { status: 200 },
    };
  });

  it('passes on the expected status, after POSTing service, version, cluster, rollout and stage', async () => {
    const before = server.calls().length;
    const result = await runWebhook(check, call, noWait);
    expect(result).toMatchObject({ name: 'smoke', passed: true, attempts: 1 });
    expect(result.detail).toMatch(/^status 200 in \d+ms$/);
    expect(server.calls().slice(before)).toEqual([{ path: '/smoke', body: call }]);
  });

  it('fails on a 500, saying what came back', async () => {
    server.answer({ status: 500, body: { error: 'db down' } });
    expect(await runWebhook(check, call, noWait)).toEqual({
      name: 'smoke',
      passed: false,
      detail: 'status 500, expected 200: {"error":"db down"}',
      attempts: 1,
    });
  });

  it('fails a try that exceeds the timeout, and says so', async () => {
    server.answer({ status: 200, body: { ok: true }, delayMs: 1_000 });
    const started = Date.now();
    const result = await runWebhook({ ...check, timeoutMs: 100 }, call, noWait);
    expect(result).toMatchObject({ passed: false, detail: 'timed out after 100ms' });
    expect(Date.now() - started).toBeLessThan(900);
  });

  it('retries a failed try, bounded: passes when a retry passes, else reports the last failure', async () => {
    server.queue({ status: 503 }, { status: 200, body: { ok: true } });
    expect(await runWebhook({ ...check, retries: 2 }, call, noWait)).toMatchObject({
      passed: true,
      attempts: 2,
    });
    const before = server.calls().length;
    server.answer({ status: 503 });
    expect(await runWebhook({ ...check, retries: 2 }, call, noWait)).toEqual({
      name: 'smoke',
      passed: false,
      detail: 'status 503, expected 200 (after 3 tries)',
      attempts: 3,
    });
    expect(server.calls().length - before).toBe(3);
  });

  it('fails on a body that is not JSON, or larger than 10 KB, without throwing', async () => {
    server.answer({ status: 200, body: '<html>maintenance</html>' });
    expect(await runWebhook(check, call, noWait)).toMatchObject({
      passed: false,
      detail: 'status 200, body is not JSON: <html>maintenance</html>',
    });
    server.answer({ status: 200, body: { padding: 'x'.repeat(11 * 1024) } });
    expect(await runWebhook(check, call, noWait)).toMatchObject({
      passed: false,
      detail: 'status 200, body over 10 KB',
    });
  });

  it('holds the JSON body to the expected fields by dotted path', async () => {
    const expecting = { ...check, expect: { status: 200, body: { 'result.status': 'passed' } } };
    server.answer({ status: 200, body: { result: { status: 'passed', tests: 12 } } });
    expect((await runWebhook(expecting, call, noWait)).passed).toBe(true);
    server.answer({ status: 200, body: { result: { status: 'failed' } } });
    expect(await runWebhook(expecting, call, noWait)).toMatchObject({
      passed: false,
      detail: 'status 200, body result.status is "failed", expected "passed"',
    });
    server.answer({ status: 200 });
    expect(await runWebhook(expecting, call, noWait)).toMatchObject({
      passed: false,
      detail: 'status 200, body result.status is missing, expected "passed"',
    });
  });

  it('fails when nothing listens, naming the reason', async () => {
    const gone = await startWebhookServer();
    await gone.close();
    const result = await runWebhook({ ...check, url: `${gone.url}/smoke` }, call, noWait);
    expect(result.passed).toBe(false);
    expect(result.detail).toContain(`cannot call ${gone.url}/smoke: `);
    expect(result.detail).toContain('ECONNREFUSED');
  });
});
