import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

/**
 * A Kubernetes API server double over real HTTP, for the `gateway-api` router and its client
 * (`@kubernetes/client-node`). It holds HTTPRoute (gateway.networking.k8s.io/v1) and Service
 * objects and behaves like the API server where the router depends on it:
 *
 * - bearer-token authentication (401 otherwise);
 * - `resourceVersion` and `generation`: every write bumps the resource version, a spec change
 *   the generation; a PUT or a merge PATCH naming another resourceVersion is a 409 Conflict;
 * - 404 and 403 answers as Kubernetes `Status` objects (403s as configured, per verb);
 * - a gateway controller's part: after each write the route's `status.parents[].conditions` say
 *   whether every backendRef resolves to a Service it holds (`ResolvedRefs`, `BackendNotFound`);
 * - list and watch on the httproutes collection of a namespace: a list carries
 *   `metadata.resourceVersion`; `?watch=true&resourceVersion=N` streams JSON lines
 *   (`{"type":"ADDED|MODIFIED|DELETED|BOOKMARK","object":…}`) for every change after N (no N or
 *   `0`: an ADDED per route first), BOOKMARKs on `bookmark()` when `allowWatchBookmarks` is set,
 *   and, like the real API on a watch, a resourceVersion older than the history kept
 *   (`compactHistory()`) answers 200 with one `ERROR` event carrying a 410 `Status`, then ends;
 * - Leases (coordination.k8s.io/v1), for leader election: GET, POST (409 AlreadyExists when
 *   the lease exists) and PUT (409 Conflict on a stale `resourceVersion`), no patch;
 * - every request is recorded (method, path, content type, parsed body) for tests to check.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  authorization: string | undefined;
  /** The query string's parameters (`fieldValidation`, `fieldManager`). */
  query: Record<string, string>;
  body: unknown;
  status: number;
}

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
};

type Verb = 'get' | 'patch' | 'update' | 'list' | 'watch';

export interface KubeApiDouble {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly token: string;
  readonly requests: RecordedRequest[];
  /** Creates or replaces a route (resourceVersion and generation assigned as on create). */
  putRoute(route: KubeObject): KubeObject;
  route(namespace: string, name: string): KubeObject | undefined;
  deleteRoute(namespace: string, name: string): void;
  addService(namespace: string, name: string): void;
  removeService(namespace: string, name: string): void;
  /** Answers 403 to this verb on httproutes (in `namespace`, or everywhere) until `allow`. */
  forbid(verb: Verb, namespace?: string): void;
  allow(): void;
  /**
   * Runs `change` on the stored route right before the next `count` writes to it are judged, as a
   * concurrent writer would (the write then meets a newer resourceVersion: 409).
   */
  interfere(
    namespace: string,
    name: string,
    change: (route: KubeObject) => void,
    count?: number,
  ): void;
  /** A kubeconfig file pointing at this double (plain HTTP, so `insecure-skip-tls-verify`). */
  writeKubeconfig(path: string): Promise<void>;
  /** Requests that reached the httproutes resource (single routes and the collection). */
  routeRequests(): RecordedRequest[];
  /**
   * Changes a stored route as `kubectl edit` would: a new resourceVersion (and generation if the
   * spec changed), and a MODIFIED event to every watch of its namespace.
   */
  editRoute(namespace: string, name: string, change: (route: KubeObject) => void): KubeObject;
  /** Sends this raw line to every open watch (malformed events, for tests of the watcher). */
  sendWatchLine(line: string): void;
  /** A BOOKMARK with the current resourceVersion to every watch that allowed bookmarks. */
  bookmark(): void;
  /** Ends every open watch connection, as an API server restart or a load balancer would. */
  dropWatches(): void;
  /** Watches open now. */
  openWatches(): number;
  /** Forgets the change history: a watch from any resourceVersion before now gets 410 Gone. */
  compactHistory(): void;
  /** A lease as stored, or undefined. */
  lease(namespace: string, name: string): KubeObject | undefined;
  /** Answers 503 to every lease request until `true` is given back (an API server away). */
  leasesDown(down: boolean): void;
  close(): Promise<void>;
}

const ROUTES =
  /^\/apis\/gateway\.networking\.k8s\.io\/v1\/namespaces\/([^/]+)\/httproutes\/([^/?]+)$/;
const SERVICES = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/?]+)$/;
const ROUTE_COLLECTION =
  /^\/apis\/gateway\.networking\.k8s\.io\/v1\/namespaces\/([^/]+)\/httproutes$/;
const LEASES = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/?]+))?$/;

export async function startKubeApiDouble(options: { token?: string } = {}): Promise<KubeApiDouble> {
  const token = options.token ?? 'test-service-account-token';
  const routes = new Map<string, KubeObject>();
  const services = new Set<string>();
  const requests: RecordedRequest[] = [];
  const forbidden: { verb: Verb; namespace: string | undefined }[] = [];
  const interference = new Map<string, { change: (r: KubeObject) => void; left: number }>();
  let version = 1000;
  const key = (ns: string, name: string) => `${ns}/${name}`;
  const leases = new Map<string, KubeObject>();
  let leasesAway = false;
  /** Every change to a route, oldest first, since the last `compactHistory`. */
  const history: { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject }[] = [];
  /** A watch from a resourceVersion below this one is too old (410). */
  let oldestKept = 0;
  const watches = new Set<{ ns: string; res: ServerResponse; bookmarks: boolean }>();
  const emit = (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void => {
    const copy = structuredClone(object);
    history.push({ rv: Number(copy.metadata.resourceVersion), type, object: copy });
    for (const w of watches) {
      if (w.ns === copy.metadata.namespace)
        w.res.write(`${JSON.stringify({ type, object: copy })}\n`);
    }
  };

  /** The Lease resource: what leader election needs of it, with optimistic concurrency. */
  const handleLease = (
    method: string,
    ns: string,
    name: string | undefined,
    body: unknown,
    send: (status: number, payload: unknown) => void,
  ): void => {
    if (leasesAway) return send(503, statusObject(503, 'ServiceUnavailable', 'etcd is away'));
    const lease = body as KubeObject | undefined;
    if (method === 'GET' && name !== undefined) {
      const found = leases.get(key(ns, name));
      return found
        ? send(200, found)
        : send(
            404,
            statusObject(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`),
          );
    }
    if (typeof lease !== 'object' || lease === null || typeof lease.metadata?.name !== 'string') {
      return send(400, statusObject(400, 'BadRequest', 'expected a Lease with metadata.name'));
    }
    const target = name ?? lease.metadata.name;
    const current = leases.get(key(ns, target));
    if (method === 'POST' && name === undefined) {
      if (current) {
        return send(
          409,
          statusObject(
            409,
            'AlreadyExists',
            `leases.coordination.k8s.io "${target}" already exists`,
          ),
        );
      }
    } else if (method === 'PUT' && name !== undefined) {
      if (!current) {
        return send(
          404,
          statusObject(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`),
        );
      }
      if (lease.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return send(
          409,
          statusObject(
            409,
            'Conflict',
            `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          ),
        );
      }
    } else {
      return send(405, statusObject(405, 'MethodNotAllowed', `${method} is not supported`));
    }
    const stored: KubeObject = {
      ...structuredClone(lease),
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...lease.metadata,
        name: target,
        namespace: ns,
        resourceVersion: String(++version),
      },
    };
    leases.set(key(ns, target), stored);
    return send(method === 'POST' ? 201 : 200, stored);
  };

  const resolveStatus = (route: KubeObject): void => {
    const ns = route.metadata.namespace!;
    const missing: string[] = [];
    const rules = (route.spec?.rules ?? []) as {
      backendRefs?: Record<string, unknown>[];
      filters?: { requestMirror?: { backendRef?: Record<string, unknown> } }[];
    }[];
    for (const rule of rules) {
      // A RequestMirror filter's backend must resolve too, as a gateway controller checks it.
      const mirrors = (rule.filters ?? []).flatMap((f) =>
        f.requestMirror?.backendRef ? [f.requestMirror.backendRef] : [],
      );
      for (const ref of [...(rule.backendRefs ?? []), ...mirrors]) {
        if ((ref.kind ?? 'Service') !== 'Service') continue;
        const refNs = (ref.namespace as string | undefined) ?? ns;
        if (!services.has(key(refNs, ref.name as string))) missing.push(`${refNs}/${ref.name}`);
      }
    }
    const generation = route.metadata.generation;
    route.status = {
      parents: [
        {
          parentRef: { name: 'gateway', namespace: ns },
          controllerName: 'example.com/gateway-controller',
          conditions: [
            {
              type: 'Accepted',
              status: 'True',
              reason: 'Accepted',
              observedGeneration: generation,
            },
            missing.length === 0
              ? {
                  type: 'ResolvedRefs',
                  status: 'True',
                  reason: 'ResolvedRefs',
                  observedGeneration: generation,
                }
              : {
                  type: 'ResolvedRefs',
                  status: 'False',
                  reason: 'BackendNotFound',
                  message: `Service ${missing.map((m) => `"${m}"`).join(', ')} not found`,
                  observedGeneration: generation,
                },
          ],
        },
      ],
    };
  };

  /** A status change is a write too (a controller's): new resourceVersion, MODIFIED to watches. */
  const restatus = (route: KubeObject): void => {
    const before = structuredClone(route.status);
    resolveStatus(route);
    if (isDeepStrictEqual(before, route.status)) return;
    route.metadata.resourceVersion = String(++version);
    emit('MODIFIED', route);
  };

  const store = (route: KubeObject, previous: KubeObject | undefined): KubeObject => {
    route.metadata.resourceVersion = String(++version);
    const specChanged = previous === undefined || !isDeepStrictEqual(previous.spec, route.spec);
    route.metadata.generation = (previous?.metadata.generation ?? 0) + (specChanged ? 1 : 0);
    resolveStatus(route);
    const k = key(route.metadata.namespace!, route.metadata.name);
    const existed = routes.has(k);
    routes.set(k, route);
    emit(existed ? 'MODIFIED' : 'ADDED', route);
    return route;
  };

  /** The httproutes collection of a namespace: a list, or with `watch=true` a stream of changes. */
  const handleCollection = (
    ns: string,
    query: Record<string, string>,
    res: ServerResponse,
    record: RecordedRequest,
    send: (status: number, payload: unknown) => void,
  ): void => {
    const watching = query.watch === 'true' || query.watch === '1';
    const verb: Verb = watching ? 'watch' : 'list';
    if (
      forbidden.some((f) => f.verb === verb && (f.namespace === undefined || f.namespace === ns))
    ) {
      return send(
        403,
        statusObject(
          403,
          'Forbidden',
          `httproutes.gateway.networking.k8s.io is forbidden: User "system:serviceaccount:rollouts:rollout-agent" cannot ${verb} resource "httproutes" in API group "gateway.networking.k8s.io" in the namespace "${ns}"`,
        ),
      );
    }
    const inNs = [...routes.values()].filter((r) => r.metadata.namespace === ns);
    if (!watching) {
      return send(200, {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRouteList',
        metadata: { resourceVersion: String(version) },
        items: structuredClone(inNs),
      });
    }
    const from = query.resourceVersion;
    if (from !== undefined && from !== '' && !/^\d+$/.test(from)) {
      return send(
        400,
        statusObject(
          400,
          'BadRequest',
          `resourceVersion: Invalid value: "${from}": must be an integer`,
        ),
      );
    }
    record.status = 200;
    res.writeHead(200, { 'content-type': 'application/json' });
    // Headers now, as the API server does: a client waits for them before it reads any event.
    res.flushHeaders();
    const line = (event: unknown) => res.write(`${JSON.stringify(event)}\n`);
    if (from === undefined || from === '' || from === '0') {
      // No resourceVersion: the current state as ADDED events, then the changes.
      for (const route of inNs) line({ type: 'ADDED', object: route });
    } else if (Number(from) < oldestKept) {
      // What the real API server does on a watch: 200, one ERROR event with a 410 Status, end.
      line({
        type: 'ERROR',
        object: statusObject(410, 'Expired', `too old resource version: ${from} (${oldestKept})`),
      });
      res.end();
      return;
    } else {
      for (const change of history) {
        if (change.rv > Number(from) && change.object.metadata.namespace === ns) {
          line({ type: change.type, object: change.object });
        }
      }
    }
    const watch = { ns, res, bookmarks: query.allowWatchBookmarks === 'true' };
    watches.add(watch);
    res.on('close', () => watches.delete(watch));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    const path = (req.url ?? '/').split('?')[0]!;
    let body: unknown = undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
      query: Object.fromEntries(new URL(req.url ?? '/', 'http://double').searchParams),
      body,
      status: 0,
    };
    requests.push(record);
    const send = (status: number, payload: unknown) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };

    if (req.headers.authorization !== `Bearer ${token}`) {
      return send(401, statusObject(401, 'Unauthorized', 'Unauthorized'));
    }
    const service = SERVICES.exec(path);
    if (service && req.method === 'GET') {
      const [, ns, name] = service;
      return services.has(key(ns!, name!))
        ? send(200, { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns } })
        : send(404, statusObject(404, 'NotFound', `services "${name}" not found`));
    }
    const collection = ROUTE_COLLECTION.exec(path);
    if (collection && req.method === 'GET') {
      return handleCollection(collection[1]!, record.query, res, record, send);
    }
    const lease = LEASES.exec(path);
    if (lease) return handleLease(req.method ?? 'GET', lease[1]!, lease[2], body, send);
    const match = ROUTES.exec(path);
    if (!match)
      return send(404, statusObject(404, 'NotFound', `the server could not find ${path}`));
    const [, ns, name] = match as unknown as [string, string, string];
    const verb: Verb | undefined =
      req.method === 'GET'
        ? 'get'
        : req.method === 'PATCH'
          ? 'patch'
          : req.method === 'PUT'
            ? 'update'
            : undefined;
    if (verb === undefined) {
      return send(405, statusObject(405, 'MethodNotAllowed', `${req.method} is not supported`));
    }
    if (
      forbidden.some((f) => f.verb === verb && (f.namespace === undefined || f.namespace === ns))
    ) {
      return send(
        403,
        statusObject(
          403,
          'Forbidden',
          `httproutes.gateway.networking.k8s.io "${name}" is forbidden: User "system:serviceaccount:rollouts:rollout-agent" cannot ${verb} resource "httproutes" in API group "gateway.networking.k8s.io" in the namespace "${ns}"`,
        ),
      );
    }
    const current = routes.get(key(ns, name));
    const notFound = () =>
      send(
        404,
        statusObject(404, 'NotFound', `httproutes.gateway.networking.k8s.io "${name}" not found`),
      );
    if (verb === 'get') return current ? send(200, current) : notFound();
    if (!current) return notFound();

    const meddler = interference.get(key(ns, name));
    if (meddler && meddler.left > 0) {
      meddler.left--;
      const changed = structuredClone(current);
      meddler.change(changed);
      store(changed, current);
    }
    const fresh = routes.get(key(ns, name))!;
    const conflict = () =>
      send(
        409,
        statusObject(
          409,
          'Conflict',
          `Operation cannot be fulfilled on httproutes.gateway.networking.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        ),
      );
    if (typeof body !== 'object' || body === null) {
      return send(400, statusObject(400, 'BadRequest', 'the body is not a JSON object'));
    }
    let next: KubeObject;
    if (verb === 'patch') {
      if (record.contentType !== 'application/merge-patch+json') {
        return send(
          415,
          statusObject(
            415,
            'UnsupportedMediaType',
            `the double speaks merge patches, not ${record.contentType}`,
          ),
        );
      }
      next = mergePatch(structuredClone(fresh), body) as KubeObject;
    } else {
      next = structuredClone(body) as KubeObject;
      if (next.metadata?.resourceVersion === undefined) {
        return send(
          422,
          statusObject(422, 'Invalid', 'metadata.resourceVersion: must be specified for an update'),
        );
      }
    }
    const asked = next.metadata?.resourceVersion;
    if (asked !== undefined && asked !== fresh.metadata.resourceVersion) return conflict();
    if (next.metadata?.name !== name || (next.metadata.namespace ?? ns) !== ns) {
      return send(400, statusObject(400, 'BadRequest', 'metadata.name/namespace cannot change'));
    }
    next.metadata.namespace = ns;
    // Status is the controller's; writes through the main resource do not change it.
    next.status = fresh.status;
    return send(200, store(next, fresh));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(statusObject(500, 'InternalError', String(err))));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    token,
    requests,
    putRoute(route) {
      const copy = structuredClone(route);
      copy.apiVersion ??= 'gateway.networking.k8s.io/v1';
      copy.kind ??= 'HTTPRoute';
      copy.metadata.namespace ??= 'default';
      return structuredClone(store(copy, undefined));
    },
    lease(namespace, name) {
      const found = leases.get(key(namespace, name));
      return found ? structuredClone(found) : undefined;
    },
    leasesDown(down) {
      leasesAway = down;
    },
    route(namespace, name) {
      const found = routes.get(key(namespace, name));
      return found && structuredClone(found);
    },
    deleteRoute(namespace, name) {
      const gone = routes.get(key(namespace, name));
      routes.delete(key(namespace, name));
      if (gone !== undefined) {
        gone.metadata.resourceVersion = String(++version);
        emit('DELETED', gone);
      }
    },
    addService(namespace, name) {
      services.add(key(namespace, name));
      for (const route of routes.values()) restatus(route);
    },
    removeService(namespace, name) {
      services.delete(key(namespace, name));
      for (const route of routes.values()) restatus(route);
    },
    editRoute(namespace, name, change) {
      const current = routes.get(key(namespace, name));
      if (current === undefined) throw new Error(`no route ${namespace}/${name} to edit`);
      const next = structuredClone(current);
      change(next);
      return structuredClone(store(next, current));
    },
    sendWatchLine(text) {
      for (const w of watches) w.res.write(`${text}\n`);
    },
    bookmark() {
      for (const w of watches) {
        if (!w.bookmarks) continue;
        w.res.write(
          `${JSON.stringify({
            type: 'BOOKMARK',
            object: {
              apiVersion: 'gateway.networking.k8s.io/v1',
              kind: 'HTTPRoute',
              metadata: { resourceVersion: String(version) },
            },
          })}\n`,
        );
      }
    },
    dropWatches() {
      for (const w of watches) w.res.end();
      watches.clear();
    },
    openWatches() {
      return watches.size;
    },
    compactHistory() {
      history.length = 0;
      oldestKept = version;
    },
    forbid(verb, namespace) {
      forbidden.push({ verb, namespace });
    },
    allow() {
      forbidden.length = 0;
    },
    interfere(namespace, name, change, count = 1) {
      interference.set(key(namespace, name), { change, left: count });
    },
    async writeKubeconfig(path) {
      await writeFile(
        path,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          '- name: double',
          '  cluster:',
          `    server: ${url}`,
          '    insecure-skip-tls-verify: true',
          'users:',
          '- name: agent',
          '  user:',
          `    token: ${token}`,
          'contexts:',
          '- name: double',
          '  context: { cluster: double, user: agent }',
          'current-context: double',
          '',
        ].join('\n'),
      );
    },
    routeRequests() {
      return requests.filter((r) => /\/httproutes(\/|$)/.test(r.path));
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** RFC 7386: objects merge key by key, `null` deletes, everything else (arrays too) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

function statusObject(code: number, reason: string, message: string) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (data += chunk));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

/** An HTTPRoute for `service` sending all traffic to `stable` with `canary` at weight 0, plus what tests add. */
export function anHttpRoute(options: {
  namespace: string;
  name: string;
  stable: string;
  canary: string;
  port?: number;
  extraRules?: Record<string, unknown>[];
  extraBackends?: Record<string, unknown>[];
  annotations?: Record<string, string>;
}): KubeObject {
  const port = options.port ?? 8080;
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: {
      name: options.name,
      namespace: options.namespace,
      annotations: { 'owner.example.com/team': 'payments', ...options.annotations },
    },
    spec: {
      parentRefs: [{ name: 'gateway', namespace: 'gateway-system' }],
      hostnames: [`${options.name}.example.com`],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          backendRefs: [
            { name: options.stable, port, weight: 100 },
            { name: options.canary, port, weight: 0 },
            ...(options.extraBackends ?? []),
          ],
        },
        ...(options.extraRules ?? []),
      ],
    },
  };
}
