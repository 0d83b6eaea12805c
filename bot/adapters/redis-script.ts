import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

type ScriptArg = string | number | Buffer;

/**
 * A Lua script run by its SHA (`EVALSHA`), with its text sent (`EVAL`) only when Redis does not
 * have it (first use, a restart, `SCRIPT FLUSH`). `EVAL` with the whole text on every call made the
 * bot write, and Redis hash, kilobytes per call (the Slack budget's take alone is 3 KB).
 *
 * Not ioredis's `defineCommand`: a command defined after the client's automatic pipeline was made
 * is missing from it (`pipeline[functionName] is not a function`, then an uncaught TypeError that
 * ends the process), and adapters define theirs on first use. `EVALSHA` is a plain command, so it
 * goes into automatic pipelines like any other.
 */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Runs it; `keys` are its KEYS, `args` its ARGV. */
  async run(
    redis: Redis,
    keys: readonly string[],
    args: readonly ScriptArg[] = [],
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
