import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

type ScriptArg = string | number | Buffer;

/**
 * A Lua script run by its SHA (`EVALSHA`), with its text sent (`SCRIPT LOAD`) only when Redis does
 * not have it (first use, a restart, `SCRIPT FLUSH`). `EVAL` with the whole text on every call made the
 * bot write, and Redis hash, kilobytes per call (the Slack budget's take alone is 3 KB).
 *
 * Not ioredis's `defineCommand`: a command defined after the client's automatic pipeline was made
 * is missing from it (`pipeline[functionName] is not a function`, then an uncaught TypeError that
 * ends the process), and adapters define theirs on first use. `EVALSHA` is a plain command, so it
 * goes into automatic pipelines like any other.
 */
export class RedisScript {
  private readonly sha: string;
  /** One `SCRIPT LOAD` per client at a time: after a restart, every caller waits for the same one. */
  private readonly loading = new WeakMap<Redis, Promise<unknown>>();

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /**
   * Runs it; `keys` are its KEYS, `args` its ARGV. Concurrent calls have no order between them (a
   * call that had to wait for the script's loading runs after calls issued later).
   */
  async run(
    redis: Redis,
    keys: readonly string[],
    args: readonly ScriptArg[] = [],
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
    }
    // Redis forgot it (a restart, SCRIPT FLUSH): load it once, not once per waiting caller.
    let loading = this.loading.get(redis);
    if (!loading) {
      loading = redis.script('LOAD', this.lua).finally(() => this.loading.delete(redis));
      this.loading.set(redis, loading);
    }
    await loading;
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // Forgotten again in between: send the text this once.
      if (!isNoScript(err)) throw err;
      return await redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
