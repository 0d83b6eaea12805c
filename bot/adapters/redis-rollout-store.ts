import type { Redis } from 'ioredis';
import { z } from 'zod';
import { RolloutExistsError, VersionConflictError } from '../../shared/errors.js';
import {
  CorruptRecordError,
  RolloutNotFoundError,
  type Commit,
  type HistoryEntry,
  type PendingEffect,
  type RolloutStore,
} from '../../shared/ports/rollout-store.js';
import { RolloutState, type RolloutStatus } from '../../shared/rollout/state.js';
import {
  decodeSummary,
  encodeSummary,
  StoredHistoryEntry,
  type FinishedRolloutSummary,
} from './finished-rollout-summary.js';
import { RedisScript } from './redis-script.js';

export interface RedisRolloutStoreOptions {
  /** Prepended to every key this store writes. Default `rollout:`. */
  prefix?: string;
}

const DEFAULT_EFFECT_LIMIT = 100;
const DEFAULT_COMPACT_LIMIT = 100;

/**
 * Key layout (`p` is the prefix):
 * - `p state:<id>`: the state as JSON; `p history:<id>`: list of history entries as JSON.
 * - `p summary:<id>`: a finished rollout folded by `compactDue` (state and history, deflated; see
 *   finished-rollout-summary.ts), with the state's expiry; `p history:<id>` then holds only lines
 *   appended since. `p idx:compact`: finished rollouts by when they are due to be folded.
 * - `p idx:all`, `p idx:service:<service>`, `p idx:status:<status>`: sorted sets of rollout ids
 *   scored by `createdAt`, kept in step with the states by the same scripts that write them.
 * - `p outbox`: sorted set scored by insertion seq, member `<16-digit insertion seq>:<effect id>`,
 *   so ZRANGEBYSCORE yields insertion order across rollouts (and pages by seq);
 *   `p outbox:effects` and `p outbox:members` map an effect id to its payload and its member;
 *   `p outbox:seq` counts insertions. Outboxes written when the score was the rollout version are
 *   rescored by seq once, on first read (`p outbox:by-seq` marks it done).
 *
 * Every write is one Lua script (atomic, so a commit is all or nothing and the version check
 * cannot race). The scripts derive some keys from the prefix, so this store needs a single Redis
 * node (not Redis Cluster) and a client without an ioredis `keyPrefix`.
 */
export class RedisRolloutStore implements RolloutStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  /** `redis` stays the caller's: this store never closes it. */
  constructor(redis: Redis, options: RedisRolloutStoreOptions = {}) {
    this.#prefix = options.prefix ?? 'rollout:';
    if (this.#prefix === '') throw new TypeError('RedisRolloutStore: prefix must not be empty');
    if (redis.options.keyPrefix) {
      throw new TypeError(
        'RedisRolloutStore: the ioredis client has a keyPrefix; use the store prefix option instead',
      );
    }
    this.#redis = redis;
  }

  async create(commit: Commit): Promise<void> {
    await this.#write('create', commit);
  }

  async get(id: string): Promise<RolloutState | undefined> {
    const key = this.#stateKey(id);
    const json = await this.#redis.get(key);
    if (json !== null) return parseRecord(RolloutState, key, json);
    return (await this.#summary(id))?.state;
  }

  async commit(commit: Commit): Promise<void> {
    await this.#write('commit', commit);
  }

  async list(
    filter: { service?: string; statuses?: readonly RolloutStatus[]; limit?: number } = {},
  ): Promise<RolloutState[]> {
    if (filter.statuses?.length === 0 || filter.limit === 0) return [];
    const reply = (await LIST.run(
      this.#redis,
      [],
      [this.#prefix, filter.service ?? '', String(filter.limit ?? 0), ...(filter.statuses ?? [])],
    )) as [string, string][];
    // '' marks a folded rollout: its state is in its summary.
    return await Promise.all(
      reply.map(async ([id, json]) =>
        json === ''
          ? (await this.#summary(id))?.state
          : parseRecord(RolloutState, this.#stateKey(id), json),
      ),
    ).then((states) => states.filter((s): s is RolloutState => s !== undefined));
  }

  async stableVersions(service: string): Promise<Record<string, string>> {
    const key = `${this.#prefix}stable:${service}`;
    const fields = await this.#redis.hgetall(key);
    const versions: Record<string, string> = {};
    for (const [cluster, json] of Object.entries(fields))
      versions[cluster] = parseRecord(StoredStable, `${key}[${cluster}]`, json).version;
    return versions;
  }

  async history(id: string): Promise<HistoryEntry[]> {
    const key = `${this.#prefix}history:${id}`;
    const [entries, summary] = await Promise.all([
      this.#redis.lrange(key, 0, -1),
      this.#redis
        .exists(this.#summaryKey(id))
        .then((n) => (n === 1 ? this.#summary(id) : undefined)),
    ]);
    const appended = entries.map(
      (json) => parseRecord(StoredHistoryEntry, key, json) as HistoryEntry,
    );
    return summary ? [...summary.history, ...appended] : appended;
  }

  async appendHistory(id: string, entry: HistoryEntry): Promise<void> {
    const appended = await APPEND_HISTORY.run(
      this.#redis,
      [this.#stateKey(id), `${this.#prefix}history:${id}`, this.#summaryKey(id)],
      [JSON.stringify(entry)],
    );
    if (appended === 0) throw new RolloutNotFoundError(id);
  }

  async pendingEffects(limit = DEFAULT_EFFECT_LIMIT, after = 0): Promise<PendingEffect[]> {
    if (limit <= 0) return [];
    const reply = (await PENDING_EFFECTS.run(
      this.#redis,
      [...this.#outboxKeys(), `${this.#prefix}outbox:by-seq`],
      [String(limit), String(Math.max(0, Math.floor(after)))],
    )) as string[];
    const effects: PendingEffect[] = [];
    for (let i = 0; i < reply.length; i += 3) {
      // One script reads member and payload together, so a payload is missing ('') only if
      // someone edited the outbox by hand: reported, not skipped.
      const key = `${this.#prefix}outbox:effects[${reply[i]}]`;
      const stored = parseRecord(StoredPendingEffect, key, reply[i + 2]!);
      effects.push({ ...stored, seq: Number(reply[i + 1]) } as PendingEffect);
    }
    return effects;
  }

  async markEffectDone(effectId: string): Promise<void> {
    await MARK_EFFECT_DONE.run(this.#redis, this.#outboxKeys(), [effectId]);
  }

  async compactDue(limit = DEFAULT_COMPACT_LIMIT): Promise<number> {
    if (limit <= 0) return 0;
    const due = (await COMPACT_DUE.run(
      this.#redis,
      [`${this.#prefix}idx:compact`],
      [String(limit)],
    )) as string[];
    let folded = 0;
    for (const id of due) {
      const historyKey = `${this.#prefix}history:${id}`;
      const [[, json], [, lines]] = (await this.#redis
        .multi()
        .get(this.#stateKey(id))
        .lrange(historyKey, 0, -1)
        .exec())! as [[unknown, string | null], [unknown, string[]]];
      if (json === null) {
        // Expired before it was folded: nothing to fold, and not due any more.
        await this.#redis.zrem(`${this.#prefix}idx:compact`, id);
        continue;
      }
      let summary: Buffer;
      try {
        const state = parseRecord(RolloutState, this.#stateKey(id), json);
        const history = lines.map(
          (line) => parseRecord(StoredHistoryEntry, historyKey, line) as HistoryEntry,
        );
        summary = encodeSummary({ state, history });
      } catch (err) {
        if (!(err instanceof CorruptRecordError)) throw err;
        // Left as it is for someone to inspect (it still expires): folding must not stall on it.
        await this.#redis.zrem(`${this.#prefix}idx:compact`, id);
        continue;
      }
      const version = (JSON.parse(json) as { version: number }).version;
      const args = [id, String(version), String(lines.length), summary];
      const outcome = await FOLD.run(this.#redis, this.#foldKeys(id), args);
      if (outcome === 1) folded++;
    }
    return folded;
  }

  #foldKeys(id: string): string[] {
    const p = this.#prefix;
    return [this.#stateKey(id), `${p}history:${id}`, this.#summaryKey(id), `${p}idx:compact`];
  }

  #summaryKey(id: string): string {
    return `${this.#prefix}summary:${id}`;
  }

  /** A folded rollout's summary, or `undefined` when there is none. */
  async #summary(id: string): Promise<FinishedRolloutSummary | undefined> {
    const key = this.#summaryKey(id);
    const bytes = await this.#redis.getBuffer(key);
    return bytes === null ? undefined : decodeSummary(key, bytes);
  }

  async #write(
    mode: 'create' | 'commit',
    { state, effects, history, retainForMs, compactAfterMs }: Commit,
  ): Promise<void> {
    const effectArgs = effects.flatMap(({ id, effect }) => {
      // Its seq is the member's: assigned by the script, not part of the stored payload.
      const pending: Omit<PendingEffect, 'seq'> = {
        id,
        rolloutId: state.id,
        version: state.version,
        effect,
      };
      return [id, JSON.stringify(pending)];
    });
    const [outcome, detail] = (await WRITE.run(
      this.#redis,
      [this.#stateKey(state.id), `${this.#prefix}history:${state.id}`],
      [
        mode,
        String(state.version),
        JSON.stringify(state),
        history ? JSON.stringify(history) : '',
        this.#prefix,
        state.id,
        state.status,
        state.plan.service,
        String(state.createdAt),
        retainForMs === undefined ? '' : String(Math.max(1, Math.ceil(retainForMs))),
        compactAfterMs === undefined ? '' : String(Math.max(0, Math.ceil(compactAfterMs))),
        ...effectArgs,
      ],
    )) as [string, string?];
    switch (outcome) {
      case 'ok':
        return;
      case 'exists':
        throw new RolloutExistsError(state.id);
      case 'missing':
        throw new RolloutNotFoundError(state.id);
      case 'conflict':
        throw new VersionConflictError(state.id, state.version - 1);
      case 'corrupt':
        throw new CorruptRecordError(
          this.#stateKey(state.id),
          `cannot read its version (${detail})`,
        );
      default:
        throw new Error(`RedisRolloutStore: unexpected script reply ${String(outcome)}`);
    }
  }

  #stateKey(id: string): string {
    return `${this.#prefix}state:${id}`;
  }

  #outboxKeys(): string[] {
    const p = this.#prefix;
    return [`${p}outbox`, `${p}outbox:effects`, `${p}outbox:members`];
  }
}

const StoredStable = z.object({ version: z.string(), createdAt: z.number() });

const StoredPendingEffect = z.object({
  id: z.string(),
  rolloutId: z.string(),
  version: z.number().int(),
  effect: z.looseObject({ type: z.string() }),
});

/** Parses a stored JSON record; anything unreadable becomes a `CorruptRecordError` naming `key`. */
function parseRecord<T>(schema: z.ZodType<T>, key: string, json: string): T {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new CorruptRecordError(key, `not JSON (${(err as Error).message})`);
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new CorruptRecordError(key, z.prettifyError(result.error));
  return result.data;
}

/**
 * create / commit. KEYS: state, history. ARGV: mode, version, state JSON, history JSON ('' for
 * none), prefix, id, status, service, createdAt, retention ms ('' for none), compact-after ms
 * ('' for none), then (effect id, pending-effect JSON) pairs.
 *
 * A retention makes state and history expire and queues the rollout on `p idx:expiring` (scored by
 * when it expires) so a later write takes it out of the indexes. A succeeded rollout records its
 * version per cluster in `p stable:<service>` (no expiry: one small hash per service).
 * Replies {'ok'} | {'exists'} | {'missing'} | {'conflict', stored version} | {'corrupt', why}.
 */
const WRITE = new RedisScript(`
local stateKey, historyKey = KEYS[1], KEYS[2]
local mode, version, prefix, id = ARGV[1], tonumber(ARGV[2]), ARGV[5], ARGV[6]
local status, service, createdAt = ARGV[7], ARGV[8], ARGV[9]
local current = redis.call('GET', stateKey)
if mode == 'create' then
  if current or redis.call('EXISTS', prefix .. 'summary:' .. id) == 1 then return {'exists'} end
else
  if not current then return {'missing'} end
  local ok, stored = pcall(cjson.decode, current)
  if not ok then return {'corrupt', 'not JSON'} end
  if type(stored) ~= 'table' or type(stored.version) ~= 'number' then
    return {'corrupt', 'no numeric version'}
  end
  if stored.version ~= version - 1 then return {'conflict', tostring(stored.version)} end
  if type(stored.status) == 'string' and stored.status ~= status then
    redis.call('ZREM', prefix .. 'idx:status:' .. stored.status, id)
  end
  if type(stored.plan) == 'table' and type(stored.plan.service) == 'string'
    and stored.plan.service ~= service then
    redis.call('ZREM', prefix .. 'idx:service:' .. stored.plan.service, id)
  end
end
redis.call('SET', stateKey, ARGV[3])
if ARGV[4] ~= '' then redis.call('RPUSH', historyKey, ARGV[4]) end
redis.call('ZADD', prefix .. 'idx:all', createdAt, id)
redis.call('ZADD', prefix .. 'idx:service:' .. service, createdAt, id)
redis.call('ZADD', prefix .. 'idx:status:' .. status, createdAt, id)
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local retain = tonumber(ARGV[10])
if retain then
  redis.call('PEXPIRE', stateKey, retain)
  redis.call('PEXPIRE', historyKey, retain)
  redis.call('ZADD', prefix .. 'idx:expiring', nowMs + retain, cjson.encode({id, service, status}))
  local compactAfter = tonumber(ARGV[11])
  if compactAfter and compactAfter < retain then
    redis.call('ZADD', prefix .. 'idx:compact', nowMs + compactAfter, id)
  end
else
  redis.call('PERSIST', historyKey)
end
if status == 'succeeded' then
  local ok, st = pcall(cjson.decode, ARGV[3])
  if ok and type(st) == 'table' and type(st.plan) == 'table' and type(st.plan.clusters) == 'table' then
    local stableKey = prefix .. 'stable:' .. service
    local created = tonumber(createdAt)
    for _, cluster in ipairs(st.plan.clusters) do
      local newer = true
      local current = redis.call('HGET', stableKey, cluster)
      if current then
        local okc, c = pcall(cjson.decode, current)
        if okc and type(c) == 'table' and tonumber(c.createdAt) and tonumber(c.createdAt) > created then
          newer = false
        end
      end
      if newer then
        redis.call('HSET', stableKey, cluster,
          '{"version":' .. cjson.encode(st.plan.version) .. ',"createdAt":' .. createdAt .. '}')
      end
    end
  end
end
-- Rollouts whose retention passed leave the indexes, a few per write (their keys expired already).
local due = redis.call('ZRANGEBYSCORE', prefix .. 'idx:expiring', '-inf', nowMs, 'LIMIT', 0, 20)
for _, member in ipairs(due) do
  local okm, e = pcall(cjson.decode, member)
  if okm and type(e) == 'table' and redis.call('EXISTS', prefix .. 'state:' .. tostring(e[1])) == 0
    and redis.call('EXISTS', prefix .. 'summary:' .. tostring(e[1])) == 0 then
    redis.call('ZREM', prefix .. 'idx:all', e[1])
    redis.call('ZREM', prefix .. 'idx:service:' .. tostring(e[2]), e[1])
    redis.call('ZREM', prefix .. 'idx:status:' .. tostring(e[3]), e[1])
  end
  redis.call('ZREM', prefix .. 'idx:expiring', member)
end
for i = 12, #ARGV, 2 do
  local seq = redis.call('INCR', prefix .. 'outbox:seq')
  local member = string.format('%016d', seq) .. ':' .. ARGV[i]
  redis.call('ZADD', prefix .. 'outbox', seq, member)
  redis.call('HSET', prefix .. 'outbox:effects', ARGV[i], ARGV[i + 1])
  redis.call('HSET', prefix .. 'outbox:members', ARGV[i], member)
end
return {'ok'}
`);

/**
 * ARGV: prefix, service ('' for any), limit (0 for all), statuses... Replies {{id, state JSON}...}
 * ('' for the state of a folded rollout: it is in its summary) newest first: ZREVRANGE order, so equal createdAt ties go to the greater id.
 */
const LIST = new RedisScript(`
local prefix, service, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local statuses = {}
for i = 4, #ARGV do statuses[#statuses + 1] = ARGV[i] end
local ids = {}
local function full() return limit > 0 and #ids >= limit end
if service ~= '' then
  local key, start, page = prefix .. 'idx:service:' .. service, 0, 200
  while not full() do
    local batch = redis.call('ZREVRANGE', key, start, start + page - 1)
    if #batch == 0 then break end
    for _, id in ipairs(batch) do
      local keep = #statuses == 0
      for _, s in ipairs(statuses) do
        if redis.call('ZSCORE', prefix .. 'idx:status:' .. s, id) then keep = true break end
      end
      if keep then ids[#ids + 1] = id end
      if full() then break end
    end
    start = start + page
  end
elseif #statuses > 0 then
  local merged = {}
  for _, s in ipairs(statuses) do
    local batch = redis.call('ZREVRANGE', prefix .. 'idx:status:' .. s, 0, limit - 1, 'WITHSCORES')
    for i = 1, #batch, 2 do merged[#merged + 1] = {batch[i], tonumber(batch[i + 1])} end
  end
  table.sort(merged, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[1] > b[1]
  end)
  for _, entry in ipairs(merged) do
    if full() then break end
    ids[#ids + 1] = entry[1]
  end
else
  ids = redis.call('ZREVRANGE', prefix .. 'idx:all', 0, limit - 1)
end
local out = {}
for _, id in ipairs(ids) do
  -- A finished rollout whose retention passed is still indexed until a write prunes it: skipped.
  local json = redis.call('GET', prefix .. 'state:' .. id)
  if json then out[#out + 1] = {id, json}
  elseif redis.call('EXISTS', prefix .. 'summary:' .. id) == 1 then out[#out + 1] = {id, ''} end
end
return out
`);

/**
 * KEYS: state, history, summary. ARGV: entry JSON. Replies 1, or 0 when the rollout does not exist.
 * A folded rollout's lines appended later go to its history list, which expires with its summary.
 */
const APPEND_HISTORY = new RedisScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
local ttl = redis.call('PTTL', KEYS[3])
if ttl == -2 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`);

/** KEYS: idx:compact. ARGV: limit. The ids due to be folded (by Redis's clock, as WRITE's). */
const COMPACT_DUE = new RedisScript(`
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', nowMs, 'LIMIT', 0, tonumber(ARGV[1]))
`);

/**
 * KEYS: state, history, summary, idx:compact. ARGV: id, version, history length, summary bytes.
 * Folds the rollout if it is still as read (same version, same number of history lines): the
 * summary takes the state's expiry, state and history go. Replies 1 when folded, 0 when there was
 * nothing to fold (gone, or not finished), -1 when it changed since it was read (left for later).
 */
const FOLD = new RedisScript(`
local current = redis.call('GET', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if not current or ttl < 0 then
  redis.call('ZREM', KEYS[4], ARGV[1])
  return 0
end
local ok, stored = pcall(cjson.decode, current)
if not ok or type(stored) ~= 'table' or stored.version ~= tonumber(ARGV[2])
  or redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[3]) then
  return -1
end
redis.call('SET', KEYS[3], ARGV[4], 'PX', ttl)
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
`);

/**
 * KEYS: outbox, effects, members, rescored flag. ARGV: limit, after (seq). Replies
 * {effect id, seq, payload JSON, ...} in seq order. Rescores an outbox written with version scores
 * first (once): the member's leading 16 digits are its insertion seq.
 */
const PENDING_EFFECTS = new RedisScript(`
if redis.call('EXISTS', KEYS[4]) == 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    redis.call('ZADD', KEYS[1], tonumber(string.sub(member, 1, 16)), member)
  end
  redis.call('SET', KEYS[4], '1')
end
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, member in ipairs(members) do
  local id = string.sub(member, 18)
  out[#out + 1] = id
  out[#out + 1] = string.sub(member, 1, 16)
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return out
`);

/** KEYS: outbox, effects, members. ARGV: effect id. Idempotent. */
const MARK_EFFECT_DONE = new RedisScript(`
local member = redis.call('HGET', KEYS[3], ARGV[1])
if member then
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
end
return 0
`);
