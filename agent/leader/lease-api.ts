/**
 * The one Kubernetes Lease (coordination.k8s.io/v1) the agent replicas of a cluster share to
 * elect the one that samples health. Times are ms since epoch; `resourceVersion` makes every
 * write conditional.
 */
export interface LeaseRecord {
  /** Who holds it; undefined when released. */
  holder: string | undefined;
  durationMs: number;
  /** When the holder last renewed it (its clock). */
  renewMs: number | undefined;
  transitions: number;
  resourceVersion: string;
}

export type LeaseWrite = Omit<LeaseRecord, 'resourceVersion'>;

/**
 * Access to the lease, the verbs the agent's Role grants on `leases`: `get`, `create`, `update`.
 * Rejects with `LeaseConflict` when another replica wrote first (create of an existing lease,
 * update with a stale `resourceVersion`), with any other error when the API cannot be reached.
 */
export interface LeaseApi {
  /** Undefined when no lease exists yet. */
  read(): Promise<LeaseRecord | undefined>;
  create(lease: LeaseWrite): Promise<LeaseRecord>;
  /** Replaces the lease read at `resourceVersion`. */
  replace(lease: LeaseWrite, resourceVersion: string): Promise<LeaseRecord>;
}

/** Another replica wrote the lease first: not an outage, just not us this time. */
export class LeaseConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaseConflict';
  }
}
