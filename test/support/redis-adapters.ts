import { Redis, type RedisOptions } from 'ioredis';
import { BOT_REDIS_OPTIONS } from '../../bot/distributed-mode.js';
import { startRedis, type RedisServer } from './redis-server.js';

/**
 * One private Redis for a contract suite, with a fresh key prefix per test so adapters built in
 * different tests never see each other's keys.
 */
export function privateRedis() {
  let server: RedisServer | undefined;
  const clients: Redis[] = [];
  let n = 0;
  return {
    async start() {
      server = await startRedis();
    },
    client(options: RedisOptions = {}): Redis {
      if (!server) throw new Error('privateRedis: start() first');
      // As the bot's own client is (automatic pipelining), so the suites test what runs.
      const client = new Redis(server.url, {
        ...BOT_REDIS_OPTIONS,
        maxRetriesPerRequest: 3,
        ...options,
      });
      clients.push(client);
      return client;
    },
    prefix(): string {
      return `t${++n}:`;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
      await server?.stop();
    },
  };
}
