import { Redis, type RedisOptions } from 'ioredis';
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
      const client = new Redis(server.url, { maxRetriesPerRequest: 3, ...options });
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
