import type { HealthSamplePayload } from '../contracts/events.js';

export interface StoredSample {
  cluster: string;
  /** When the bot received it, ms since epoch. */
  receivedAt: number;
  sample: HealthSamplePayload;
}

/**
 * The latest health sample per rollout, stage and cluster: what a gate evaluation reads and the
 * rollout card shows. Samples are not state-machine inputs (they arrive every few seconds).
 */
export interface HealthSampleStore {
  /** Keeps `sample` if it is newer than the one stored for its (rollout, stage, cluster). */
  record(rolloutId: string, stored: StoredSample): Promise<void>;
  /** The latest sample of each cluster for one stage; clusters that sent none are absent. */
  latest(rolloutId: string, stageIndex: number): Promise<StoredSample[]>;
}
