import type { Redis } from 'ioredis';
import { VersionConflictError } from '../../shared/errors.js';
import {
  ReleaseExistsError,
  ReleaseNotFoundError,
  type PendingReleaseEffect,
  type ReleaseCommit,
  type ReleaseStore,
} from '../../shared/ports/release-store.js';
import { CorruptRecordError } from '../../shared/ports/rollout-store.js';
import { isReleaseTerminal, ReleaseState } from '../../shared/release/state.js';
import { RedisScript } from './redis-script.js';

const DEFAULT_EFFECT_LIMIT = 100;

/**
 * Key layout (`p` is the prefix, default `release:`):
 * - `p state:<id>`: the state as JSON (expires `retainForMs` after the commit that ended it).
 * - `p idx:active`: sorted set of ids of releases not ended, scored by `createdAt`.
 * - `p outbox`: sorted set scored by insertion seq, member `<effect id>`; `p outbox:effects`
 *   maps an effect id to its entry as JSON; `p outbox:seq` counts insertions.
 *
 * Every write is one Lua script, so a commit is all or nothing and its version check cannot race.
 * Keys are derived from the prefix inside the script: a single Redis node, no ioredis `keyPrefix`.
 */
export class RedisReleaseStore implements ReleaseStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  /** `redis` stays the caller's: this store never closes it. */
  constructor(redis: Redis, options: { prefix?: string } = {}) {
    this.#prefix = options.prefix ?? 'release:';
    if (this.#prefix === '') throw new TypeError('RedisReleaseStore: prefix must not be empty');
    if (redis.options.keyPrefix) {
      throw new TypeError(
        'RedisReleaseStore: the ioredis client has a keyPrefix; use the store prefix option instead',
      );
    }
    this.#redis = redis;
  }

  async create(commit: ReleaseCommit): Promise<void> {
    await this.#write('create', commit);
  }

  async get(id: string): Promise<ReleaseState | undefined> {
    const key = `${this.#prefix}state:${id}`;
    const json = await this.#redis.get(key);
    return json === null ? undefined : parse(key, json);
  }

  async commit(commit: ReleaseCommit): Promise<void> {
    await this.#write('commit', commit);
  }

  async active(): Promise<ReleaseState[]> {
    const ids = await this.#redis.zrevrange(`${this.#prefix}idx:active`, 0, -1);
    if (ids.length === 0) return [];
    const jsons = await this.#redis.mget(ids.map((id) => `${this.#prefix}state:${id}`));
    return jsons.flatMap((json, i) =>
      json === null ? [] : [parse(`${this.#prefix}state:${ids[i]!}`, json)],
    );
  }

  async pendingEffects(limit = DEFAULT_EFFECT_LIMIT): Promise<PendingReleaseEffect[]> {
    const ids = await this.#redis.zrange(`${this.#prefix}outbox`, '0', String(limit - 1));
    if (ids.length === 0) return [];
    const jsons = await this.#redis.hmget(`${this.#prefix}outbox:effects`, ...ids);
    return jsons.flatMap((json) =>
      json === null ? [] : [JSON.parse(json) as PendingReleaseEffect],
    );
  }

  async markEffectDone(effectId: string): Promise<void> {
    await this.#redis
      .multi()
      .zrem(`${this.#prefix}outbox`, effectId)
      .hdel(`${this.#prefix}outbox:effects`, effectId)
      .exec();
  }

  async #write(mode: 'create' | 'commit', { state, effects, retainForMs }: ReleaseCommit) {
    const reply = (await WRITE.run(
      this.#redis,
      [],
      [
        this.#prefix,
        mode,
        state.id,
        String(state.version),
        JSON.stringify(state),
        String(state.createdAt),
        isReleaseTerminal(state.status) ? '0' : '1',
        String(retainForMs ?? 0),
        JSON.stringify(effects.map(({ id, effect }) => [id, JSON.stringify(effect)])),
      ],
    )) as string;
    if (reply === 'exists') throw new ReleaseExistsError(state.id);
    if (reply === 'missing') throw new ReleaseNotFoundError(state.id);
    if (reply === 'conflict') throw new VersionConflictError(state.id, state.version - 1);
  }
}

function parse(key: string, json: string): ReleaseState {
  const parsed = ReleaseState.safeParse(JSON.parse(json));
  if (!parsed.success) throw new CorruptRecordError(key, parsed.error.message);
  return parsed.data;
}

/**
 * ARGV: prefix, mode, id, version, state JSON, createdAt, active (1/0), retainMs, effects as a
 * JSON array of [id, effect JSON]. The outbox entry is built here so its seq is the insertion's.
 */
const WRITE = new RedisScript(`
local p, mode, id = ARGV[1], ARGV[2], ARGV[3]
local version = tonumber(ARGV[4])
local key = p .. 'state:' .. id
local current = redis.call('GET', key)
if mode == 'create' then
  if current then return 'exists' end
else
  if not current then return 'missing' end
  if cjson.decode(current).version ~= version - 1 then return 'conflict' end
end
redis.call('SET', key, ARGV[5])
if ARGV[7] == '1' then
  redis.call('ZADD', p .. 'idx:active', tonumber(ARGV[6]), id)
else
  redis.call('ZREM', p .. 'idx:active', id)
end
local retain = tonumber(ARGV[8])
if retain > 0 then redis.call('PEXPIRE', key, retain) end
for _, pair in ipairs(cjson.decode(ARGV[9])) do
  local seq = redis.call('INCR', p .. 'outbox:seq')
  local entry = '{"id":' .. cjson.encode(pair[1]) .. ',"releaseId":' .. cjson.encode(id) ..
    ',"version":' .. version .. ',"seq":' .. seq .. ',"effect":' .. pair[2] .. '}'
  redis.call('ZADD', p .. 'outbox', seq, pair[1])
  redis.call('HSET', p .. 'outbox:effects', pair[1], entry)
end
return 'ok'
`);
