import { afterEach, describe, expect, it } from 'vitest';
import type { RecordingReleaseNotifier } from '../../bot/adapters/recording-release-notifier.js';
import type { ReleaseService } from '../../bot/release-service.js';
import type { Fault } from '../../shared/config/simulation.js';
import { isRolloutError } from '../../shared/errors.js';
import { memberRolloutId, type ReleaseState } from '../../shared/release/state.js';
import { E2E_GATE_YAML, STARTER } from '../support/e2e-policy.js';
import { waitFor } from '../support/wait-for.js';
import type { SeenRouteWrite, WaveHarness } from './wave-scenarios.js';

/** A product with releases, as the release scenarios see it. */
export type ReleaseHarness = WaveHarness & {
  releases: ReleaseService;
  releaseNotifier: RecordingReleaseNotifier;
  /** Clears every fault of one cluster while the product runs (absent for agent processes). */
  clearFaults?(cluster: string): Promise<void>;
};

/**
 * payments and its consumer checkout, and an independent search, each in eu-west and us-east,
 * stages 5, 50, 100 at e2e speed.
 */
export function releasePolicyYaml(
  faults: Fault[] = [],
  release: { onFailure?: string; maxParallel?: number } = {},
): string {
  return `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [5, 50, 100]
  bake: 300ms
${E2E_GATE_YAML}services:
  payments:
    channel: C0PAYMENTS
    oncall: S0PAYMENTS
    clusters: [eu-west, us-east]
    stableVersion: 1.0.0
  checkout:
    channel: C0CHECKOUT
    oncall: S0CHECKOUT
    clusters: [eu-west, us-east]
    stableVersion: 2.4.0
    dependsOn: [payments]
  search:
    channel: C0SEARCH
    oncall: S0SEARCH
    clusters: [eu-west, us-east]
    stableVersion: 7.1.0
release:
  maxParallel: ${release.maxParallel ?? 2}
  onFailure: ${release.onFailure ?? 'rollback-all'}
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 20000
  faults: ${JSON.stringify(faults)}
`;
}

const MEMBERS = [
  { service: 'payments', version: '2.0.0' },
  { service: 'checkout', version: '3.1.0' },
  { service: 'search', version: '7.2.0' },
];
const ENDED: ReleaseState['status'][] = ['succeeded', 'rolled_back', 'aborted'];
const actor = { id: `user:${STARTER}`, userId: STARTER };

/** Waits until the release ended (succeeded, rolled back or aborted). */
export async function waitForRelease(h: ReleaseHarness, id: string): Promise<ReleaseState> {
  return waitFor(
    async () => {
      const state = await h.releases.get(id);
      return state && ENDED.includes(state.status) ? state : undefined;
    },
    { what: `release ${id} to end`, timeoutMs: 90_000, intervalMs: 20 },
  );
}

/** The time of the first route write of `operation` (or at `weight`) in the cluster. */
function firstAt(writes: SeenRouteWrite[], match: (w: SeenRouteWrite) => boolean): number {
  const found = writes.find(match);
  if (found === undefined) throw new Error(`no such write in ${JSON.stringify(writes)}`);
  return found.at;
}

/** Issue 12, item 3 and 6: releases of several services, end to end. */
export function describeReleaseScenarios(
  mode: string,
  start: (options: { policyYaml: string }) => Promise<ReleaseHarness>,
  /** The harness can clear faults while the product runs (agents in this process). */
  { runtimeFaults = false }: { runtimeFaults?: boolean } = {},
): void {
  describe(`releases (${mode})`, () => {
    let harness: ReleaseHarness | undefined;
    afterEach(async () => {
      await harness?.stop();
      harness = undefined;
    });

    it('runs payments and search in parallel, checkout after payments holds, and promotes all', async () => {
      harness = await start({ policyYaml: releasePolicyYaml() });
      const h = harness;
      const release = await h.releases.start(MEMBERS, actor, 'new payments API');
      const done = await waitForRelease(h, release.id);
      expect(done.status).toBe('succeeded');
      const writes = async (service: string) => h.routeWrites('eu-west', service);
      const payments = await writes('payments');
      const checkout = await writes('checkout');
      const search = await writes('search');
      // search started before payments reached its hold: they ran side by side.
      expect(search[0]!.at).toBeLessThan(firstAt(payments, (w) => w.canaryWeight === 100));
      // checkout's first write comes after payments reached 100% in every cluster.
      const paymentsHeld = Math.max(
        firstAt(payments, (w) => w.canaryWeight === 100),
        firstAt(await h.routeWrites('us-east', 'payments'), (w) => w.canaryWeight === 100),
      );
      expect(checkout[0]!.at).toBeGreaterThanOrEqual(paymentsHeld);
      // Providers are promoted before their consumers.
      expect(firstAt(checkout, (w) => w.operation === 'promote')).toBeGreaterThanOrEqual(
        firstAt(payments, (w) => w.operation === 'promote'),
      );
      for (const service of ['payments', 'checkout', 'search']) {
        const rollout = await h.service.get(memberRolloutId(release.id, service));
        expect(rollout?.status, service).toBe('succeeded');
        expect(rollout?.plan.releaseId, service).toBe(release.id);
      }
      // One release card, updated in place; the member cards were told about their release.
      expect(new Set(h.releaseNotifier.cards.map((c) => c.id))).toEqual(new Set([release.id]));
      // The card's last update follows the stored end: the runner carries it out after the commit.
      await waitFor(
        async () => (h.releaseNotifier.cards.at(-1)?.status === 'succeeded' ? true : undefined),
        { what: 'the release card to show the end', timeoutMs: 10_000, intervalMs: 20 },
      );
      expect(h.releaseNotifier.pages).toEqual([]);
    });

    it('rolls checkout back first, then payments, and search too under rollback-all', async () => {
      harness = await start({
        policyYaml: releasePolicyYaml([{ service: 'checkout', role: 'canary', errorRate: 0.3 }]),
      });
      const h = harness;
      const release = await h.releases.start(MEMBERS, actor);
      const done = await waitForRelease(h, release.id);
      expect(done.status).toBe('rolled_back');
      expect(done.failure).toMatchObject({ service: 'checkout', cause: 'member_failed' });
      expect(
        Object.fromEntries(Object.entries(done.members).map(([s, m]) => [s, m.state])),
      ).toEqual({ payments: 'rolled_back', checkout: 'rolled_back', search: 'rolled_back' });
      for (const cluster of ['eu-west', 'us-east']) {
        const checkoutBack = firstAt(
          await h.routeWrites(cluster, 'checkout'),
          (w) => w.operation === 'rollback',
        );
        const paymentsBack = firstAt(
          await h.routeWrites(cluster, 'payments'),
          (w) => w.operation === 'rollback',
        );
        expect(paymentsBack, cluster).toBeGreaterThan(checkoutBack);
        for (const service of ['payments', 'checkout', 'search']) {
          expect(await h.routerWeight(cluster, service), `${service} in ${cluster}`).toBe(0);
        }
      }
      // The page is an effect carried out after the commit that ended the release.
      await waitFor(async () => (h.releaseNotifier.pages.length > 0 ? true : undefined), {
        what: 'the release page',
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      expect(h.releaseNotifier.pages).toEqual([
        expect.objectContaining({ services: ['payments', 'search', 'checkout'] }),
      ]);
    });

    // Only where faults can be cleared at runtime: checkout's rollback is held up until then.
    if (runtimeFaults) {
      it('an abort waits for checkout at 0% everywhere before payments goes back', async () => {
        harness = await start({
          policyYaml: releasePolicyYaml([
            { cluster: 'us-east', service: 'checkout', routerFailure: ['rollback'] },
          ]),
        });
        const h = harness;
        const release = await h.releases.start(MEMBERS, actor);
        const checkoutId = memberRolloutId(release.id, 'checkout');
        await waitFor(
          async () => {
            const rollout = await h.service.get(checkoutId);
            return rollout && Object.values(rollout.clusters).every((c) => c.weight > 0)
              ? rollout
              : undefined;
          },
          { what: 'checkout to take traffic', timeoutMs: 60_000, intervalMs: 10 },
        );
        await h.releases.act(release.id, { type: 'abort', reason: 'wrong build' }, actor);
        // checkout cannot go back in us-east: it says so, and payments is not told to go back.
        await waitFor(
          async () =>
            h.notifier.alerts(checkoutId).some((a) => a.kind === 'rollback_failed')
              ? true
              : undefined,
          { what: 'checkout rollback to fail in us-east', timeoutMs: 30_000, intervalMs: 10 },
        );
        for (const cluster of ['eu-west', 'us-east']) {
          const ops = (await h.routeWrites(cluster, 'payments')).map((w) => w.operation);
          expect(ops, cluster).not.toContain('rollback');
          expect(await h.routerWeight(cluster, 'payments'), cluster).toBe(100);
        }
        await h.clearFaults!('us-east');
        const done = await waitForRelease(h, release.id);
        expect(done.status).toBe('aborted');
        const checkoutBack = firstAt(
          (await h.routeWrites('us-east', 'checkout')).filter((w) => w.canaryWeight === 0),
          (w) => w.operation === 'rollback',
        );
        for (const cluster of ['eu-west', 'us-east']) {
          const paymentsBack = firstAt(
            await h.routeWrites(cluster, 'payments'),
            (w) => w.operation === 'rollback',
          );
          expect(paymentsBack, cluster).toBeGreaterThanOrEqual(checkoutBack);
          expect(await h.routerWeight(cluster, 'checkout')).toBe(0);
          expect(await h.routerWeight(cluster, 'payments')).toBe(0);
        }
      });
    }

    it('judges a provider while it holds: its late regression rolls it back, then the release', async () => {
      // payments' new version breaks only once checkout's new version calls it (its errors scale
      // with checkout's canary share), and checkout starts only once payments holds at 100%: the
      // breach can only be seen by payments' own gate during its hold. checkout then waits at 50%
      // for an approval nobody gives, so the release cannot promote payments before its gate
      // judged the hold, however slow the machine.
      harness = await start({
        policyYaml: releasePolicyYaml([
          { service: 'payments', role: 'canary', errorRate: 0.6, viaCanaryOf: 'checkout' },
        ]).replace(
          '    dependsOn: [payments]\n',
          '    dependsOn: [payments]\n    approveAt: [50]\n',
        ),
      });
      const h = harness;
      const release = await h.releases.start(MEMBERS, actor);
      const done = await waitForRelease(h, release.id);
      expect(done.status).toBe('rolled_back');
      expect(done.failure).toMatchObject({ service: 'payments', cause: 'member_failed' });
      expect(done.failure?.detail).toMatch(
        /^payments rolled back: gate breached at stage 3\/3 \(100%\): error_rate/,
      );
      expect(
        Object.fromEntries(Object.entries(done.members).map(([s, m]) => [s, m.state])),
      ).toEqual({ payments: 'rolled_back', checkout: 'rolled_back', search: 'rolled_back' });
      const payments = await h.service.get(memberRolloutId(release.id, 'payments'));
      expect(payments?.rollback?.cause).toBe('gate_breached');
      // It held first: the release said so before it went back.
      const lines = h.releaseNotifier.lines.map((l) => l.text);
      const heldAt = lines.indexOf('payments holds at 100% of its new version');
      expect(heldAt, lines.join('\n')).toBeGreaterThanOrEqual(0);
      expect(lines.findIndex((l) => l.startsWith('release going back'))).toBeGreaterThan(heldAt);
      for (const cluster of ['eu-west', 'us-east']) {
        const writes = await h.routeWrites(cluster, 'payments');
        // payments reached 100% in this cluster before checkout's first write, and went back.
        const full = firstAt(writes, (w) => w.canaryWeight === 100);
        expect((await h.routeWrites(cluster, 'checkout'))[0]!.at).toBeGreaterThanOrEqual(full);
        for (const service of ['payments', 'checkout', 'search']) {
          const ops = (await h.routeWrites(cluster, service)).map((w) => w.operation);
          expect(ops, `${service} in ${cluster}`).not.toContain('promote');
          expect(await h.routerWeight(cluster, service), `${service} in ${cluster}`).toBe(0);
        }
      }
    });

    it('keeps search under rollback-dependents: only checkout and payments go back', async () => {
      harness = await start({
        policyYaml: releasePolicyYaml([{ service: 'checkout', role: 'canary', errorRate: 0.3 }], {
          onFailure: 'rollback-dependents',
        }),
      });
      const h = harness;
      const release = await h.releases.start(MEMBERS, actor);
      const done = await waitForRelease(h, release.id);
      expect(done.status).toBe('rolled_back');
      expect(
        Object.fromEntries(Object.entries(done.members).map(([s, m]) => [s, m.state])),
      ).toEqual({ payments: 'rolled_back', checkout: 'rolled_back', search: 'succeeded' });
      const search = await h.routeWrites('eu-west', 'search');
      expect(search.map((w) => w.operation)).not.toContain('rollback');
      expect(search.at(-1)?.operation).toBe('promote');
    });

    it('queues members beyond maxParallel and runs them all', async () => {
      harness = await start({ policyYaml: releasePolicyYaml([], { maxParallel: 1 }) });
      const h = harness;
      const release = await h.releases.start(MEMBERS, actor);
      expect(Object.values(release.members).filter((m) => m.state === 'starting')).toHaveLength(1);
      expect((await waitForRelease(h, release.id)).status).toBe('succeeded');
    });

    it('refuses bad input with what would be right, and starts nothing', async () => {
      harness = await start({ policyYaml: releasePolicyYaml() });
      const h = harness;
      const refusal = async (members: { service: string; version: string }[]) => {
        try {
          await h.releases.start(members, actor);
        } catch (err) {
          if (isRolloutError(err)) return err.message;
          throw err;
        }
        throw new Error('the release was started');
      };
      expect(
        await refusal([
          { service: 'payments', version: '2.0.0' },
          { service: 'payments', version: '2.1.0' },
        ]),
      ).toContain('payments is named twice');
      expect(
        await refusal([
          { service: 'paymnts', version: '2.0.0' },
          { service: 'search', version: '7.2.0' },
        ]),
      ).toContain('did you mean "payments"');
      expect(
        await refusal([
          { service: 'payments', version: 'two' },
          { service: 'search', version: '7.2.0' },
        ]),
      ).toContain('"two" is not a version');
      // payments runs on its own: a release of its consumer is refused, naming that rollout.
      const own = await h.service.start({
        service: 'payments',
        version: '2.0.0',
        startedBy: STARTER,
      });
      const busy = await refusal([
        { service: 'checkout', version: '3.1.0' },
        { service: 'search', version: '7.2.0' },
      ]);
      expect(busy).toContain(
        `checkout depends on payments, which has its own rollout in progress (${own.id})`,
      );
      // Nothing started, and no lock of the refused release is left behind.
      expect(await h.service.activeRolloutOf('checkout')).toBeUndefined();
      expect(await h.service.activeRolloutOf('search')).toBeUndefined();
      expect(await h.routeWrites('eu-west', 'checkout')).toEqual([]);
    });
  });
}
