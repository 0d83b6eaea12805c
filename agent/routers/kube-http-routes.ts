import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import type { HttpRoute } from './http-route.js';
import {
  KubeApiError,
  type HttpRouteApi,
  type HttpRouteWatchApi,
  type WatchEvent,
  type WatchHandle,
} from './kube-api.js';

export { KubeApiError, type HttpRouteApi, type HttpRouteWatchApi } from './kube-api.js';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_VERSION = 'v1';
export const HTTP_ROUTES = 'httproutes';
/** How long the API server keeps one watch open (client-go picks 5 to 10 minutes). */
const WATCH_TIMEOUT_SECONDS = 300;

export interface KubeConfigSource {
  /** A kubeconfig file (`KUBECONFIG`); its current context is used. */
  kubeconfig?: string;
  /** In a pod: the service account token and CA Kubernetes mounts, and `KUBERNETES_SERVICE_HOST`. */
  inCluster?: boolean;
}

/** A `KubeConfig` from a kubeconfig file or from inside the cluster; nothing implicit beyond those. */
export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const config = new KubeConfig();
  if (source.kubeconfig !== undefined) config.loadFromFile(source.kubeconfig);
  else if (source.inCluster) config.loadFromCluster();
  else throw new Error('no kubeconfig file and not in a cluster');
  if (config.getCurrentCluster() === null) {
    throw new Error('the kubeconfig has no current context with a cluster');
  }
  return config;
}

export class KubeHttpRouteApi implements HttpRouteApi, HttpRouteWatchApi {
  readonly server: string;
  private readonly api: CustomObjectsApi;
  private readonly watcher: Watch;

  /** `timeoutMs` bounds each call: an API server that accepts but never answers is unreachable too. */
  constructor(
    config: KubeConfig,
    private readonly timeoutMs = 10_000,
  ) {
    this.server = config.getCurrentCluster()?.server ?? '(no cluster)';
    this.api = config.makeApiClient(CustomObjectsApi);
    this.watcher = new Watch(config);
  }

  async list(namespace: string): Promise<{ resourceVersion: string; items: unknown[] }> {
    const list = (await this.call('list', () =>
      this.api.listNamespacedCustomObject({
        group: GATEWAY_GROUP,
        version: GATEWAY_VERSION,
        namespace,
        plural: HTTP_ROUTES,
      }),
    )) as unknown as { metadata?: { resourceVersion?: unknown }; items?: unknown };
    const resourceVersion = list.metadata?.resourceVersion;
    if (typeof resourceVersion !== 'string' || !Array.isArray(list.items)) {
      throw new KubeApiError(
        'list',
        undefined,
        `${this.server} answered the list of httproutes in ${namespace} without items or metadata.resourceVersion`,
      );
    }
    return { resourceVersion, items: list.items as unknown[] };
  }

  async watch(
    namespace: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle> {
    let stopped = false;
    const controller = await this.watcher.watch(
      `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}/namespaces/${encodeURIComponent(namespace)}/${HTTP_ROUTES}`,
      // The API server ends the watch after `timeoutSeconds` and the informer opens a new one: a
      // connection that died silently (no FIN, no RST) is replaced within that time.
      { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_SECONDS },
      (type: string, object: unknown) => {
        if (!stopped) onEvent({ type, object });
      },
      (err: unknown) => {
        if (stopped) return;
        stopped = true;
        // A non-200 answer carries its status as `statusCode` (client-node's Watch).
        const status = (err as { statusCode?: number } | null)?.statusCode;
        onDone(
          err === null || err === undefined
            ? undefined
            : status !== undefined
              ? new KubeApiError('watch', status, `HTTP ${status}`)
              : toKubeApiError('watch', err, this.server),
        );
      },
    );
    return {
      stop() {
        stopped = true;
        controller.abort();
      },
    };
  }

  async get(namespace: string, name: string): Promise<HttpRoute> {
    return this.call('get', () =>
      this.api.getNamespacedCustomObject({
        group: GATEWAY_GROUP,
        version: GATEWAY_VERSION,
        namespace,
        plural: HTTP_ROUTES,
        name,
      }),
    );
  }

  async mergePatch(namespace: string, name: string, patch: object): Promise<HttpRoute> {
    return this.call('patch', () =>
      this.api.patchNamespacedCustomObject(
        {
          group: GATEWAY_GROUP,
          version: GATEWAY_VERSION,
          namespace,
          plural: HTTP_ROUTES,
          name,
          body: patch,
          fieldManager: 'rollout-chatops-agent',
          // A field the installed Gateway API does not know (a mirror's `percent` before v1.3)
          // must be refused, not dropped: dropped, a 10% mirror becomes a 100% one.
          fieldValidation: 'Strict',
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
  }

  private async call(
    verb: KubeApiError['verb'],
    request: () => Promise<unknown>,
  ): Promise<HttpRoute> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new KubeApiError(
              verb,
              undefined,
              `no answer from ${this.server} in ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      );
    });
    try {
      return (await Promise.race([request(), timeout])) as HttpRoute;
    } catch (err) {
      throw toKubeApiError(verb, err, this.server);
    } finally {
      clearTimeout(timer);
    }
  }
}

function toKubeApiError(verb: KubeApiError['verb'], err: unknown, server: string): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof ApiException) {
    const status = statusMessage(err.body);
    return new KubeApiError(verb, err.code, status ?? `HTTP ${err.code}`);
  }
  const cause = err as { code?: string; message?: string };
  return new KubeApiError(
    verb,
    undefined,
    `cannot reach ${server}: ${cause.code ?? cause.message ?? String(err)}`,
  );
}

/** The `message` of a Kubernetes `Status` body (it says which user lacks which verb on what). */
function statusMessage(body: unknown): string | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.slice(0, 300) || undefined;
    }
  }
  const message = (value as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}
