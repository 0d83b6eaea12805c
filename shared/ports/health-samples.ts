import type { HealthSamplePayload } from '../contracts/events.js';

export interface StoredSample {
  cluster: string;
  /** When the bot received it, ms since epoch. */
  receivedAt: number;
  /**
   * When the sample's window ended (its envelope's `at`, never later than `receivedAt`), ms since
   * epoch: what orders samples and decides whether one is fresh. A sample redelivered or read
   * from a backlog keeps its own time, so it never passes for a newer one. Absent on samples
   * stored before it was kept: `receivedAt` stands in.
   */
  windowEnd?: number;
  sample: HealthSamplePayload;
}

/**
 * The latest health sample per rollout, stage and cluster: what a gate evaluation reads and the
 * rollout card shows. Samples are not state-machine inputs (they arrive every few seconds).
 */
export interface HealthSampleStore {
  /**
   * Keeps `sample` unless the one stored for its (rollout, stage, cluster) is newer (a later
   * `windowEnd`, or `receivedAt` where a sample has none).
   */
  record(rolloutId: string, stored: StoredSample): Promise<void>;
  /**
   * `record` for many samples in one round trip (a batch from an agent), with the same rule per
   * sample. Idempotent; resolves once all are kept, rejects if any write failed (the batch is
   * then retried whole, which the rule makes harmless).
   */
  recordAll(entries: readonly { rolloutId: string; stored: StoredSample }[]): Promise<void>;
  /** The latest sample of each cluster for one stage; clusters that sent none are absent. */
  latest(rolloutId: string, stageIndex: number): Promise<StoredSample[]>;
}

/** When a stored sample was taken: its window's end, or when it was received for old records. */
export function sampledAt(stored: StoredSample): number {
  return stored.windowEnd ?? stored.receivedAt;
}
