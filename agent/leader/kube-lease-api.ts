import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { LeaseConflict, type LeaseApi, type LeaseRecord, type LeaseWrite } from './lease-api.js';

const GROUP = 'coordination.k8s.io';
const VERSION = 'v1';
const PLURAL = 'leases';

interface LeaseObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/**
 * The lease over the Kubernetes API. Through the generic object client rather than the typed
 * CoordinationV1Api: the lease's MicroTime fields are written here as RFC 3339 with microseconds,
 * as the API server expects, instead of trusting the client's Date serialisation.
 */
export class KubeLeaseApi implements LeaseApi {
  private readonly api: CustomObjectsApi;

  constructor(
    config: KubeConfig,
    private readonly namespace: string,
    private readonly name: string,
  ) {
    this.api = config.makeApiClient(CustomObjectsApi);
  }

  async read(): Promise<LeaseRecord | undefined> {
    try {
      const found = (await this.api.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: this.namespace,
        plural: PLURAL,
        name: this.name,
      })) as LeaseObject;
      return fromObject(found);
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw explain(err);
    }
  }

  async create(lease: LeaseWrite): Promise<LeaseRecord> {
    try {
      const created = (await this.api.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: this.namespace,
        plural: PLURAL,
        body: this.toObject(lease, undefined),
      })) as LeaseObject;
      return fromObject(created);
    } catch (err) {
      throw explain(err);
    }
  }

  async replace(lease: LeaseWrite, resourceVersion: string): Promise<LeaseRecord> {
    try {
      const replaced = (await this.api.replaceNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: this.namespace,
        plural: PLURAL,
        name: this.name,
        body: this.toObject(lease, resourceVersion),
      })) as LeaseObject;
      return fromObject(replaced);
    } catch (err) {
      throw explain(err);
    }
  }

  private toObject(lease: LeaseWrite, resourceVersion: string | undefined): object {
    return {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'Lease',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        ...(resourceVersion !== undefined && { resourceVersion }),
      },
      spec: {
        holderIdentity: lease.holder ?? null,
        leaseDurationSeconds: Math.max(1, Math.ceil(lease.durationMs / 1000)),
        renewTime: lease.renewMs === undefined ? null : microTime(lease.renewMs),
        leaseTransitions: lease.transitions,
      },
    };
  }
}

function fromObject(lease: LeaseObject): LeaseRecord {
  const spec = lease.spec ?? {};
  const renew = spec.renewTime ? Date.parse(spec.renewTime) : Number.NaN;
  return {
    holder: spec.holderIdentity || undefined,
    durationMs: (spec.leaseDurationSeconds ?? 0) * 1000,
    renewMs: Number.isFinite(renew) ? renew : undefined,
    transitions: spec.leaseTransitions ?? 0,
    resourceVersion: lease.metadata.resourceVersion ?? '',
  };
}

/** RFC 3339 with six fractional digits (Kubernetes' MicroTime). */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function explain(err: unknown): Error {
  if (err instanceof ApiException) {
    const message = `lease API answered ${err.code}: ${String(err.body).slice(0, 300)}`;
    return err.code === 409 ? new LeaseConflict(message) : new Error(message);
  }
  return err instanceof Error ? err : new Error(String(err));
}
