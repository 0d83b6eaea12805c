/**
 * The gateway-api router reading routes from a watch (`HttpRouteInformer`), through the real
 * Kubernetes client against the API double: reads cost no GET once synced, changes by others
 * arrive through the watch, a dropped watch comes back, a 410 makes it list again, and a bad
 * event is skipped without emptying the cache.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.js';
import {
  anHttpRoute,
  startKubeApiDouble,
  type KubeApiDouble,
  type KubeObject,
} from '../../test/support/kube-api-double.js';
import { startAgent } from '../../test/support/agent-harness.js';
import { waitFor } from '../../test/support/wait-for.js';
import { GatewayApiRouter } from './gateway-api-router.js';
import { HttpRouteInformer } from './http-route-informer.js';
import { KubeHttpRouteApi, loadKubeConfig } from './kube-http-routes.js';
import type { AppliedMark, RouteTarget } from './traffic-router.js';

const routing = {
  namespace: 'shop',
  httpRoute: 'checkout',
  stableService: 'checkout-stable',
  canaryService: 'checkout-canary',
};
const target: RouteTarget = {
  service: 'checkout',
  stableVersion: '2.4.0',
  canaryVersion: '2.5.0',
  strategy: 'canary',
};
const mark = (seq: number): AppliedMark => ({
  rolloutId: 'rollout-watch',
  seq,
  stageIndex: seq - 1,
  strategy: 'canary',
});

/** Sets the canary weight of the route's first rule directly in the double (`kubectl edit`). */
function editWeight(api: KubeApiDouble, canary: number): void {
  api.editRoute('shop', 'checkout', (route: KubeObject) => {
    const rules = route.spec!.rules as { backendRefs: { weight: number }[] }[];
    rules[0]!.backendRefs[0]!.weight = 100 - canary;
    rules[0]!.backendRefs[1]!.weight = canary;
  });
}

describe('GatewayApiRouter on a watched cache (HttpRouteInformer)', () => {
  let api: KubeApiDouble;
  let dir: string;
  let informer: HttpRouteInformer;
  let router: GatewayApiRouter;
  let now: number;
  let logged: { level: number; msg: string }[];

  const requests = (
    filter: (r: { method: string; path: string; query: Record<string, string> }) => boolean,
  ) => api.routeRequests().filter(filter).length;
  const gets = () => requests((r) => r.method === 'GET' && r.path.endsWith('/httproutes/checkout'));
  const lists = () => requests((r) => r.path.endsWith('/httproutes') && r.query.watch !== 'true');
  const watches = () => requests((r) => r.path.endsWith('/httproutes') && r.query.watch === 'true');

  beforeEach(async () => {
    api = await startKubeApiDouble();
    dir = await mkdtemp(join(tmpdir(), 'rollout-informer-'));
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
    const kube = new KubeHttpRouteApi(loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig') }));
    now = 1_000_000;
    logged = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean))
          logged.push(JSON.parse(line));
        done();
      },
    });
    informer = new HttpRouteInformer({
      api: kube,
      namespaces: ['shop'],
      logger: pino({ level: 'info' }, sink),
      now: () => now,
      backoffMs: 10,
      maxBackoffMs: 50,
    });
    router = new GatewayApiRouter({
      cluster: 'eu-west',
      api: kube,
      services: { checkout: { routing, stableVersion: '2.4.0' } },
      routes: informer,
    });
  });
  afterEach(async () => {
    informer.stop();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  const synced = () =>
    waitFor(() => informer.isWatching() && api.openWatches() === 1, { what: 'the watch to open' });

  it('reads with a GET before the first list, then from the cache', async () => {
    expect(await router.read('checkout')).toMatchObject({ canaryWeight: 0 });
    expect(gets()).toBe(1);
    await informer.start();
    await synced();
    expect(await router.read('checkout')).toMatchObject({ canaryWeight: 0 });
    expect(gets()).toBe(1);
  });

  it('samples N rounds with a constant number of list/watch calls and no GETs', async () => {
    await informer.start();
    await synced();
    await router.setWeight(target, 25, mark(2));
    const agent = await startAgent({ services: ['checkout'], wrapRouter: () => router });
    try {
      const before = { gets: gets(), lists: lists(), watches: watches() };
      for (let round = 0; round < 10; round++) await agent.agent.sampleNow();
      expect(agent.agent.activeRollouts()).toEqual(['rollout-watch']);
      expect({ gets: gets(), lists: lists(), watches: watches() }).toEqual(before);
      expect(before).toMatchObject({ lists: 1, watches: 1 });
      // Every round did sample the rollout it found on the route.
      expect(
        agent.events.published.filter((e) => e.type === 'health_samples').length,
      ).toBeGreaterThanOrEqual(10);
    } finally {
      await agent.stop();
    }
  });

  it('sees a route changed by someone else (kubectl edit) without a GET', async () => {
    await informer.start();
    await synced();
    const before = gets();
    editWeight(api, 40);
    await waitFor(async () => (await router.read('checkout'))?.canaryWeight === 40, {
      what: 'the edit to reach the cache',
    });
    expect(gets()).toBe(before);
  });

  it('answers a write from the PATCH and the read back, consistent with later reads', async () => {
    await informer.start();
    await synced();
    const written = await router.setWeight(target, 5, mark(1));
    expect(await router.read('checkout')).toEqual(written);
  });

  it('sees a deleted route as gone', async () => {
    await informer.start();
    await synced();
    api.deleteRoute('shop', 'checkout');
    await waitFor(async () => (await router.read('checkout')) === undefined, {
      what: 'the delete to reach the cache',
    });
    expect(gets()).toBe(0);
  });

  it('opens a dropped watch again, from where it was, and misses nothing changed meanwhile', async () => {
    await informer.start();
    await synced();
    api.dropWatches();
    editWeight(api, 60);
    await waitFor(() => watches() === 2 && api.openWatches() === 1, { what: 'the watch again' });
    await waitFor(async () => (await router.read('checkout'))?.canaryWeight === 60, {
      what: 'the change made while the watch was down',
    });
    expect(lists()).toBe(1);
    expect(gets()).toBe(0);
  });

  it('lists again on 410 Gone', async () => {
    await informer.start();
    await synced();
    editWeight(api, 10);
    await waitFor(async () => (await router.read('checkout'))?.canaryWeight === 10, {
      what: 'the first edit',
    });
    // The watch stays down (403) while the route changes and the history is compacted: the
    // next watch asks for a resourceVersion the API server no longer has.
    api.forbid('watch');
    api.dropWatches();
    editWeight(api, 70);
    api.compactHistory();
    api.allow();
    await waitFor(() => lists() === 2 && api.openWatches() === 1, { what: 'a second list' });
    await waitFor(async () => (await router.read('checkout'))?.canaryWeight === 70, {
      what: 'the state listed after 410',
    });
    expect(logged.some((l) => /410 Gone/.test(l.msg))).toBe(true);
  });

  it('moves on with bookmarks: a re-watch starts from the bookmark', async () => {
    await informer.start();
    await synced();
    api.putRoute(anHttpRoute({ namespace: 'other', name: 'x', stable: 'a', canary: 'b' }));
    const bookmarkRv = String(Number(api.route('other', 'x')!.metadata.resourceVersion));
    await waitFor(
      async () => {
        api.bookmark();
        api.dropWatches();
        await waitFor(() => api.openWatches() === 1, { what: 'the watch again' });
        const last = api
          .routeRequests()
          .filter((r) => r.query.watch === 'true')
          .at(-1);
        return last?.query.resourceVersion === bookmarkRv;
      },
      { what: 'a watch from the bookmark' },
    );
  });

  it('ignores a malformed watch event (logged) and keeps the cache and the watch', async () => {
    await informer.start();
    await synced();
    api.sendWatchLine(JSON.stringify({ type: 'MODIFIED', object: { metadata: {} } }));
    api.sendWatchLine(JSON.stringify({ type: 'MODIFIED', object: 'not an object' }));
    api.sendWatchLine(
      JSON.stringify({
        type: 'RENAMED',
        object: { metadata: { name: 'checkout', resourceVersion: '1' } },
      }),
    );
    api.sendWatchLine(
      JSON.stringify({
        type: 'MODIFIED',
        object: { metadata: { name: 'checkout', resourceVersion: '2' }, spec: { rules: 'none' } },
      }),
    );
    api.sendWatchLine('{ not json');
    await waitFor(() => logged.filter((l) => /malformed watch event/.test(l.msg)).length === 4, {
      what: 'the bad events to be logged',
    });
    expect(await router.read('checkout')).toMatchObject({ canaryWeight: 0 });
    editWeight(api, 15);
    await waitFor(async () => (await router.read('checkout'))?.canaryWeight === 15, {
      what: 'a good event after the bad ones',
    });
    expect(gets()).toBe(0);
    expect(watches()).toBe(1);
  });

  it('falls back to a GET once the watch has been down longer than the bound', async () => {
    await informer.start();
    await synced();
    api.forbid('watch');
    api.dropWatches();
    await waitFor(() => watches() >= 2, { what: 'a refused watch' });
    now += 20_000;
    await router.read('checkout');
    expect(gets()).toBe(0);
    now += 11_000;
    editWeight(api, 30);
    expect(await router.read('checkout')).toMatchObject({ canaryWeight: 30 });
    expect(gets()).toBe(1);
    expect(logged.some((l) => /cannot watch HTTPRoutes/.test(l.msg))).toBe(true);
  });

  it('reads with GETs while it may not list (403), and stops cleanly', async () => {
    api.forbid('list');
    await informer.start();
    expect(await router.read('checkout')).toMatchObject({ canaryWeight: 0 });
    expect(gets()).toBe(1);
    informer.stop();
    const after = lists();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lists()).toBe(after);
  });
});

// A watch line for a route of another namespace never enters this namespace's cache.
describe('HttpRouteInformer input', () => {
  it('skips an object of another namespace', async () => {
    const events: ((e: { type: string; object: unknown }) => void)[] = [];
    const informer = new HttpRouteInformer({
      api: {
        list: () => Promise.resolve({ resourceVersion: '5', items: [] }),
        watch: (_ns, _rv, onEvent) => {
          events.push(onEvent);
          return Promise.resolve({ stop() {} });
        },
      },
      namespaces: ['shop'],
      logger: silentLogger,
    });
    await informer.start();
    events[0]!({
      type: 'ADDED',
      object: { metadata: { name: 'checkout', namespace: 'elsewhere', resourceVersion: '6' } },
    });
    expect(informer.lookup('shop', 'checkout')).toEqual({ fresh: true, route: undefined });
    informer.stop();
  });
});
