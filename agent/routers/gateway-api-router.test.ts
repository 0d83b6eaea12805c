/**
 * The `gateway-api` router through `@kubernetes/client-node` (loaded from a kubeconfig) against a
 * Kubernetes API double over HTTP: the exact requests, conflicts, and what operators are told.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRolloutError } from '../../shared/errors.js';
import {
  anHttpRoute,
  startKubeApiDouble,
  type KubeApiDouble,
  type KubeObject,
} from '../../test/support/kube-api-double.js';
import { GatewayApiRouter } from './gateway-api-router.js';
import { KubeHttpRouteApi, loadKubeConfig } from './kube-http-routes.js';
import type { AppliedMark, RouteTarget } from './traffic-router.js';

const NS = 'shop';
const ROUTING = {
  namespace: NS,
  httpRoute: 'checkout',
  stableService: 'checkout-stable',
  canaryService: 'checkout-canary',
};
const PATH = `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/checkout`;
const target: RouteTarget = {
  service: 'checkout',
  stableVersion: '2.4.0',
  canaryVersion: '2.4.1',
  strategy: 'canary',
};
// Cast: the mark's shape grows with the agent; the router stores whatever it is given.
const mark = (seq: number, extra: Record<string, unknown> = {}) =>
  ({ rolloutId: 'r-1', seq, stageIndex: 0, strategy: 'canary', ...extra }) as AppliedMark;

/** Another team's rule and backend on the same route: never ours to change. */
const OTHER_RULE = {
  matches: [{ path: { type: 'PathPrefix', value: '/admin' } }],
  backendRefs: [{ name: 'admin', port: 80, weight: 3 }],
};
const MIRROR = { name: 'checkout-shadow', port: 8080, weight: 0 };

describe('GatewayApiRouter against the Kubernetes API double', () => {
  let api: KubeApiDouble;
  let dir: string;
  let router: GatewayApiRouter;

  const weights = (route: KubeObject | undefined) =>
    (
      route!.spec!.rules as { backendRefs: { name: string; weight?: number }[] }[]
    )[0]!.backendRefs.map((r) => [r.name, r.weight]);

  beforeEach(async () => {
    api = await startKubeApiDouble();
    dir = await mkdtemp(join(tmpdir(), 'rollout-kube-'));
    await api.writeKubeconfig(join(dir, 'kubeconfig'));
    for (const svc of ['checkout-stable', 'checkout-canary', 'checkout-shadow', 'admin']) {
      api.addService(NS, svc);
    }
    api.putRoute(
      anHttpRoute({
        namespace: NS,
        name: 'checkout',
        stable: 'checkout-stable',
        canary: 'checkout-canary',
        extraRules: [OTHER_RULE],
        extraBackends: [MIRROR],
      }),
    );
    router = new GatewayApiRouter({
      cluster: 'eu-west',
      api: new KubeHttpRouteApi(loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig') })),
      services: { checkout: { routing: ROUTING, stableVersion: '2.4.0' } },
    });
  });
  afterEach(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sets the weights with one merge patch on the read resourceVersion, then reads back', async () => {
    const before = api.route(NS, 'checkout')!;
    api.requests.length = 0;
    const state = await router.setWeight(target, 25, mark(3));
    expect(state).toEqual({
      canaryWeight: 25,
      stableVersion: '2.4.0',
      canaryVersion: '2.4.1',
      applied: mark(3),
    });
    const requests = api.routeRequests();
    expect(requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      `GET ${PATH} 200`,
      `PATCH ${PATH} 200`,
      `GET ${PATH} 200`,
    ]);
    const patch = requests[1]!;
    expect(patch.contentType).toBe('application/merge-patch+json');
    // A field the installed Gateway API does not know is refused, never silently dropped.
    expect(patch.query).toMatchObject({ fieldValidation: 'Strict' });
    expect(patch.authorization).toBe(`Bearer ${api.token}`);
    expect(patch.body).toMatchObject({
      metadata: {
        resourceVersion: before.metadata.resourceVersion,
        annotations: { 'rollout-chatops.io/applied': JSON.stringify(mark(3)) },
      },
    });
    // Only the two weights differ from the rules as read.
    const rules = structuredClone(before.spec!.rules) as { backendRefs: { weight?: number }[] }[];
    rules[0]!.backendRefs[0]!.weight = 75;
    rules[0]!.backendRefs[1]!.weight = 25;
    expect((patch.body as { spec: unknown }).spec).toEqual({ rules });
    expect(Object.keys(patch.body as object).sort()).toEqual(['metadata', 'spec']);
  });

  it('leaves every rule, backend and annotation it does not own untouched', async () => {
    const before = api.route(NS, 'checkout')!;
    await router.setWeight(target, 50, mark(1));
    await router.rollback(target, mark(2));
    const after = api.route(NS, 'checkout')!;
    const rules = after.spec!.rules as unknown[];
    expect(rules[1]).toEqual(OTHER_RULE);
    expect((rules[0] as { backendRefs: unknown[] }).backendRefs[2]).toEqual(MIRROR);
    expect(after.spec!.parentRefs).toEqual(before.spec!.parentRefs);
    expect(after.spec!.hostnames).toEqual(before.spec!.hostnames);
    expect(after.metadata.annotations!['owner.example.com/team']).toBe('payments');
    expect(weights(after)).toEqual([
      ['checkout-stable', 100],
      ['checkout-canary', 0],
      ['checkout-shadow', 0],
    ]);
  });

  it('stores the whole applied mark as one JSON annotation and reads it back as written', async () => {
    const grown = mark(4, { stageIndex: 2, startedBy: 'U0ALICE' });
    await router.setWeight(target, 50, grown);
    expect(api.route(NS, 'checkout')!.metadata.annotations!['rollout-chatops.io/applied']).toBe(
      JSON.stringify(grown),
    );
    expect((await router.read('checkout'))?.applied).toEqual(grown);
  });

  it('does not write when the route already shows the change (the same command again)', async () => {
    await router.setWeight(target, 25, mark(3));
    api.requests.length = 0;
    await router.setWeight(target, 25, mark(3));
    expect(api.routeRequests().map((r) => r.method)).toEqual(['GET', 'GET']);
  });

  it('retries a 409 on the fresh object, keeping the other writer’s change', async () => {
    api.interfere(NS, 'checkout', (route) => {
      route.metadata.annotations = { ...route.metadata.annotations, 'gitops/synced': 'yes' };
      (route.spec!.rules as unknown[])[1] = {
        ...OTHER_RULE,
        backendRefs: [{ name: 'admin', port: 80, weight: 7 }],
      };
    });
    api.requests.length = 0;
    const state = await router.setWeight(target, 5, mark(1));
    expect(state.canaryWeight).toBe(5);
    const requests = api.routeRequests();
    expect(requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'GET 200',
      'PATCH 409',
      'GET 200',
      'PATCH 200',
      'GET 200',
    ]);
    const second = requests[3]!.body as { metadata: { resourceVersion: string } };
    const first = requests[1]!.body as { metadata: { resourceVersion: string } };
    expect(Number(second.metadata.resourceVersion)).toBeGreaterThan(
      Number(first.metadata.resourceVersion),
    );
    const after = api.route(NS, 'checkout')!;
    expect(after.metadata.annotations!['gitops/synced']).toBe('yes');
    expect(
      (after.spec!.rules as { backendRefs: { weight: number }[] }[])[1]!.backendRefs[0]!.weight,
    ).toBe(7);
    expect(weights(after).slice(0, 2)).toEqual([
      ['checkout-stable', 95],
      ['checkout-canary', 5],
    ]);
  });

  it('gives up after repeated conflicts with a RouterError that says who to look for', async () => {
    api.interfere(
      NS,
      'checkout',
      (route) => {
        route.metadata.annotations = { ...route.metadata.annotations, tick: String(Math.random()) };
      },
      100,
    );
    const err = await router.setWeight(target, 5, mark(1)).catch((e: unknown) => e);
    expect(isRolloutError(err, 'conflict')).toBe(true);
    expect((err as Error).message).toContain('409');
    expect((err as Error).message).toContain('--show-managed-fields');
    expect(api.routeRequests().filter((r) => r.method === 'PATCH')).toHaveLength(5);
  });

  it('a missing route: read() is undefined, a change names the route and the policy field', async () => {
    api.deleteRoute(NS, 'checkout');
    expect(await router.read('checkout')).toBeUndefined();
    const err = await router.setWeight(target, 5, mark(1)).catch((e: unknown) => e);
    expect(isRolloutError(err, 'route_not_found')).toBe(true);
    expect((err as Error).message).toBe(
      'HTTPRoute shop/checkout not found in cluster eu-west: create it, or fix services.checkout.routing.namespace/httpRoute',
    );
  });

  it.each(['patch', 'get'] as const)(
    'a 403 on %s names the verb to grant, and changes nothing',
    async (verb) => {
      const before = api.route(NS, 'checkout');
      api.forbid(verb, NS);
      const err = await router.setWeight(target, 5, mark(1)).catch((e: unknown) => e);
      expect(isRolloutError(err, 'forbidden')).toBe(true);
      expect((err as Error).message).toContain(
        `grant verb "${verb}" on resource "httproutes" in API group "gateway.networking.k8s.io" in namespace shop`,
      );
      expect((err as Error).message).toContain('system:serviceaccount:rollouts:rollout-agent');
      expect(api.route(NS, 'checkout')).toEqual(before);
    },
  );

  it('a rule without the canary backendRef: says exactly what to add, changes nothing', async () => {
    const route = anHttpRoute({
      namespace: NS,
      name: 'checkout',
      stable: 'checkout-stable',
      canary: 'x',
    });
    (route.spec!.rules as { backendRefs: unknown[] }[])[0]!.backendRefs.pop();
    api.putRoute(route);
    const err = await router.setWeight(target, 5, mark(1)).catch((e: unknown) => e);
    expect(isRolloutError(err, 'backend_not_found')).toBe(true);
    expect((err as Error).message).toBe(
      'rule 0 of HTTPRoute shop/checkout has no backendRef to Service checkout-canary: add { name: checkout-canary, weight: 0 } to it (the router shifts weight between checkout-stable and checkout-canary)',
    );
    expect(api.routeRequests().filter((r) => r.method === 'PATCH')).toHaveLength(0);
  });

  it('a Service the gateway cannot resolve: no traffic is shifted to it, rollback still goes', async () => {
    api.removeService(NS, 'checkout-canary');
    const err = await router.setWeight(target, 5, mark(1)).catch((e: unknown) => e);
    expect(isRolloutError(err, 'backend_not_found')).toBe(true);
    expect((err as Error).message).toContain('ResolvedRefs=False, BackendNotFound');
    expect((err as Error).message).toContain('"shop/checkout-canary" not found');
    expect(weights(api.route(NS, 'checkout')).slice(0, 2)).toEqual([
      ['checkout-stable', 100],
      ['checkout-canary', 0],
    ]);
    await expect(router.rollback(target, mark(2))).resolves.toMatchObject({ canaryWeight: 0 });
  });

  it('an unreachable API server is router_unavailable, naming the server', async () => {
    await api.close();
    const err = await router.setWeight(target, 5, mark(1)).catch((e: unknown) => e);
    expect(isRolloutError(err, 'router_unavailable')).toBe(true);
    expect((err as Error).message).toContain(`cannot reach ${api.url}`);
    api = await startKubeApiDouble(); // afterEach closes it
  });

  it('promotion hands the stable role to the canary Service; the next rollout shifts the other way', async () => {
    for (const [i, w] of [5, 50, 100].entries()) await router.setWeight(target, w, mark(i + 1));
    const promoted = await router.promote(target, mark(4));
    expect(promoted).toEqual({
      canaryWeight: 0,
      stableVersion: '2.4.1',
      previousStableVersion: '2.4.0',
      applied: mark(4),
    });
    expect(weights(api.route(NS, 'checkout')).slice(0, 2)).toEqual([
      ['checkout-stable', 0],
      ['checkout-canary', 100],
    ]);
    expect(await router.promote(target, mark(4))).toEqual(promoted);

    const next: RouteTarget = { ...target, stableVersion: '2.4.1', canaryVersion: '2.4.2' };
    const state = await router.setWeight(next, 25, { ...mark(1), rolloutId: 'r-2' });
    expect(state).toMatchObject({
      canaryWeight: 25,
      stableVersion: '2.4.1',
      canaryVersion: '2.4.2',
    });
    expect(weights(api.route(NS, 'checkout')).slice(0, 2)).toEqual([
      ['checkout-stable', 25],
      ['checkout-canary', 75],
    ]);
    const rolledBack = await router.rollback(next, { ...mark(2), rolloutId: 'r-2' });
    expect(rolledBack).toMatchObject({ canaryWeight: 0, stableVersion: '2.4.1' });
    expect(weights(api.route(NS, 'checkout')).slice(0, 2)).toEqual([
      ['checkout-stable', 0],
      ['checkout-canary', 100],
    ]);
  });

  it('a rollback after the promotion hands the traffic back to the old version’s Service, nothing else changes', async () => {
    await router.setWeight(target, 100, mark(1));
    await router.promote(target, mark(2));
    const rolledBack = await router.rollback(target, mark(3));
    expect(rolledBack).toEqual({ canaryWeight: 0, stableVersion: '2.4.0', applied: mark(3) });
    const route = api.route(NS, 'checkout')!;
    expect(weights(route)).toEqual([
      ['checkout-stable', 100],
      ['checkout-canary', 0],
      [MIRROR.name, MIRROR.weight],
    ]);
    expect((route.spec!.rules as unknown[])[1]).toEqual(OTHER_RULE);
    // The next rollout starts from the original roles again.
    const next: RouteTarget = { ...target, canaryVersion: '2.4.2' };
    await router.setWeight(next, 25, { ...mark(1), rolloutId: 'r-2' });
    expect(weights(api.route(NS, 'checkout')).slice(0, 2)).toEqual([
      ['checkout-stable', 75],
      ['checkout-canary', 25],
    ]);
  });

  it('blue-green: the preview at weight 0, then the switch to 100', async () => {
    const blueGreen = { ...target, strategy: 'blue-green' as const };
    expect(await router.setWeight(blueGreen, 0, mark(1))).toMatchObject({
      canaryWeight: 0,
      canaryVersion: '2.4.1',
    });
    expect(await router.setWeight(blueGreen, 100, mark(2))).toMatchObject({ canaryWeight: 100 });
    expect(weights(api.route(NS, 'checkout')).slice(0, 2)).toEqual([
      ['checkout-stable', 0],
      ['checkout-canary', 100],
    ]);
  });

  it('blue-green with a mirror: a RequestMirror filter to the canary Service while the preview is judged, gone after the switch', async () => {
    const teamFilter = {
      type: 'RequestHeaderModifier',
      requestHeaderModifier: { add: [{ name: 'x-team', value: 'payments' }] },
    };
    const route = api.route(NS, 'checkout')!;
    (route.spec!.rules as { filters?: unknown[] }[])[0]!.filters = [teamFilter];
    api.putRoute(route);
    const preview = { ...target, strategy: 'blue-green' as const, mirrorPercent: 10 };

    expect(await router.setWeight(preview, 0, mark(1))).toMatchObject({
      canaryWeight: 0,
      mirrorPercent: 10,
    });
    const filters = () =>
      (api.route(NS, 'checkout')!.spec!.rules as { filters?: unknown[] }[]).map((r) => r.filters);
    expect(filters()).toEqual([
      [
        teamFilter,
        {
          type: 'RequestMirror',
          requestMirror: { backendRef: { name: 'checkout-canary', port: 8080 }, percent: 10 },
        },
      ],
      undefined,
    ]);
    expect(weights(api.route(NS, 'checkout')).slice(0, 2)).toEqual([
      ['checkout-stable', 100],
      ['checkout-canary', 0],
    ]);
    // The same write again changes nothing on the route.
    const patches = api.routeRequests().filter((r) => r.method === 'PATCH').length;
    await router.setWeight(preview, 0, mark(1));
    expect(api.routeRequests().filter((r) => r.method === 'PATCH')).toHaveLength(patches);

    const switched = await router.setWeight(preview, 100, mark(2));
    expect(switched.mirrorPercent).toBeUndefined();
    expect(filters()).toEqual([[teamFilter], undefined]);
    expect(await router.read('checkout')).toEqual(switched);
  });

  it('rollback removes the preview’s mirror', async () => {
    const preview = { ...target, strategy: 'blue-green' as const, mirrorPercent: 25 };
    await router.setWeight(preview, 0, mark(1));
    const state = await router.rollback(preview, mark(2));
    expect(state.mirrorPercent).toBeUndefined();
    expect(
      (api.route(NS, 'checkout')!.spec!.rules as { filters?: unknown[] }[])[0]!.filters,
    ).toBeUndefined();
  });

  it('verify() checks the route exists and has both backends', async () => {
    await expect(router.verify('checkout')).resolves.toMatchObject({ canaryWeight: 0 });
    api.deleteRoute(NS, 'checkout');
    await expect(router.verify('checkout')).rejects.toThrow('HTTPRoute shop/checkout not found');
  });

  it('a service without routing in the policy: read() undefined, changes refused naming the field', async () => {
    expect(await router.read('search')).toBeUndefined();
    await expect(router.setWeight({ ...target, service: 'search' }, 5, mark(1))).rejects.toThrow(
      /^services\.search\.routing is not set in the policy/,
    );
  });
});
