import type { Redis } from 'ioredis';
import { z } from 'zod';
import { HealthSamplePayload } from '../../shared/contracts/events.js';
import {
  sampledAt,
  type HealthSampleStore,
  type StoredSample,
} from '../../shared/ports/health-samples.js';
import { RedisScript } from './redis-script.js';

const Stored = z.object({
  cluster: z.string(),
  receivedAt: z.number(),
  windowEnd: z.number().optional(),
  sample: HealthSamplePayload,
});

// Keep the newer of the stored and the incoming sample (by when its window ended, or when it was
// received for records from before): redelivered and backlogged old events must not win.
const RECORD = new RedisScript(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok then
    local stored = decoded.windowEnd or decoded.receivedAt
    if type(stored) == 'number' and stored > tonumber(ARGV[3]) then return 0 end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`);

/**
 * One hash per (rollout, stage), a field per cluster; each expires `retentionMs` after its last
 * sample (default an hour, the policy's `retention.samples`): a finished rollout's samples go
 * about that long after its agents stopped sampling it, and a live stage's never do.
 */
export class RedisHealthSampleStore implements HealthSampleStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'rollout:',
    private readonly retentionMs = 3_600_000,
  ) {}

  async record(rolloutId: string, stored: StoredSample): Promise<void> {
    const key = this.key(rolloutId, stored.sample.stageIndex);
    await RECORD.run(
      this.redis,
      [key],
      [stored.cluster, JSON.stringify(stored), sampledAt(stored), this.retentionMs],
    );
  }

  /**
   * All at once: on the bot's client (automatic pipelining) they go out in one write, and a
   * client without it still waits for one round trip, not one per sample.
   */
  async recordAll(entries: readonly { rolloutId: string; stored: StoredSample }[]): Promise<void> {
    await Promise.all(entries.map(({ rolloutId, stored }) => this.record(rolloutId, stored)));
  }

  async latest(rolloutId: string, stageIndex: number): Promise<StoredSample[]> {
    const fields = await this.redis.hgetall(this.key(rolloutId, stageIndex));
    const samples: StoredSample[] = [];
    for (const text of Object.values(fields)) {
      // A record we cannot read is skipped: the gate then sees that cluster as silent (inconclusive).
      const parsed = Stored.safeParse(safeJson(text));
      if (parsed.success) samples.push(parsed.data);
    }
    return samples;
  }

  private key(rolloutId: string, stageIndex: number): string {
    return `${this.prefix}samples:${rolloutId}:${stageIndex}`;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
