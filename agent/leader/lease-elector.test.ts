/**
 * Leader election over a Lease on the Kubernetes API double, through the real client
 * (`KubeLeaseApi` over @kubernetes/client-node): one leader, a takeover when it dies, never two.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiDouble, type KubeApiDouble } from '../../test/support/kube-api-double.js';
import { waitFor } from '../../test/support/wait-for.js';
import { loadKubeConfig } from '../routers/kube-http-routes.js';
import { KubeLeaseApi } from './kube-lease-api.js';
import type { LeaseApi } from './lease-api.js';
import { LeaseElector } from './lease-elector.js';

const NS = 'rollouts';
const TIMING = { leaseDurationMs: 1_200, renewEveryMs: 200 };

let api: KubeApiDouble;
let kubeconfig: string;
beforeAll(async () => {
  api = await startKubeApiDouble();
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'lease-')), 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
});
afterAll(() => api?.close());

const electors: LeaseElector[] = [];
afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
  api.leasesDown(false);
});

/** A lease API that can be made to die, as the process holding it would. */
function killable(inner: LeaseApi): LeaseApi & { kill(): void } {
  let dead = false;
  const guard = <T>(call: () => Promise<T>): Promise<T> =>
    dead ? new Promise<T>(() => {}) : call();
  return {
    kill: () => void (dead = true),
    read: () => guard(() => inner.read()),
    create: (lease) => guard(() => inner.create(lease)),
    replace: (lease, rv) => guard(() => inner.replace(lease, rv)),
  };
}

function replicas(lease: string, count = 2) {
  const config = loadKubeConfig({ kubeconfig });
  return Array.from({ length: count }, (_, i) => {
    const leaseApi = killable(new KubeLeaseApi(config, NS, lease));
    const elector = new LeaseElector({ api: leaseApi, identity: `agent-${i}`, ...TIMING });
    electors.push(elector);
    elector.start();
    return { elector, api: leaseApi, identity: `agent-${i}` };
  });
}

/** Polls until `done`, failing the test if two replicas ever lead at the same moment. */
async function watchNeverTwo<T>(
  all: { elector: LeaseElector }[],
  done: () => T | undefined | false,
  what: string,
): Promise<T> {
  return waitFor(
    () => {
      const leading = all.filter((r) => r.elector.isLeader()).length;
      expect(leading).toBeLessThanOrEqual(1);
      return done();
    },
    { what, timeoutMs: 20_000, intervalMs: 20 },
  );
}

describe('LeaseElector on a Kubernetes Lease', () => {
  it('elects exactly one replica, named in the lease, and keeps it while it renews', async () => {
    const all = replicas('one-leader');
    const leader = await watchNeverTwo(
      all,
      () => all.find((r) => r.elector.isLeader()),
      'a leader',
    );
    expect(api.lease(NS, 'one-leader')?.spec).toMatchObject({
      holderIdentity: leader.identity,
      leaseDurationSeconds: 2,
    });
    // Several renewals later: the same leader, never two.
    const version = () => Number(api.lease(NS, 'one-leader')!.metadata.resourceVersion);
    const renewed = version();
    await watchNeverTwo(all, () => version() >= renewed + 3, 'three renewals');
    expect(leader.elector.isLeader()).toBe(true);
    expect(api.lease(NS, 'one-leader')?.spec?.holderIdentity).toBe(leader.identity);
  });

  it('when the leader dies, the other takes over once the lease has run out, never both at once', async () => {
    const all = replicas('takeover');
    const leader = await watchNeverTwo(
      all,
      () => all.find((r) => r.elector.isLeader()),
      'a leader',
    );
    const other = all.find((r) => r !== leader)!;
    leader.api.kill();

    await watchNeverTwo(all, () => other.elector.isLeader(), 'the other replica to lead');
    expect(leader.elector.isLeader()).toBe(false);
    expect(api.lease(NS, 'takeover')?.spec).toMatchObject({
      holderIdentity: other.identity,
      leaseTransitions: 1,
    });
  });

  it('a leader stopping releases the lease for the other', async () => {
    const all = replicas('release');
    const leader = await watchNeverTwo(
      all,
      () => all.find((r) => r.elector.isLeader()),
      'a leader',
    );
    const other = all.find((r) => r !== leader)!;
    electors.splice(electors.indexOf(leader.elector), 1);
    await leader.elector.stop();
    expect(leader.elector.isLeader()).toBe(false);
    await watchNeverTwo(all, () => other.elector.isLeader(), 'the other replica to lead');
  });

  it('a leader that cannot reach the API steps down by itself, and nobody leads until it is back', async () => {
    const all = replicas('api-down');
    const leader = await watchNeverTwo(
      all,
      () => all.find((r) => r.elector.isLeader()),
      'a leader',
    );
    api.leasesDown(true);
    await watchNeverTwo(all, () => !leader.elector.isLeader(), 'the leader to step down');
    expect(all.some((r) => r.elector.isLeader())).toBe(false);
    api.leasesDown(false);
    await watchNeverTwo(all, () => all.some((r) => r.elector.isLeader()), 'a leader again');
  });

  it('refuses a renewal interval not shorter than the lease', () => {
    const leaseApi = new KubeLeaseApi(loadKubeConfig({ kubeconfig }), NS, 'bad');
    expect(
      () =>
        new LeaseElector({
          api: leaseApi,
          identity: 'a',
          leaseDurationMs: 1_000,
          renewEveryMs: 1_000,
        }),
    ).toThrow(/renewEveryMs \(1000\) must be positive and shorter than leaseDurationMs \(1000\)/);
  });
});
