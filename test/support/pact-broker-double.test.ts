import { afterEach, describe, expect, it } from 'vitest';
import { PactBrokerDouble } from './pact-broker-double.js';

/** The double must answer as the broker documents, or tests against it prove nothing. */

let broker: PactBrokerDouble;
afterEach(() => broker?.stop());

/** The broker's JSON, read loosely: each test states the fields it expects. */
type Answer = {
  errors: Record<string, string[]>;
  summary: { deployable: boolean | null; reason: string };
  matrix: { verificationResult: unknown }[];
};

async function get(path: string, token = 'tkn'): Promise<{ status: number; body: Answer }> {
  const res = await fetch(`${broker.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: (await res.json()) as Answer };
}

const canIDeploy = (pacticipant: string, version: string, environment = 'production') =>
  get(`/can-i-deploy?pacticipant=${pacticipant}&version=${version}&environment=${environment}`);

describe('PactBrokerDouble', () => {
  it('answers 400 naming each missing or contradictory parameter, like the broker', async () => {
    broker = await new PactBrokerDouble({ token: 'tkn' }).start();
    broker.createEnvironment('production').createVersion('checkout', '1.0.0');
    expect(await get('/can-i-deploy')).toEqual({
      status: 400,
      body: {
        errors: {
          pacticipant: ['is missing'],
          version: ['is missing'],
          to: ['Must specify either an environment or a tag'],
        },
      },
    });
    expect(
      (await get('/can-i-deploy?pacticipant=checkout&version=1.0.0&environment=production&to=prod'))
        .body.errors.to,
    ).toEqual(['Cannot specify both a tag and an environment']);
    expect((await canIDeploy('nobody', '1.0.0')).body.errors.pacticipant).toEqual([
      "Pacticipant with name 'nobody' not found",
    ]);
    expect((await get('/matrix')).status).toBe(400);
    expect((await get('/matrix?q[][pacticipant]=checkout')).body.errors.q).toHaveLength(1);
  });

  it('answers 401 without the bearer token', async () => {
    broker = await new PactBrokerDouble({ token: 'tkn' }).start();
    expect((await get('/can-i-deploy', 'other')).status).toBe(401);
  });

  it('computes answers from what was published: an unchanged pact of a new consumer version is already verified', async () => {
    broker = await new PactBrokerDouble({ token: 'tkn' }).start();
    broker
      .publishPact('checkout', '3.0.0', 'payments', 'content-a')
      .publishVerification('payments', '2.0.0', 'checkout', '3.0.0', true)
      .recordDeployment('payments', '2.0.0', 'production')
      .publishPact('checkout', '3.1.0', 'payments', 'content-a')
      .publishPact('checkout', '3.2.0', 'payments', 'content-b');
    expect((await canIDeploy('checkout', '3.1.0')).body.summary).toEqual({
      deployable: true,
      reason: 'All required verification results are published and successful',
      success: 1,
      failed: 0,
      unknown: 0,
    });
    const changed = (await canIDeploy('checkout', '3.2.0')).body;
    expect(changed.summary.deployable).toBeNull();
    expect(changed.summary.reason).toBe(
      'There is no verified pact between version 3.2.0 of checkout and the version of payments currently deployed to production (2.0.0)',
    );
    expect(changed.matrix[0]?.verificationResult).toBeNull();
  });

  it('checks a provider against the consumers deployed in the environment', async () => {
    broker = await new PactBrokerDouble({ token: 'tkn' }).start();
    broker
      .publishPact('checkout', '3.0.0', 'payments')
      .recordDeployment('checkout', '3.0.0', 'production')
      .publishVerification('payments', '2.0.0', 'checkout', '3.0.0', true)
      .publishVerification('payments', '2.1.0', 'checkout', '3.0.0', false);
    expect((await canIDeploy('payments', '2.0.0')).body.summary.deployable).toBe(true);
    const broken = (await canIDeploy('payments', '2.1.0')).body.summary;
    expect(broken.deployable).toBe(false);
    expect(broken.reason).toBe(
      'The verification for the pact between the version of checkout currently deployed to production (3.0.0) and version 2.1.0 of payments failed',
    );
    expect((await canIDeploy('payments', '9.9.9')).body.summary).toMatchObject({
      deployable: false,
      reason: 'No pacts or verifications have been published for version 9.9.9 of payments',
    });
  });

  it('says unknown for a consumer whose provider runs nowhere in the environment', async () => {
    broker = await new PactBrokerDouble({ token: 'tkn' }).start();
    broker.createEnvironment('production').publishPact('checkout', '3.0.0', 'payments');
    const answer = (await canIDeploy('checkout', '3.0.0')).body.summary;
    expect(answer.deployable).toBeNull();
    expect(answer.reason).toContain('a version of payments currently deployed to production');
  });

  it('checks two given versions against each other both ways with the matrix, and no pact is no dependency', async () => {
    broker = await new PactBrokerDouble({ token: 'tkn' }).start();
    broker
      .publishPact('checkout', '3.1.0', 'payments')
      .publishVerification('payments', '2.0.0', 'checkout', '3.1.0', true)
      .publishPact('payments', '2.0.0', 'ledger')
      .createVersion('ledger', '7.0.0');
    const pair = (a: string, b: string) =>
      get(
        `/matrix?q[][pacticipant]=${a.replace('@', '&q[][version]=')}&q[][pacticipant]=${b.replace('@', '&q[][version]=')}&latestby=cvpv`,
      );
    expect((await pair('payments@2.0.0', 'checkout@3.1.0')).body.summary.deployable).toBe(true);
    expect((await pair('payments@2.0.0', 'ledger@7.0.0')).body.summary.deployable).toBeNull();
    expect((await pair('checkout@3.1.0', 'ledger@7.0.0')).body.summary).toMatchObject({
      deployable: true,
      reason: 'There are no missing dependencies',
    });
  });
});
