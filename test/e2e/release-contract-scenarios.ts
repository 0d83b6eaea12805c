import { afterEach, describe, expect, it } from 'vitest';
import { PactBrokerChecks } from '../../bot/adapters/pact-broker-checks.js';
import { isRolloutError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/log.js';
import type { ContractChecks } from '../../shared/ports/contract-checks.js';
import { STARTER } from '../support/e2e-policy.js';
import { PactBrokerDouble } from '../support/pact-broker-double.js';
import { waitFor } from '../support/wait-for.js';
import { releasePolicyYaml, waitForRelease, type ReleaseHarness } from './release-scenarios.js';

const TOKEN = 'release-contract-token';
const MEMBERS = [
  { service: 'payments', version: '2.0.0' },
  { service: 'checkout', version: '3.1.0' },
];
const actor = { id: `user:${STARTER}`, userId: STARTER };

/** The release policy, with checkout's calls to payments checked against the broker. */
export function contractPolicyYaml(): string {
  return (
    releasePolicyYaml().replace(
      '    dependsOn: [payments]\n',
      '    dependsOn: [payments]\n    contracts: [payments]\n',
    ) + 'pact:\n  environment: production\n'
  );
}

/** What production runs, and the new pair's pact, verified (or failed) by the new payments. */
function brokerState(broker: PactBrokerDouble, newPair: 'verified' | 'failed'): PactBrokerDouble {
  return broker
    .publishPact('checkout', '2.4.0', 'payments', 'old-contract')
    .publishVerification('payments', '1.0.0', 'checkout', '2.4.0', true)
    .recordDeployment('payments', '1.0.0', 'production')
    .recordDeployment('checkout', '2.4.0', 'production')
    .publishVerification('payments', '2.0.0', 'checkout', '2.4.0', true)
    .publishPact('checkout', '3.1.0', 'payments', 'new-contract')
    .publishVerification('payments', '2.0.0', 'checkout', '3.1.0', newPair === 'verified');
}

/** Issue 12, item 5: releases ask the Pact Broker (its HTTP double) before anything moves. */
export function describeReleaseContractScenarios(
  mode: string,
  start: (options: { policyYaml: string; contracts: ContractChecks }) => Promise<ReleaseHarness>,
): void {
  describe(`release contract checks (${mode})`, () => {
    let harness: ReleaseHarness | undefined;
    let broker: PactBrokerDouble | undefined;
    afterEach(async () => {
      await harness?.stop();
      await broker?.stop();
      harness = broker = undefined;
    });

    async function startWith(newPair: 'verified' | 'failed'): Promise<ReleaseHarness> {
      broker = brokerState(await new PactBrokerDouble({ token: TOKEN }).start(), newPair);
      const contracts = new PactBrokerChecks({
        url: broker.url,
        token: TOKEN,
        logger: silentLogger,
        maxAttempts: 2,
        baseDelayMs: 10,
      });
      harness = await start({ policyYaml: contractPolicyYaml(), contracts });
      return harness;
    }

    async function noRouteWrites(h: ReleaseHarness): Promise<void> {
      for (const cluster of ['eu-west', 'us-east']) {
        for (const service of ['payments', 'checkout']) {
          expect(await h.routeWrites(cluster, service), `${service} in ${cluster}`).toEqual([]);
        }
      }
    }

    it("refuses the release with the broker's reason when can-i-deploy says no; nothing is written or locked", async () => {
      const h = await startWith('failed');
      const refused = await h.releases.start(MEMBERS, actor).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isRolloutError(refused, 'release_refused')).toBe(true);
      expect((refused as Error).message).toContain(
        'The verification for the pact between version 3.1.0 of checkout and version 2.0.0 of payments failed',
      );
      expect(await h.releases.active()).toEqual([]);
      expect(broker!.requests.some((r) => r.path.startsWith('/can-i-deploy'))).toBe(true);
      await noRouteWrites(h);
      // No lock was kept: payments can be rolled out on its own at once.
      const own = await h.service.start({
        service: 'payments',
        version: '2.0.1',
        startedBy: STARTER,
      });
      expect(own.status).not.toBe('failed');
    });

    it('holds the release while the broker does not answer (paged once, nothing moves), then goes on when it says yes', async () => {
      const h = await startWith('verified');
      broker!.failNext(1_000_000);
      const release = await h.releases.start(MEMBERS, actor);
      expect(release.status).toBe('running');
      const page = await waitFor(
        async () => h.releaseNotifier.pages.find((p) => p.releaseId === release.id),
        { what: 'the hold to be paged', timeoutMs: 30_000, intervalMs: 20 },
      );
      expect(page.message).toContain('could not be answered');
      // Asked again (each drain) and still unanswered: nothing started, nothing written.
      const asked = broker!.requests.length;
      await waitFor(async () => broker!.requests.length > asked + 2 || undefined, {
        what: 'the checks to be asked again',
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      await noRouteWrites(h);
      expect(await h.service.get(`${release.id}-payments`)).toBeUndefined();
      const held = await h.releases.get(release.id);
      expect(held?.members.payments?.state).toBe('starting');
      expect(held?.members.checkout?.state).toBe('waiting');

      broker!.failNext(0);
      const done = await waitForRelease(h, release.id);
      expect(done.status).toBe('succeeded');
      expect(h.releaseNotifier.pages.filter((p) => p.releaseId === release.id)).toHaveLength(1);
      expect((await h.routeWrites('eu-west', 'checkout')).at(-1)?.operation).toBe('promote');
    });

    /**
     * The member's rollout exists: its start's checks were asked, its before_widening check is not
     * yet (that waits for its first stage's bake, hundreds of ms away).
     */
    async function paymentsStarted(h: ReleaseHarness, releaseId: string): Promise<void> {
      await waitFor(async () => h.service.get(`${releaseId}-payments`), {
        what: 'payments to start',
        timeoutMs: 30_000,
        intervalMs: 5,
      });
    }

    async function paymentsWeights(h: ReleaseHarness): Promise<number[]> {
      const writes = [
        ...(await h.routeWrites('eu-west', 'payments')),
        ...(await h.routeWrites('us-east', 'payments')),
      ];
      return writes.map((w) => w.canaryWeight);
    }

    it("asks a provider's check again before it widens: a consumer deployed meanwhile that it fails stops the release with the broker's reason", async () => {
      const h = await startWith('verified');
      const release = await h.releases.start(MEMBERS, actor);
      await paymentsStarted(h, release.id);
      // Production gets a checkout hotfix whose pact payments 2.0.0 fails.
      broker!
        .publishPact('checkout', '2.4.1', 'payments', 'hotfix-contract')
        .publishVerification('payments', '2.0.0', 'checkout', '2.4.1', false)
        .recordDeployment('checkout', '2.4.1', 'production');
      const done = await waitForRelease(h, release.id);
      const reason =
        'payments@2.0.0 → production: The verification for the pact between the version of checkout ' +
        'currently deployed to production (2.4.1) and version 2.0.0 of payments failed';
      expect(done.status).toBe('rolled_back');
      expect(done.failure).toMatchObject({ service: 'payments', cause: 'contract_refused' });
      expect(done.failure?.detail).toContain(reason);
      expect(done.members.payments?.state).toBe('rolled_back');
      expect(done.members.payments?.outcome).toContain(reason);
      expect(done.members.checkout?.state).toBe('cancelled');
      // payments never widened past its first stage (5%), and went back to 0.
      const weights = await paymentsWeights(h);
      expect(Math.max(...weights)).toBe(5);
      expect(await h.routerWeight('eu-west', 'payments')).toBe(0);
      expect(await h.routerWeight('us-east', 'payments')).toBe(0);
      for (const cluster of ['eu-west', 'us-east']) {
        expect(await h.routeWrites(cluster, 'checkout'), cluster).toEqual([]);
      }
      // The broker's reason is on the release card.
      await waitFor(
        async () =>
          h.releaseNotifier.cards.some(
            (c) => c.id === release.id && c.failure?.detail.includes(reason),
          ) || undefined,
        { what: "the card with the broker's reason", timeoutMs: 10_000, intervalMs: 20 },
      );
    });

    it('holds a provider at its first stage while the broker does not answer before it widens (paged once), then widens on a yes', async () => {
      const h = await startWith('verified');
      const release = await h.releases.start(MEMBERS, actor);
      await paymentsStarted(h, release.id);
      broker!.failNext(1_000_000);
      const page = await waitFor(
        async () => h.releaseNotifier.pages.find((p) => p.releaseId === release.id),
        { what: 'the hold to be paged', timeoutMs: 30_000, intervalMs: 20 },
      );
      expect(page.message).toContain('could not be answered');
      expect(page.services).toEqual(['payments']);
      // Asked again and still unanswered: payments holds at its first stage, checkout waits.
      const asked = broker!.requests.length;
      await waitFor(async () => broker!.requests.length > asked + 2 || undefined, {
        what: 'the check to be asked again',
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      const holding = await h.service.get(`${release.id}-payments`);
      expect(holding).toMatchObject({ status: 'held', stageIndex: 0 });
      expect(Math.max(...(await paymentsWeights(h)))).toBe(5);
      expect((await h.releases.get(release.id))?.members.checkout?.state).toBe('waiting');

      broker!.failNext(0);
      const done = await waitForRelease(h, release.id);
      expect(done.status).toBe('succeeded');
      expect(h.releaseNotifier.pages.filter((p) => p.releaseId === release.id)).toHaveLength(1);
      expect((await h.routeWrites('eu-west', 'payments')).at(-1)?.operation).toBe('promote');
    });

    it('pauses a release whose provider waits on an unanswered check before widening (the pause is not stuck behind it, nothing widens); the resume asks again and it widens', async () => {
      const h = await startWith('verified');
      const release = await h.releases.start(MEMBERS, actor);
      await paymentsStarted(h, release.id);
      broker!.failNext(1_000_000);
      await waitFor(async () => h.releaseNotifier.pages.find((p) => p.releaseId === release.id), {
        what: 'the hold to be paged',
        timeoutMs: 30_000,
        intervalMs: 20,
      });
      expect((await h.releases.act(release.id, { type: 'pause' }, actor)).status).toBe('paused');
      // The pause is not stuck behind the unanswered check: its line reaches the thread.
      await waitFor(
        async () =>
          h.releaseNotifier.lines.find(
            (l) => l.releaseId === release.id && l.text.startsWith('paused by'),
          ),
        { what: 'the pause to reach the thread', timeoutMs: 30_000, intervalMs: 20 },
      );
      broker!.failNext(0);
      // A pause means no traffic moves: payments stays at its first stage, checkout waits.
      expect(await h.service.get(`${release.id}-payments`)).toMatchObject({
        status: 'held',
        stageIndex: 0,
      });
      expect(Math.max(...(await paymentsWeights(h)))).toBe(5);
      expect((await h.releases.get(release.id))?.members.checkout?.state).toBe('waiting');

      const asked = broker!.requests.length;
      await h.releases.act(release.id, { type: 'resume' }, actor);
      const done = await waitForRelease(h, release.id);
      expect(done.status).toBe('succeeded');
      // Asked again after the resume, before it widened.
      expect(broker!.requests.length).toBeGreaterThan(asked);
      expect((await h.routeWrites('eu-west', 'payments')).at(-1)?.operation).toBe('promote');
    });
  });
}
