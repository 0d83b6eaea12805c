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
  for (const m of text.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) counts[m[1]!] = Number(m[2]);
  return counts;
}

describe('RedisScript', () => {
  it('sends the text once per connection, then runs it by its hash', async () => {
    const client = redis.client();
    const key = `${redis.prefix()}k`;
    await client.config('RESETSTAT');
    for (let i = 0; i < 5; i++) await APPEND.run(client, [key], ['x']);
    expect(await client.get(key)).toBe('xxxxx');
    const counted = await calls(client);
    expect(counted.eval ?? 0).toBe(1);
    expect(counted.evalsha).toBe(4);
  });

  it('still runs after Redis forgot its scripts (a restart, SCRIPT FLUSH), alone and in a pipeline', async () => {
    const client = redis.client();
    const key = `${redis.prefix()}k`;
    expect(await APPEND.run(client, [key], ['a'])).toBe(1);
    await client.script('FLUSH');
    expect(await APPEND.run(client, [key], ['b'])).toBe(2);
    await client.script('FLUSH');
    APPEND.define(client);
    const pipeline = client.pipeline();
    APPEND.queue(pipeline, [key], ['c']);
    APPEND.queue(pipeline, [key], [4]);
    expect(await pipeline.exec()).toEqual([
      [null, 3],
      [null, 4],
    ]);
    expect(await client.get(key)).toBe('abc4');
  });

  it('refuses a pipeline made before the script was defined on its client, saying what to do', () => {
    const client = redis.client();
    const pipeline = client.pipeline();
    const fresh = new RedisScript(`return 1`);
    expect(() => fresh.queue(pipeline, [], [])).toThrow(/define it before making the pipeline/);
    // Nothing was queued: the pipeline is still empty.
    expect(pipeline.length).toBe(0);
  });

  it('passes a script error through with Redis’s message', async () => {
    const client = redis.client();
    const broken = new RedisScript(`return redis.call('NOSUCHCOMMAND')`);
    await expect(broken.run(client, [], [])).rejects.toThrow(
      /Unknown Redis command|unknown command/i,
    );
  });
});
