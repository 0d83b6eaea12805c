import type { HttpRoute } from './http-route.js';

// Kept apart from kube-http-routes.ts so that code which only needs these types and the error
// does not load @kubernetes/client-node (about 140 MB resident) in agents that never use it.

/**
 * HTTPRoute access over the Kubernetes API, the only two verbs the agent's Role grants: `get`
 * and `patch` on `httproutes.gateway.networking.k8s.io`. Failures reject with `KubeApiError`.
 */
export interface HttpRouteApi {
  /** The API server, for messages (`https://10.0.0.1:443`). */
  readonly server: string;
  get(namespace: string, name: string): Promise<HttpRoute>;
  /** An RFC 7386 JSON merge patch; one carrying `metadata.resourceVersion` fails with 409 if the route changed since. */
  mergePatch(namespace: string, name: string, patch: object): Promise<HttpRoute>;
}

/** A Kubernetes API call failed: `status` is the HTTP status, undefined when no answer came. */
export class KubeApiError extends Error {
  constructor(
    readonly verb: 'get' | 'patch',
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}
