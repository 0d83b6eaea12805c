import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { PactBrokerDouble } from '../../test/support/pact-broker-double.js';
import { createLogger } from '../../shared/log.js';
import { PactBrokerChecks, type PactBrokerChecksOptions } from './pact-broker-checks.js';

const TOKEN = 'pb-token-0123456789abcdef';
const CHECKOUT = { pacticipant: 'checkout', version: '3.1.0', to: { environment: 'production' } };

let broker: PactBrokerDouble | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

/** A broker where checkout 3.1.0's pact with payments is verified by payments 2.0.0 in production. */
async function compatibleBroker(): Promise<PactBrokerDouble> {
  broker = await new PactBrokerDouble({ token: TOKEN }).start();
  broker
    .publishPact('checkout', '3.1.0', 'payments')
    .publishVerification('payments', '2.0.0', 'checkout', '3.1.0', true)
    .recordDeployment('payments', '2.0.0', 'production');
  return broker;
}

function checksOn(url: string, options: Partial<PactBrokerChecksOptions> = {}) {
  const logged: string[] = [];
  const sleeps: number[] = [];
  const checks = new PactBrokerChecks({
    url,
    token: TOKEN,
    logger: createLogger(
      'test',
      'debug',
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logged.push(chunk.toString());
          done();
        },
      }),
    ),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    ...options,
  });
  return { checks, logged, sleeps };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('PactBrokerChecks', () => {
  it('asks can-i-deploy with the bearer token, and the matrix with both versions for a pair', async () => {
    const double = await compatibleBroker();
    const { checks } = checksOn(double.url);
    expect((await checks.canIDeploy(CHECKOUT)).verdict).toBe('yes');
    expect(
      (
        await checks.canIDeploy({
          pacticipant: 'checkout',
          version: '3.1.0',
          to: { pacticipant: 'payments', version: '2.0.0' },
        })
      ).verdict,
    ).toBe('yes');
    expect(double.requests.map((r) => decodeURIComponent(r.path))).toEqual([
      '/can-i-deploy?pacticipant=checkout&version=3.1.0&environment=production',
      '/matrix?q[][pacticipant]=checkout&q[][version]=3.1.0&q[][pacticipant]=payments&q[][version]=2.0.0&latestby=cvpv',
    ]);
    expect(double.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('keeps a path prefix of PACT_BROKER_URL (a broker behind a reverse proxy)', async () => {
    const double = await compatibleBroker();
    const { checks } = checksOn(`${double.url}/pact/`);
    const answer = await checks.canIDeploy(CHECKOUT);
    expect(answer).toMatchObject({ verdict: 'unknown', problem: 'refused' });
    expect(double.requests[0]?.path).toMatch(/^\/pact\/can-i-deploy\?/);
  });

  it('is unknown, never yes, when the broker is down, after a bounded number of tries', async () => {
    const { checks, logged, sleeps } = checksOn(`http://127.0.0.1:${await closedPort()}`, {
      maxAttempts: 3,
      baseDelayMs: 100,
    });
    const answer = await checks.canIDeploy(CHECKOUT);
    expect(answer.verdict).toBe('unknown');
    expect(answer.problem).toBe('unreachable');
    expect(answer.reason).toMatch(
      /^the Pact Broker did not answer for checkout@3\.1\.0 → production \(3 tries; last: .*ECONNREFUSED/,
    );
    expect(sleeps).toEqual([100, 200]);
    expect(logged.join('')).not.toContain(TOKEN);
  });

  it('retries a 5xx and takes the answer that follows', async () => {
    const double = await compatibleBroker();
    double.failNext(2);
    const { checks } = checksOn(double.url, { maxAttempts: 3 });
    expect((await checks.canIDeploy(CHECKOUT)).verdict).toBe('yes');
    expect(double.requests.map((r) => r.status)).toEqual([500, 500, 200]);
  });

  it('is unknown when every try answers 5xx', async () => {
    const double = await compatibleBroker();
    double.failNext(5);
    const { checks } = checksOn(double.url, { maxAttempts: 2 });
    const answer = await checks.canIDeploy(CHECKOUT);
    expect(answer).toMatchObject({ verdict: 'unknown', problem: 'unreachable' });
    expect(answer.reason).toContain('last: HTTP 500');
    expect(double.requests).toHaveLength(2);
  });

  it('is unknown when the broker answers garbage (an HTML page with 200)', async () => {
    const double = await compatibleBroker();
    double.garbleNext(5);
    const { checks } = checksOn(double.url, { maxAttempts: 2 });
    const answer = await checks.canIDeploy(CHECKOUT);
    expect(answer).toMatchObject({ verdict: 'unknown', problem: 'bad_answer' });
    expect(answer.reason).toContain("not can-i-deploy's JSON: <html><body>Bad gateway");
  });

  it('gives up on a broker that does not answer within the timeout', async () => {
    const double = await compatibleBroker();
    double.stallNext(1);
    const { checks } = checksOn(double.url, { maxAttempts: 2, timeoutMs: 300 });
    // The second try gets the real answer: a stalled request is abandoned, not waited for.
    expect((await checks.canIDeploy(CHECKOUT)).verdict).toBe('yes');
    double.stallNext(2);
    const stalled = await checks.canIDeploy(CHECKOUT);
    expect(stalled).toMatchObject({ verdict: 'unknown', problem: 'unreachable' });
    expect(stalled.reason).toContain('no answer within 300 ms');
  });

  it('names PACT_BROKER_TOKEN when the token is wrong or missing, without retrying or logging it', async () => {
    const double = await compatibleBroker();
    const { checks, logged } = checksOn(double.url, { token: 'pb-wrong-token' });
    const wrong = await checks.canIDeploy(CHECKOUT);
    expect(wrong).toMatchObject({ verdict: 'unknown', problem: 'unauthorized' });
    expect(wrong.reason).toContain('it refused the token; check PACT_BROKER_TOKEN');
    expect(double.requests).toHaveLength(1);
    const missing = await new PactBrokerChecks({
      url: double.url,
      logger: createLogger('test', 'silent'),
    }).canIDeploy(CHECKOUT);
    expect(missing.reason).toContain('it wants a token; set PACT_BROKER_TOKEN');
    expect(logged.join('')).not.toContain('pb-wrong-token');
  });

  it("passes the broker's 400 on, naming what to fix in the policy, without retrying", async () => {
    const double = await compatibleBroker();
    const { checks } = checksOn(double.url);
    const answer = await checks.canIDeploy({ ...CHECKOUT, to: { environment: 'prod' } });
    expect(answer).toMatchObject({ verdict: 'unknown', problem: 'refused' });
    expect(answer.reason).toContain("environment: Environment with name 'prod' does not exist");
    expect(answer.reason).toContain('pact.environment');
    expect(double.requests).toHaveLength(1);
  });

  it('is no beside a failed verification even when the broker says null for another unverified one', async () => {
    const double = await compatibleBroker();
    double
      .publishPact('checkout', '3.1.0', 'search')
      .publishVerification('search', '1.0.0', 'checkout', '3.1.0', false)
      .recordDeployment('search', '1.0.0', 'production')
      .publishPact('checkout', '3.1.0', 'cart')
      .recordDeployment('cart', '5.0.0', 'production');
    const answer = await checksOn(double.url).checks.canIDeploy(CHECKOUT);
    expect(answer.verdict).toBe('no');
    expect(answer.reason).toContain(
      'The verification for the pact between version 3.1.0 of checkout and the version of search currently deployed to production (1.0.0) failed',
    );
    expect(answer.blocking).toEqual([
      {
        consumer: { pacticipant: 'checkout', version: '3.1.0' },
        provider: { pacticipant: 'search', version: '1.0.0' },
        success: false,
      },
      {
        consumer: { pacticipant: 'checkout', version: '3.1.0' },
        provider: { pacticipant: 'cart', version: '5.0.0' },
      },
    ]);
  });

  it('refuses a PACT_BROKER_URL that is not a URL when built', () => {
    expect(
      () => new PactBrokerChecks({ url: 'broker', logger: createLogger('t', 'silent') }),
    ).toThrow(/Invalid URL/);
  });
});
