import type { HttpRoute } from './http-route.js';

// Kept apart from kube-http-routes.ts so that code which only needs these types and the error
// does not load @kubernetes/client-node (about 140 MB resident) in agents that never use it.

/**
 * One HTTPRoute over the Kubernetes API: `get` and `patch` on
 * `httproutes.gateway.networking.k8s.io` (the agent's Role grants those, and `list` and `watch`
 * for `HttpRouteWatchApi`, nothing else). Failures reject with `KubeApiError`.
 */
export interface HttpRouteApi {
  /** The API server, for messages (`https://10.0.0.1:443`). */
  readonly server: string;
  get(namespace: string, name: string): Promise<HttpRoute>;
  /** An RFC 7386 JSON merge patch; one carrying `metadata.resourceVersion` fails with 409 if the route changed since. */
  mergePatch(namespace: string, name: string, patch: object): Promise<HttpRoute>;
}

/** One line of a watch stream, as the API server sent it (the object is not checked yet). */
export interface WatchEvent {
  type: string;
  object: unknown;
}

/** An open watch: `stop` closes it (then `onDone` is not called). */
export interface WatchHandle {
  stop(): void;
}

/**
 * The HTTPRoute collection of one namespace, for a cache kept by a watch (`HttpRouteInformer`):
 * the `list` and `watch` verbs on `httproutes`. Failures reject with `KubeApiError`.
 */
export interface HttpRouteWatchApi {
  /** Every route of `namespace`, and the resourceVersion to watch from. */
  list(namespace: string): Promise<{ resourceVersion: string; items: unknown[] }>;
  /**
   * Streams the changes after `resourceVersion` (with bookmarks) to `onEvent`, one call per line,
   * until the stream ends: then `onDone` once, with the error if it failed. A too-old
   * resourceVersion arrives as an `ERROR` event whose object is a `Status` with code 410.
   */
  watch(
    namespace: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle>;
}

/** A Kubernetes API call failed: `status` is the HTTP status, undefined when no answer came. */
export class KubeApiError extends Error {
  constructor(
    readonly verb: 'get' | 'patch' | 'list' | 'watch',
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}
