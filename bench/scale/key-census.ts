import type { Redis } from 'ioredis';

/** What a set of Redis keys holds, grouped by kind: how many, their bytes, the longest TTL left. */
export interface KeyKind {
  keys: number;
  /** `MEMORY USAGE` summed over the kind's keys. */
  bytes: number;
  /** Keys with no expiry: what stays for good unless something deletes it. */
  forever: number;
  /** The longest time one of them has left, in seconds (0 when none expires). */
  maxTtlSeconds: number;
}

/**
 * A key's kind: its segments with every part that holds a digit (ids, services, sequence
 * numbers, job ids) replaced by `*`, so `rollout:claim:effect:7f3…` and
 * `bull:gate-evaluations:gate-r1-0-3` each name one kind whatever the rollout.
 */
export function kindOf(key: string): string {
  return key
    .split(':')
    .map((part) => (/\d/.test(part) ? '*' : part))
    .join(':');
}

/** Counts, bytes and TTLs of `keys` by kind, in pipelines of 500. */
export async function censusOf(redis: Redis, keys: string[]): Promise<Record<string, KeyKind>> {
  const kinds: Record<string, KeyKind> = {};
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    const pipeline = redis.pipeline();
    for (const key of batch) {
      pipeline.call('MEMORY', 'USAGE', key);
      pipeline.pttl(key);
    }
    const replies = (await pipeline.exec()) ?? [];
    batch.forEach((key, j) => {
      const bytes = Number(replies[2 * j]?.[1] ?? 0);
      const ttl = Number(replies[2 * j + 1]?.[1] ?? -2);
      if (ttl === -2) return; // expired between the scan and now
      const kind = (kinds[kindOf(key)] ??= { keys: 0, bytes: 0, forever: 0, maxTtlSeconds: 0 });
      kind.keys++;
      kind.bytes += bytes;
      if (ttl === -1) kind.forever++;
      else kind.maxTtlSeconds = Math.max(kind.maxTtlSeconds, Math.ceil(ttl / 1000));
    });
  }
  return kinds;
}
