/** The Kubernetes API double holds to the API server's rules the router depends on. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  anHttpRoute,
  mergePatch,
  startKubeApiDouble,
  type KubeApiDouble,
} from './kube-api-double.js';

const PATH = '/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/checkout';

describe('Kubernetes API double', () => {
  let api: KubeApiDouble;
  beforeEach(async () => {
    api = await startKubeApiDouble();
    api.addService('shop', 'checkout-stable');
    api.putRoute(
      anHttpRoute({
        namespace: 'shop',
        name: 'checkout',
        stable: 'checkout-stable',
        canary: 'checkout-canary',
      }),
    );
  });
  afterEach(() => api.close());

  const call = (method: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${api.url}${PATH}`, {
      method,
      headers: { authorization: `Bearer ${api.token}`, ...headers },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });

  it('answers 401 without the token', async () => {
    expect((await fetch(`${api.url}${PATH}`)).status).toBe(401);
  });

  it('refuses a PUT or merge PATCH on a stale resourceVersion with 409, and bumps it on each write', async () => {
    const route = api.route('shop', 'checkout')!;
    const rv = route.metadata.resourceVersion!;
    const patch = { metadata: { resourceVersion: rv, annotations: { a: '1' } } };
    const merge = { 'content-type': 'application/merge-patch+json' };
    expect((await call('PATCH', patch, merge)).status).toBe(200);
    expect((await call('PATCH', patch, merge)).status).toBe(409);
    expect((await call('PUT', route, { 'content-type': 'application/json' })).status).toBe(409);
    const fresh = api.route('shop', 'checkout')!;
    expect(Number(fresh.metadata.resourceVersion)).toBeGreaterThan(Number(rv));
    expect((await call('PUT', fresh, { 'content-type': 'application/json' })).status).toBe(200);
  });

  it('bumps the generation only when the spec changes, and reports unresolved backends in status', async () => {
    const before = api.route('shop', 'checkout')!;
    const merge = { 'content-type': 'application/merge-patch+json' };
    await call('PATCH', { metadata: { annotations: { a: '1' } } }, merge);
    expect(api.route('shop', 'checkout')!.metadata.generation).toBe(before.metadata.generation);
    await call('PATCH', { spec: { hostnames: ['x.example.com'] } }, merge);
    const after = api.route('shop', 'checkout')!;
    expect(after.metadata.generation).toBe(before.metadata.generation! + 1);
    const resolved = (
      after.status!.parents as {
        conditions: { type: string; status: string; message?: string }[];
      }[]
    )[0]!.conditions.find((c) => c.type === 'ResolvedRefs');
    expect(resolved).toMatchObject({
      status: 'False',
      message: 'Service "shop/checkout-canary" not found',
    });
  });

  it('speaks merge patches only (415 for others) and records every request', async () => {
    expect(
      (await call('PATCH', [], { 'content-type': 'application/json-patch+json' })).status,
    ).toBe(415);
    expect(api.routeRequests().map((r) => `${r.method} ${r.status}`)).toEqual(['PATCH 415']);
  });

  it('merges as RFC 7386 says: objects by key, null deletes, arrays replace', () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
});
