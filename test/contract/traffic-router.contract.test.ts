/**
 * The TrafficRouter contract, run against every router adapter. An adapter joins by adding a
 * fixture to `routers`: a router, a service whose route exists (running `stableVersion`), and a
 * service with no route. The suites speak only through the port.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRolloutError } from '../../shared/errors.js';
import { GatewayApiRouter } from '../../agent/routers/gateway-api-router.js';
import { HttpRouteInformer } from '../../agent/routers/http-route-informer.js';
import { KubeHttpRouteApi, loadKubeConfig } from '../../agent/routers/kube-http-routes.js';
import { SimulatedRouter } from '../../agent/routers/simulated-router.js';
import type {
  AppliedMark,
  RouteTarget,
  TrafficRouter,
} from '../../agent/routers/traffic-router.js';
import { SimulatedCluster } from '../../agent/simulation/simulated-cluster.js';
import { silentLogger } from '../../shared/log.js';
import { anHttpRoute, startKubeApiDouble } from '../support/kube-api-double.js';
import { waitFor } from '../support/wait-for.js';

interface RouterFixture {
  router: TrafficRouter;
  /** A service whose route exists and sends all traffic to `stableVersion`. */
  service: string;
  stableVersion: string;
  /** A service that has no route in the cluster. */
  missingService: string;
  /**
   * Adapters over a real route: the weight each backend of `service` has in the cluster, by the
   * name the adapter knows it (Service name), as the cluster stores it, not as the port reports it.
   */
  backendWeights?(): Record<string, number | undefined>;
  close(): Promise<void>;
}

const routers: { name: string; create(): Promise<RouterFixture> }[] = [
  {
    name: 'simulated',
    async create() {
      const cluster = new SimulatedCluster({
        name: 'contract',
        services: { checkout: { stableVersion: '2.4.0' } },
      });
      return {
        router: new SimulatedRouter(cluster),
        service: 'checkout',
        stableVersion: '2.4.0',
        missingService: 'no-such-service',
        close: async () => {},
      };
    },
  },
  {
    // Over HTTP, through @kubernetes/client-node loaded from a kubeconfig, against the API double.
    name: 'gateway-api',
    create: () => gatewayApiFixture({ watched: false }),
  },
  {
    // The same, reading from a watch (list + watch of the namespace) once it has synced.
    name: 'gateway-api (watched)',
    create: () => gatewayApiFixture({ watched: true }),
  },
];

describe.each(routers)('TrafficRouter contract: $name', ({ create }) => {
  let fx: RouterFixture;
  let target: RouteTarget;
  /** The mark of command `seq` of a rollout that started at seq 1 and moves a stage per command. */
  const mark = (seq: number, rolloutId = 'rollout-contract'): AppliedMark => ({
    rolloutId,
    seq,
    stageIndex: Math.max(0, seq - 2),
    strategy: 'canary',
  });

  beforeEach(async () => {
    fx = await create();
    target = {
      service: fx.service,
      stableVersion: fx.stableVersion,
      canaryVersion: `${fx.stableVersion}-next`,
      strategy: 'canary',
    };
  });
  afterEach(() => fx.close());

  it('reads an existing route with no rollout as all traffic on the stable version', async () => {
    const state = await fx.router.read(fx.service);
    expect(state).toMatchObject({ canaryWeight: 0, stableVersion: fx.stableVersion });
  });

  it('reads undefined for a service that has no route', async () => {
    expect(await fx.router.read(fx.missingService)).toBeUndefined();
  });

  it('setWeight resolves with the weight read back, and read() agrees', async () => {
    for (const [i, weight] of [5, 25, 50, 100].entries()) {
      const state = await fx.router.setWeight(target, weight, mark(i + 1));
      expect(state).toMatchObject({
        canaryWeight: weight,
        stableVersion: fx.stableVersion,
        canaryVersion: target.canaryVersion,
      });
      expect(await fx.router.read(fx.service)).toEqual(state);
    }
  });

  it('stores the applied mark with the route', async () => {
    await fx.router.setWeight(target, 5, mark(3));
    expect((await fx.router.read(fx.service))?.applied).toEqual(mark(3));
    await fx.router.setWeight(target, 25, mark(4));
    expect((await fx.router.read(fx.service))?.applied).toEqual(mark(4));
  });

  it('is idempotent: the same weight twice leaves the same route', async () => {
    const first = await fx.router.setWeight(target, 25, mark(2));
    const second = await fx.router.setWeight(target, 25, mark(2));
    expect(second).toEqual(first);
    expect(await fx.router.read(fx.service)).toEqual(first);
  });

  it('stores the applied mark with the route and reads it back whole: stage and strategy too', async () => {
    const written: AppliedMark = {
      rolloutId: 'rollout-contract',
      seq: 7,
      stageIndex: 3,
      strategy: 'blue-green',
    };
    await fx.router.setWeight({ ...target, strategy: 'blue-green' }, 0, written);
    expect((await fx.router.read(fx.service))?.applied).toEqual(written);
    await fx.router.setWeight(target, 25, mark(8));
    expect((await fx.router.read(fx.service))?.applied).toEqual(mark(8));
  });

  it('holds a blue-green preview at weight 0 with the canary version in place', async () => {
    const preview = await fx.router.setWeight({ ...target, strategy: 'blue-green' }, 0, mark(1));
    expect(preview).toMatchObject({ canaryWeight: 0, stableVersion: fx.stableVersion });
  });

  it('mirrors a share of requests to a blue-green preview at weight 0, and stops on the switch, promote and rollback', async () => {
    const preview = { ...target, strategy: 'blue-green' as const, mirrorPercent: 10 };
    const judged = await fx.router.setWeight(preview, 0, mark(1));
    expect(judged).toMatchObject({ canaryWeight: 0, mirrorPercent: 10 });
    expect(await fx.router.read(fx.service)).toEqual(judged);
    expect((await fx.router.setWeight(preview, 100, mark(2))).mirrorPercent).toBeUndefined();
    await fx.router.setWeight(preview, 0, mark(3));
    expect((await fx.router.rollback(preview, mark(4))).mirrorPercent).toBeUndefined();
    await fx.router.setWeight(preview, 0, mark(5));
    expect((await fx.router.promote(preview, mark(6))).mirrorPercent).toBeUndefined();
    // A canary never gets a mirror, whatever the target says.
    const canary = await fx.router.setWeight({ ...target, mirrorPercent: 10 }, 0, mark(7));
    expect(canary.mirrorPercent).toBeUndefined();
  });

  it('rollback puts all traffic back on the stable version (canary weight 0)', async () => {
    await fx.router.setWeight(target, 50, mark(1));
    const state = await fx.router.rollback(target, mark(2));
    expect(state).toMatchObject({
      canaryWeight: 0,
      stableVersion: fx.stableVersion,
      applied: mark(2),
    });
    expect(await fx.router.read(fx.service)).toEqual(state);
    expect(await fx.router.rollback(target, mark(2))).toEqual(state);
  });

  it('promote makes the canary version the stable one with all traffic (canary weight 0)', async () => {
    await fx.router.setWeight(target, 100, mark(1));
    const state = await fx.router.promote(target, mark(2));
    expect(state).toMatchObject({
      canaryWeight: 0,
      stableVersion: target.canaryVersion,
      applied: mark(2),
    });
    expect(await fx.router.read(fx.service)).toEqual(state);
    expect(await fx.router.promote(target, mark(2))).toEqual(state);
  });

  it('rollback after promote restores the version that was stable before the rollout, with all traffic', async () => {
    await fx.router.setWeight(target, 50, mark(1));
    await fx.router.promote(target, mark(2));
    const state = await fx.router.rollback(target, mark(3));
    expect(state).toMatchObject({ canaryWeight: 0, stableVersion: fx.stableVersion });
    expect(state.canaryVersion).toBeUndefined();
    expect(await fx.router.read(fx.service)).toEqual(state);
    // Idempotent: the same rollback again changes nothing (it must not swap back a second time).
    expect(await fx.router.rollback(target, mark(3))).toEqual(state);
    expect(await fx.router.read(fx.service)).toEqual(state);
    // In the cluster itself: the Service that served the old version has all the traffic again.
    expect(fx.backendWeights?.()).toEqual(
      fx.backendWeights && { 'checkout-stable': 100, 'checkout-canary': 0 },
    );
  });

  it('after promote, read() names the version a rollback would restore', async () => {
    await fx.router.setWeight(target, 100, mark(1));
    const promoted = await fx.router.promote(target, mark(2));
    expect(promoted.previousStableVersion).toBe(fx.stableVersion);
    // The next write of the route (a new rollout) no longer carries it.
    const next = { ...target, stableVersion: target.canaryVersion, canaryVersion: '9.9.9' };
    const started = await fx.router.setWeight(next, 0, mark(1, 'rollout-next'));
    expect(started.previousStableVersion).toBeUndefined();
  });

  it('rejects a weight outside 0..100 with a RouterError and leaves the route as it was', async () => {
    const before = await fx.router.setWeight(target, 5, mark(1));
    for (const weight of [101, -1, 12.5]) {
      const err = await fx.router.setWeight(target, weight, mark(2)).catch((e: unknown) => e);
      expect(isRolloutError(err)).toBe(true);
      expect(await fx.router.read(fx.service)).toEqual(before);
    }
  });

  it('refuses every write of an older rollout (a lower fence) with RouterError fenced, and leaves the route as it was', async () => {
    const newer = { ...mark(1, 'rollout-newer'), fence: 20 };
    const before = await fx.router.setWeight(target, 25, newer);
    expect(before.applied).toMatchObject({ rolloutId: 'rollout-newer', fence: 20 });
    const older = { ...mark(7, 'rollout-older'), fence: 19 };
    const writes = [
      () => fx.router.setWeight(target, 100, older),
      () => fx.router.promote(target, older),
      () => fx.router.rollback(target, older),
    ];
    for (const write of writes) {
      const err = await write().catch((e: unknown) => e);
      expect(isRolloutError(err, 'fenced')).toBe(true);
      expect(await fx.router.read(fx.service)).toEqual(before);
    }
    // The same rollout, and a newer one, write as before.
    expect(
      await fx.router.setWeight(target, 50, { ...mark(2, 'rollout-newer'), fence: 20 }),
    ).toMatchObject({ canaryWeight: 50 });
    expect(
      await fx.router.rollback(target, { ...mark(1, 'rollout-newest'), fence: 21 }),
    ).toMatchObject({ canaryWeight: 0 });
  });
});

/**
 * The gateway-api router against the API double. `watched`: its reads come from an
 * `HttpRouteInformer` that has synced (list + watch), so the suite also holds it to
 * read-after-write and to seeing routes that do not exist.
 */
async function gatewayApiFixture(options: { watched: boolean }): Promise<RouterFixture> {
  const api = await startKubeApiDouble();
  const dir = await mkdtemp(join(tmpdir(), 'rollout-contract-kube-'));
  await api.writeKubeconfig(join(dir, 'kubeconfig'));
  api.addService('shop', 'checkout-stable');
  api.addService('shop', 'checkout-canary');
  api.putRoute(
    anHttpRoute({
      namespace: 'shop',
      name: 'checkout',
      stable: 'checkout-stable',
      canary: 'checkout-canary',
    }),
  );
  const routing = (httpRoute: string) => ({
    namespace: 'shop',
    httpRoute,
    stableService: 'checkout-stable',
    canaryService: 'checkout-canary',
  });
  const kube = new KubeHttpRouteApi(loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig') }));
  let informer: HttpRouteInformer | undefined;
  if (options.watched) {
    informer = new HttpRouteInformer({ api: kube, namespaces: ['shop'], logger: silentLogger });
    await informer.start();
    await waitFor(() => informer!.isWatching(), { what: 'the route watch to sync' });
  }
  return {
    router: new GatewayApiRouter({
      cluster: 'contract',
      api: kube,
      services: {
        checkout: { routing: routing('checkout'), stableVersion: '2.4.0' },
        // Configured, but its HTTPRoute does not exist in the cluster.
        search: { routing: routing('search'), stableVersion: '7.1.0' },
      },
      ...(informer !== undefined && { routes: informer }),
    }),
    service: 'checkout',
    stableVersion: '2.4.0',
    missingService: 'search',
    backendWeights: () => {
      const rules = api.route('shop', 'checkout')!.spec!.rules as {
        backendRefs: { name: string; weight?: number }[];
      }[];
      return Object.fromEntries(rules[0]!.backendRefs.map((r) => [r.name, r.weight]));
    },
    close: async () => {
      informer?.stop();
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
