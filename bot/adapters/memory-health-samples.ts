import {
  sampledAt,
  type HealthSampleStore,
  type StoredSample,
} from '../../shared/ports/health-samples.js';

export interface MemoryHealthSampleStoreOptions {
  /**
   * A (rollout, stage)'s samples are dropped this long after the last one arrived, as the Redis
   * store's hash expires (the policy's `retention.samples`). Default 1 hour.
   */
  retentionMs?: number;
  /** The clock retention is measured on. Default the system clock. */
  now?: () => number;
}

/** How often expired samples are looked for, so local mode holds only live rollouts' samples. */
const PRUNE_EVERY_MS = 60_000;

export class MemoryHealthSampleStore implements HealthSampleStore {
  private readonly samples = new Map<
    string,
    { byCluster: Map<string, StoredSample>; expiresAt: number }
  >();
  private readonly retentionMs: number;
  private readonly now: () => number;
  private prunedAt = Number.NEGATIVE_INFINITY;

  constructor(options: MemoryHealthSampleStoreOptions = {}) {
    this.retentionMs = options.retentionMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
  }

  /** (rollout, stage) pairs held, expired ones not yet dropped included (tests). */
  get size(): number {
    return this.samples.size;
  }

  async record(rolloutId: string, stored: StoredSample): Promise<void> {
    const now = this.now();
    this.prune(now);
    const key = `${rolloutId}/${stored.sample.stageIndex}`;
    const entry = this.live(key, now) ?? {
      byCluster: new Map<string, StoredSample>(),
      expiresAt: 0,
    };
    entry.expiresAt = now + this.retentionMs;
    this.samples.set(key, entry);
    const current = entry.byCluster.get(stored.cluster);
    if (current && sampledAt(current) > sampledAt(stored)) return;
    entry.byCluster.set(stored.cluster, structuredClone(stored));
  }

  async recordAll(entries: readonly { rolloutId: string; stored: StoredSample }[]): Promise<void> {
    for (const { rolloutId, stored } of entries) await this.record(rolloutId, stored);
  }

  async latest(rolloutId: string, stageIndex: number): Promise<StoredSample[]> {
    const entry = this.live(`${rolloutId}/${stageIndex}`, this.now());
    return entry ? [...entry.byCluster.values()].map((s) => structuredClone(s)) : [];
  }

  private live(key: string, now: number) {
    const entry = this.samples.get(key);
    return entry && entry.expiresAt > now ? entry : undefined;
  }

  private prune(now: number): void {
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    for (const [key, entry] of this.samples) if (entry.expiresAt <= now) this.samples.delete(key);
  }
}
