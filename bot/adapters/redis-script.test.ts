import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateRedis } from '../../test/support/redis-adapters.js';
import { RedisScript } from './redis-script.js';

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

/** Appends ARGV[1] to KEYS[1] and returns the new length. */
const APPEND = new RedisScript(`return redis.call('APPEND', KEYS[1], ARGV[1])`);

/** Redis's own count of calls of each command, to see EVAL against EVALSHA. */
async function calls(client: ReturnType<typeof redis.client>): Promise<Record<string, number>> {
  const text = await client.info('commandstats');
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) counts[m[1]!] = Number(m[2]);
  return counts;
}

describe('RedisScript', () => {
  it('sends the text only when Redis does not have it, then runs it by its hash', async () => {
    const client = redis.client();
    const key = `${redis.prefix()}k`;
    await client.script('FLUSH');
    await client.config('RESETSTAT');
    for (let i = 0; i < 5; i++) await APPEND.run(client, [key], ['x']);
    expect(await client.get(key)).toBe('xxxxx');
    const counted = await calls(client);
    // The first EVALSHA was refused (NOSCRIPT) and the text loaded once; every call by hash.
    expect(counted['script|load']).toBe(1);
    expect(counted.eval ?? 0).toBe(0);
    expect(counted.evalsha).toBe(6);
  });

  it('still runs after Redis forgot its scripts (a restart, SCRIPT FLUSH)', async () => {
    const client = redis.client();
    const key = `${redis.prefix()}k`;
    expect(await APPEND.run(client, [key], ['a'])).toBe(1);
    await client.script('FLUSH');
    expect(await APPEND.run(client, [key], [2])).toBe(2);
    expect(await client.get(key)).toBe('a2');
  });

  it('loads the text once when many callers find Redis without it at the same moment', async () => {
    const client = redis.client();
    const key = `${redis.prefix()}k`;
    await client.script('FLUSH');
    await client.config('RESETSTAT');
    const replies = await Promise.all(
      Array.from({ length: 50 }, () => APPEND.run(client, [key], ['x'])),
    );
    expect((replies as number[]).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    const counted = await calls(client);
    expect(counted['script|load']).toBe(1);
    expect(counted.eval ?? 0).toBe(0);
  });

  it('runs in a client’s automatic pipeline, beside other commands, on its first use', async () => {
    const client = redis.client({ enableAutoPipelining: true });
    const key = `${redis.prefix()}k`;
    const fresh = new RedisScript(`return redis.call('INCRBY', KEYS[1], ARGV[1])`);
    // Issued in one turn: one pipeline; both EVALSHAs are refused (NOSCRIPT) and sent again.
    const [set, ...increments] = await Promise.all([
      client.set(key, '10'),
      fresh.run(client, [key], [1]),
      fresh.run(client, [key], [2]),
    ]);
    expect(set).toBe('OK');
    expect((increments as number[]).sort((a, b) => a - b)).toEqual([11, 13]);
    expect(await client.get(key)).toBe('13');
  });

  it('passes a script error through with Redis’s message', async () => {
    const client = redis.client();
    const broken = new RedisScript(`return redis.call('NOSUCHCOMMAND')`);
    await expect(broken.run(client, [], [])).rejects.toThrow(
      /Unknown Redis command|unknown command/i,
    );
  });
});
