import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAgentRegistry } from '../../bot/adapters/memory-agent-registry.js';
import { RedisAgentRegistry } from '../../bot/adapters/redis-agent-registry.js';
import type { AgentRegistry } from '../../shared/ports/agent-registry.js';
import { privateRedis } from '../support/redis-adapters.js';

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

describe.each([
  ['memory', (): AgentRegistry => new MemoryAgentRegistry()],
  ['redis', (): AgentRegistry => new RedisAgentRegistry(redis.client(), redis.prefix())],
])('AgentRegistry contract: %s', (_name, create) => {
  it('remembers the last heartbeat per cluster', async () => {
    const registry = create();
    await registry.beat('eu-west', 'agent-a', 1000);
    await registry.beat('eu-west', 'agent b', 2000);
    await registry.beat('us-east', 'agent-c', 1500);
    const seen = (await registry.lastSeen()).sort((a, b) => a.cluster.localeCompare(b.cluster));
    expect(seen).toEqual([
      { cluster: 'eu-west', agentId: 'agent b', at: 2000 },
      { cluster: 'us-east', agentId: 'agent-c', at: 1500 },
    ]);
  });

  it('ignores a heartbeat older than the one it has', async () => {
    const registry = create();
    await registry.beat('eu-west', 'agent-a', 2000);
    await registry.beat('eu-west', 'agent-a', 1000);
    expect(await registry.lastSeen()).toEqual([
      { cluster: 'eu-west', agentId: 'agent-a', at: 2000 },
    ]);
  });
});
