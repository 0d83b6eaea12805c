import { describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { HttpRoute } from './http-route.js';
import type { HttpRouteWatchApi, WatchEvent, WatchHandle } from './kube-api.js';

export interface HttpRouteInformerOptions {
  api: HttpRouteWatchApi;
  /** The namespaces whose routes are cached (those of the policy's `routing`). */
  namespaces: readonly string[];
  logger: Logger;
  /** Milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * How long the cache is still trusted after its watch went down, in ms; past that, reads fall
   * back to a GET until the watch is back. Default 30 000.
   */
  staleAfterMs?: number;
  /** Wait before the first retry after a failed list or watch, doubled each time up to `maxBackoffMs`. Default 500. */
  backoffMs?: number;
  /** Default 30 000. */
  maxBackoffMs?: number;
}

/** What the cache knows of one route: `fresh: false` means ask the API server. */
export type CachedRoute = { fresh: true; route: HttpRoute | undefined } | { fresh: false };

/** The part of the informer the router uses. */
export interface HttpRouteCache {
  /** The route as the watch last showed it; `route: undefined` when fresh means it does not exist. */
  lookup(namespace: string, name: string): CachedRoute;
  /** A route just read or written by this process (a GET or PATCH answer): kept unless the cache holds a newer one. */
  remember(route: HttpRoute): void;
}

/** One namespace's list + watch loop and what it holds. */
interface NamespaceCache {
  routes: Map<string, HttpRoute>;
  /** The resourceVersion to resume the watch from (the last event's or bookmark's). */
  resourceVersion: string | undefined;
  synced: boolean;
  /** When the watch last went down; undefined while it is open. */
  downSince: number | undefined;
  handle: WatchHandle | undefined;
  failures: number;
}

/**
 * A cache of the HTTPRoutes in the agent's namespaces, kept by a watch: list, then watch from the
 * list's resourceVersion, so reading routes costs no API call per service per sampling round per
 * replica. Nothing stale is ever served as fresh: before the first list, and once the watch has
 * been down longer than `staleAfterMs`, `lookup` says `fresh: false` and the router GETs.
 *
 * A watch that ends or fails is opened again from the last resourceVersion seen, with backoff; a
 * 410 Gone (the API server no longer has the history since then) makes it list again. An event
 * whose object is not a route of the namespace is logged and skipped: one bad line never empties
 * the cache or stops the watch.
 */
export class HttpRouteInformer implements HttpRouteCache {
  private readonly caches = new Map<string, NamespaceCache>();
  private readonly now: () => number;
  private readonly staleAfterMs: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly logger: Logger;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly options: HttpRouteInformerOptions) {
    this.now = options.now ?? Date.now;
    this.staleAfterMs = options.staleAfterMs ?? 30_000;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.logger = options.logger.child({ component: 'http-route-informer' });
    for (const ns of new Set(options.namespaces)) {
      this.caches.set(ns, {
        routes: new Map(),
        resourceVersion: undefined,
        synced: false,
        downSince: undefined,
        handle: undefined,
        failures: 0,
      });
    }
  }

  /** Starts listing and watching every namespace; resolves once each has been tried once. */
  async start(): Promise<void> {
    await Promise.all([...this.caches.keys()].map((ns) => this.relist(ns)));
  }

  /** Closes the watches and cancels retries. Idempotent. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const cache of this.caches.values()) {
      cache.handle?.stop();
      cache.handle = undefined;
    }
  }

  /** True once every namespace has been listed and its watch is open. */
  isWatching(): boolean {
    return [...this.caches.values()].every((c) => c.synced && c.downSince === undefined);
  }

  lookup(namespace: string, name: string): CachedRoute {
    const cache = this.caches.get(namespace);
    if (cache === undefined || !cache.synced) return { fresh: false };
    if (cache.downSince !== undefined && this.now() - cache.downSince > this.staleAfterMs) {
      return { fresh: false };
    }
    return { fresh: true, route: cache.routes.get(name) };
  }

  remember(route: HttpRoute): void {
    const cache = this.caches.get(route.metadata.namespace ?? '');
    const name = route.metadata.name;
    if (cache === undefined || typeof name !== 'string') return;
    const held = cache.routes.get(name);
    if (held !== undefined && isOlder(route, held)) return;
    cache.routes.set(name, route);
  }

  private async relist(ns: string): Promise<void> {
    const cache = this.caches.get(ns)!;
    if (this.stopped) return;
    let listed;
    try {
      listed = await this.options.api.list(ns);
    } catch (err) {
      this.retry(ns, 'list', err, () => this.relist(ns));
      return;
    }
    if (this.stopped) return;
    cache.routes.clear();
    for (const item of listed.items) {
      const route = asRoute(item, ns);
      if (route === undefined) {
        this.logger.warn({ namespace: ns }, 'skipped a listed HTTPRoute without metadata.name');
        continue;
      }
      cache.routes.set(route.metadata.name, route);
    }
    cache.resourceVersion = listed.resourceVersion;
    cache.synced = true;
    // Not watching yet: the listed state counts as fresh only for `staleAfterMs` unless the
    // watch opens (an API server that never answers the watch must not freeze the cache).
    cache.downSince ??= this.now();
    await this.watch(ns);
  }

  private async watch(ns: string): Promise<void> {
    const cache = this.caches.get(ns)!;
    if (this.stopped) return;
    let gone = false;
    let ended = false;
    let handle: WatchHandle;
    try {
      handle = await this.options.api.watch(
        ns,
        cache.resourceVersion ?? '',
        (event) => {
          if (this.apply(ns, event) === 'gone') gone = true;
        },
        (err) => {
          ended = true;
          cache.handle = undefined;
          cache.downSince ??= this.now();
          if (gone) {
            this.logger.info({ namespace: ns }, 'watch history expired (410 Gone); listing again');
            this.later(ns, 0, () => this.relist(ns));
          } else if (err !== undefined) {
            this.retry(ns, 'watch', err, () => this.watch(ns));
          } else {
            // The API server ends watches now and then (its timeout, a restart): open it again,
            // after a pause so a server that ends every watch at once is not hammered.
            this.later(ns, this.backoffMs, () => this.watch(ns));
          }
        },
      );
    } catch (err) {
      cache.downSince ??= this.now();
      this.retry(ns, 'watch', err, () => this.watch(ns));
      return;
    }
    if (ended) return;
    if (this.stopped) {
      handle.stop();
      return;
    }
    cache.handle = handle;
    cache.downSince = undefined;
    cache.failures = 0;
  }

  /** Applies one watch event; `gone` when the API server says the history is gone. */
  private apply(ns: string, event: WatchEvent): 'gone' | undefined {
    const cache = this.caches.get(ns)!;
    if (event.type === 'ERROR') {
      const status = event.object as { code?: unknown; message?: unknown } | undefined;
      if (status?.code === 410) return 'gone';
      this.logger.warn({ namespace: ns, status }, 'watch reported an error');
      return undefined;
    }
    if (event.type === 'BOOKMARK') {
      const rv = (event.object as { metadata?: { resourceVersion?: unknown } } | undefined)
        ?.metadata?.resourceVersion;
      if (typeof rv === 'string') cache.resourceVersion = rv;
      return undefined;
    }
    const route = asRoute(event.object, ns);
    if (
      route === undefined ||
      typeof route.metadata.resourceVersion !== 'string' ||
      !['ADDED', 'MODIFIED', 'DELETED'].includes(event.type)
    ) {
      this.logger.warn(
        { namespace: ns, type: event.type, object: preview(event.object) },
        'ignored a malformed watch event (not an HTTPRoute of this namespace)',
      );
      return undefined;
    }
    if (event.type === 'DELETED') cache.routes.delete(route.metadata.name);
    else cache.routes.set(route.metadata.name, route);
    cache.resourceVersion = route.metadata.resourceVersion;
    return undefined;
  }

  private retry(ns: string, verb: string, err: unknown, again: () => Promise<void>): void {
    const cache = this.caches.get(ns)!;
    cache.failures++;
    const wait = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (cache.failures - 1));
    this.logger.warn(
      { namespace: ns, err: describeError(err), retryInMs: wait },
      `cannot ${verb} HTTPRoutes; trying again (reads fall back to GET if this lasts)`,
    );
    this.later(ns, wait, again);
  }

  private later(ns: string, ms: number, work: () => Promise<void>): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work().catch((err: unknown) =>
        this.logger.error({ namespace: ns, err: describeError(err) }, 'route watch loop failed'),
      );
    }, ms);
    this.timers.add(timer);
  }
}

/** The object if it looks like a route of `ns` (a name, and no other namespace), else undefined. */
function asRoute(object: unknown, ns: string): HttpRoute | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  const metadata = (object as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const { name, namespace } = metadata as { name?: unknown; namespace?: unknown };
  if (typeof name !== 'string' || name === '') return undefined;
  if (namespace !== undefined && namespace !== ns) return undefined;
  const spec = (object as { spec?: unknown }).spec;
  if (spec !== undefined && (typeof spec !== 'object' || spec === null)) return undefined;
  const rules = (spec as { rules?: unknown } | undefined)?.rules;
  if (rules !== undefined && !Array.isArray(rules)) return undefined;
  return {
    ...(object as HttpRoute),
    metadata: { ...(metadata as HttpRoute['metadata']), namespace: ns },
  };
}

/**
 * Whether `a` is older than `b`. resourceVersions are opaque, but etcd's are integers; only when
 * both are is an older one recognised, otherwise the newcomer wins (it was read just now).
 */
function isOlder(a: HttpRoute, b: HttpRoute): boolean {
  const [x, y] = [a.metadata.resourceVersion, b.metadata.resourceVersion];
  if (typeof x !== 'string' || typeof y !== 'string' || !/^\d+$/.test(x) || !/^\d+$/.test(y)) {
    return false;
  }
  return BigInt(x) < BigInt(y);
}

function preview(object: unknown): string {
  const text = JSON.stringify(object) ?? String(object);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
