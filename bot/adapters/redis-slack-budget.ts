import type { Redis } from 'ioredis';
import {
  bucketsOf,
  DEFAULT_SLACK_LIMITS,
  PENDING_OWNER_TTL_MS,
  SLACK_PRIORITIES,
  TICKET_TTL_MS,
  type SlackBudget,
  type SlackCallRequest,
  type SlackLimits,
  type SlackPriority,
} from '../../shared/ports/slack-budget.js';
import { RedisScript } from './redis-script.js';

/** How far down the line one `take` looks; a ticket further back is told to wait and ask again. */
const MAX_SCAN = 1_000;

/**
 * One script per `take`, so every replica sees the line and the buckets as one: the time is
 * Redis's (replicas' clocks may differ), the line a sorted set (score: priority, then first ask),
 * each ticket's buckets a hash field (`method\nkey,perMs,burst\n…`), each bucket a hash
 * (tokens, at) that expires once it would be full again, each 429 pause a key with a TTL.
 */
const TAKE = new RedisScript(`
local line, seen, specs = KEYS[1], KEYS[2], KEYS[3]
local prefix, ticket, rank, spec = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local ttl, maxScan = tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', now - ttl, 'LIMIT', 0, 100)
for _, s in ipairs(stale) do
  redis.call('ZREM', line, s)
  redis.call('ZREM', seen, s)
  redis.call('HDEL', specs, s)
end

local score = rank * 1e13 + now
local current = redis.call('ZSCORE', line, ticket)
if (not current) or tonumber(current) > score then redis.call('ZADD', line, score, ticket) end
redis.call('ZADD', seen, now, ticket)
redis.call('HSET', specs, ticket, spec)

local function parse(s)
  local method, buckets, first = nil, {}, true
  for part in string.gmatch(s, '[^\\n]+') do
    if first then
      method, first = part, false
    else
      local key, perMs, burst = string.match(part, '^(.*),([^,]+),([^,]+)$')
      table.insert(buckets, { key = prefix .. 'slack:bucket:' .. key, perMs = tonumber(perMs), burst = tonumber(burst) })
    end
  end
  return method, buckets
end

local raw, avail, blocked, paused = {}, {}, {}, {}
local function level(b)
  if raw[b.key] == nil then
    local h = redis.call('HMGET', b.key, 'tokens', 'at')
    if h[1] then
      raw[b.key] = math.min(b.burst, tonumber(h[1]) + (now - tonumber(h[2])) * b.perMs)
    else
      raw[b.key] = b.burst
    end
    avail[b.key] = raw[b.key]
  end
  return avail[b.key]
end
local function pausedFor(method)
  if paused[method] == nil then
    local p = redis.call('PTTL', prefix .. 'slack:pause:' .. method)
    if p > 0 then paused[method] = p else paused[method] = 0 end
  end
  return paused[method]
end

local ahead = redis.call('ZRANGE', line, 0, maxScan - 1)
local found = false
for _, other in ipairs(ahead) do
  if other == ticket then
    found = true
    break
  end
  local os = redis.call('HGET', specs, other)
  if os then
    local m, bs = parse(os)
    if pausedFor(m) == 0 then
      local ok = true
      for _, b in ipairs(bs) do if level(b) < 1 then ok = false end end
      for _, b in ipairs(bs) do
        if ok then avail[b.key] = avail[b.key] - 1 else blocked[b.key] = (blocked[b.key] or 0) + 1 end
      end
    end
  end
end

local method, buckets = parse(spec)
local p = pausedFor(method)
if p > 0 then return p end
if not found then return 1000 end
local wait = 0
for _, b in ipairs(buckets) do
  local v = level(b)
  if v < 1 then wait = math.max(wait, math.ceil(((blocked[b.key] or 0) + 1 - v) / b.perMs)) end
end
if wait > 0 then return wait end
for _, b in ipairs(buckets) do
  redis.call('HSET', b.key, 'tokens', tostring(raw[b.key] - 1), 'at', now)
  redis.call('PEXPIRE', b.key, math.ceil(b.burst / b.perMs) + 1000)
end
redis.call('ZREM', line, ticket)
redis.call('ZREM', seen, ticket)
redis.call('HDEL', specs, ticket)
return 0
`);

/** Sets the pause unless a longer one is already set. */
const PAUSE = new RedisScript(`
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
`);

/** A pending card update nobody sends (its owner and every replica gone) is forgotten after this. */
const PENDING_KEEP_MS = 3_600_000;

/**
 * A change to a card: counts it, and says whether the caller owns sending it (the card's owner
 * field: set if free or its owner's alive key has expired).
 */
const MARK = new RedisScript(`
local pending, alive = KEYS[1], KEYS[2]
local me, alivePrefix, ttl, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local rank = tonumber(ARGV[5])
redis.call('SET', alive, '1', 'PX', ttl)
local owner = redis.call('HGET', pending, 'owner')
local held = redis.call('HGET', pending, 'rank')
local urgent = held and rank < tonumber(held)
if (not held) or urgent then redis.call('HSET', pending, 'rank', rank) end
redis.call('HINCRBY', pending, 'gen', 1)
redis.call('PEXPIRE', pending, keep)
if owner == me then return 1 end
if (not owner) or urgent or redis.call('EXISTS', alivePrefix .. owner) == 0 then
  redis.call('HSET', pending, 'owner', me)
  return 1
end
return 0
`);

/** Changes so far, or -1 when another replica owns the update. */
const GENERATION = new RedisScript(`
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return -1 end
return tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
`);

/** The owner sent the card as of `gen` changes: done unless it changed since. */
const SENT = new RedisScript(`
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner ~= ARGV[1] then return 1 end
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * The Slack budget shared by every bot replica on one Redis. Keys: `<prefix>slack:line`,
 * `slack:seen`, `slack:specs` (the waiting tickets), `slack:bucket:<method|channel>`,
 * `slack:pause:<method>`, `slack:pending:<card>` (owner, changes), `slack:alive:<replica>`; all
 * bounded (tickets expire with `TICKET_TTL_MS`, buckets once full, pauses with their time, a
 * pending update when sent or after an hour, a replica's sign of life after `PENDING_OWNER_TTL_MS`).
 */
export class RedisSlackBudget implements SlackBudget {
  constructor(
    private readonly redis: Redis,
    private readonly limits: SlackLimits = DEFAULT_SLACK_LIMITS,
    private readonly prefix = 'rollout:',
  ) {}

  async take(request: SlackCallRequest): Promise<number> {
    const spec = [
      request.method,
      ...bucketsOf(this.limits, request.method, request.channel).map(
        (b) => `${b.key},${b.perMs},${b.burst}`,
      ),
    ].join('\n');
    const wait = await TAKE.run(
      this.redis,
      [`${this.prefix}slack:line`, `${this.prefix}slack:seen`, `${this.prefix}slack:specs`],
      [
        this.prefix,
        request.ticket,
        SLACK_PRIORITIES.indexOf(request.priority),
        spec,
        TICKET_TTL_MS,
        MAX_SCAN,
      ],
    );
    return Number(wait);
  }

  async pause(method: string, ms: number): Promise<void> {
    await PAUSE.run(
      this.redis,
      [`${this.prefix}slack:pause:${method}`],
      [Math.max(1, Math.ceil(ms))],
    );
  }

  async waiting(): Promise<number> {
    return this.redis.zcard(`${this.prefix}slack:line`);
  }

  async markPending(card: string, replica: string, priority: SlackPriority): Promise<boolean> {
    const owned = await MARK.run(
      this.redis,
      [`${this.prefix}slack:pending:${card}`, `${this.prefix}slack:alive:${replica}`],
      [
        replica,
        `${this.prefix}slack:alive:`,
        PENDING_OWNER_TTL_MS,
        PENDING_KEEP_MS,
        SLACK_PRIORITIES.indexOf(priority),
      ],
    );
    return Number(owned) === 1;
  }

  async pendingGeneration(card: string, replica: string): Promise<number | undefined> {
    const generation = Number(
      await GENERATION.run(this.redis, [`${this.prefix}slack:pending:${card}`], [replica]),
    );
    return generation < 0 ? undefined : generation;
  }

  async sent(card: string, replica: string, generation: number): Promise<boolean> {
    const done = await SENT.run(
      this.redis,
      [`${this.prefix}slack:pending:${card}`],
      [replica, String(generation)],
    );
    return Number(done) === 1;
  }

  async alive(replica: string): Promise<void> {
    await this.redis.set(`${this.prefix}slack:alive:${replica}`, '1', 'PX', PENDING_OWNER_TTL_MS);
  }
}
