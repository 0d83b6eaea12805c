/** The Kubernetes API double holds to the API server's rules the router depends on. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  anHttpRoute,
  mergePatch,
  startKubeApiDouble,
  type KubeApiDouble,
} from './kube-api-double.js';
import { waitFor } from './wait-for.js';

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

  const COLLECTION = '/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes';
  const list = async () =>
    (await (
      await fetch(`${api.url}${COLLECTION}`, { headers: { authorization: `Bearer ${api.token}` } })
    ).json()) as { metadata: { resourceVersion: string }; items: { metadata: { name: string } }[] };
  /** Opens a watch and collects its events (parsed lines) until `close`. */
  const watch = async (query: string) => {
    const controller = new AbortController();
    const response = await fetch(`${api.url}${COLLECTION}?watch=true&${query}`, {
      headers: { authorization: `Bearer ${api.token}` },
      signal: controller.signal,
    });
    const events: { type: string; object: Record<string, unknown> }[] = [];
    let ended = false;
    const reading = (async () => {
      let buffer = '';
      const decoder = new TextDecoder();
      try {
        for await (const chunk of response.body!) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let newline;
          while ((newline = buffer.indexOf('\n')) >= 0) {
            events.push(JSON.parse(buffer.slice(0, newline)));
            buffer = buffer.slice(newline + 1);
          }
        }
      } catch {
        // aborted by close()
      }
      ended = true;
    })();
    return {
      status: response.status,
      events,
      ended: () => ended,
      close: async () => {
        controller.abort();
        await reading;
      },
    };
  };

  it('lists a namespace with the resourceVersion to watch from', async () => {
    const listed = await list();
    expect(listed.items.map((r) => r.metadata.name)).toEqual(['checkout']);
    expect(listed.metadata.resourceVersion).toBe(
      api.route('shop', 'checkout')!.metadata.resourceVersion,
    );
  });

  it('streams the changes after a resourceVersion, bookmarks when allowed, and drops on demand', async () => {
    const from = (await list()).metadata.resourceVersion;
    const w = await watch(`resourceVersion=${from}&allowWatchBookmarks=true`);
    expect(w.status).toBe(200);
    api.editRoute('shop', 'checkout', (r) => (r.metadata.annotations = { edited: 'yes' }));
    api.putRoute(anHttpRoute({ namespace: 'elsewhere', name: 'x', stable: 'a', canary: 'b' }));
    api.deleteRoute('shop', 'checkout');
    api.bookmark();
    await waitFor(() => w.events.length === 3, { what: 'three events' });
    expect(w.events.map((e) => e.type)).toEqual(['MODIFIED', 'DELETED', 'BOOKMARK']);
    expect(w.events[0]!.object).toMatchObject({ metadata: { annotations: { edited: 'yes' } } });
    expect(api.openWatches()).toBe(1);
    api.dropWatches();
    await waitFor(() => w.ended(), { what: 'the watch to end' });
    expect(api.openWatches()).toBe(0);
    // A new watch from the first resourceVersion replays what happened since.
    const again = await watch(`resourceVersion=${from}`);
    await waitFor(() => again.events.length === 2, { what: 'the replay' });
    expect(again.events.map((e) => e.type)).toEqual(['MODIFIED', 'DELETED']);
    await again.close();
  });

  it('answers a watch from a compacted resourceVersion with an ERROR event carrying 410', async () => {
    const from = (await list()).metadata.resourceVersion;
    api.editRoute('shop', 'checkout', (r) => (r.metadata.annotations = { edited: 'yes' }));
    api.compactHistory();
    const w = await watch(`resourceVersion=${from}`);
    expect(w.status).toBe(200);
    await waitFor(() => w.ended(), { what: 'the watch to end' });
    expect(w.events).toEqual([
      { type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410 }) },
    ]);
  });

  it('refuses a resourceVersion that is not a number (400) and a forbidden watch (403)', async () => {
    expect((await watch('resourceVersion=abc')).status).toBe(400);
    api.forbid('watch');
    expect((await watch('resourceVersion=1')).status).toBe(403);
    expect(api.routeRequests().map((r) => r.status)).toEqual([400, 403]);
  });

  it('merges as RFC 7386 says: objects by key, null deletes, arrays replace', () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
});
