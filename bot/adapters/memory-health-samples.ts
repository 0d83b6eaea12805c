import {
  sampledAt,
  type HealthSampleStore,
  type StoredSample,
} from '../../shared/ports/health-samples.js';

export class MemoryHealthSampleStore implements HealthSampleStore {
  private readonly samples = new Map<string, Map<string, StoredSample>>();

  async record(rolloutId: string, stored: StoredSample): Promise<void> {
    const key = `${rolloutId}/${stored.sample.stageIndex}`;
    const byCluster = this.samples.get(key) ?? new Map<string, StoredSample>();
    const current = byCluster.get(stored.cluster);
    if (current && sampledAt(current) > sampledAt(stored)) return;
    byCluster.set(stored.cluster, structuredClone(stored));
    this.samples.set(key, byCluster);
  }

  async latest(rolloutId: string, stageIndex: number): Promise<StoredSample[]> {
    const byCluster = this.samples.get(`${rolloutId}/${stageIndex}`);
    return byCluster ? [...byCluster.values()].map((s) => structuredClone(s)) : [];
  }
}
