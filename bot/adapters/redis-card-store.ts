import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { CardRef, CardStore } from '../../shared/ports/card-store.js';
import { CorruptRecordError } from '../../shared/ports/rollout-store.js';
import { RedisScript } from './redis-script.js';

const StoredCard = z.object({ channel: z.string().min(1), ts: z.string().min(1) });

// Set if absent and return what is stored, in one step: two replicas saving at once agree.
const SAVE = new RedisScript(`
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`);

/**
 * One string key per rollout holding `{ channel, ts }`, without expiry until the rollout ends;
 * then it expires with the rollout's retention (`retain`).
 */
export class RedisCardStore implements CardStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'rollout:',
  ) {}

  async get(rolloutId: string): Promise<CardRef | undefined> {
    const key = this.key(rolloutId);
    const raw = await this.redis.get(key);
    return raw === null ? undefined : parse(key, raw);
  }

  async save(rolloutId: string, card: CardRef): Promise<CardRef> {
    const key = this.key(rolloutId);
    const raw = (await SAVE.run(
      this.redis,
      [key],
      [JSON.stringify({ channel: card.channel, ts: card.ts })],
    )) as string;
    return parse(key, raw);
  }

  async retain(rolloutId: string, ttlMs: number): Promise<void> {
    await this.redis.pexpire(this.key(rolloutId), Math.max(1, Math.ceil(ttlMs)));
  }

  private key(rolloutId: string): string {
    return `${this.prefix}card:${rolloutId}`;
  }
}

function parse(key: string, raw: string): CardRef {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new CorruptRecordError(key, `not JSON: ${(err as Error).message}`);
  }
  const result = StoredCard.safeParse(json);
  if (!result.success) throw new CorruptRecordError(key, z.prettifyError(result.error));
  return result.data;
}
