import type { Redis } from 'ioredis';
import type { AgentRegistry } from '../../shared/ports/agent-registry.js';
import { RedisScript } from './redis-script.js';

// Only move forward in time: a heartbeat redelivered late must not hide a silent agent.
const BEAT = new RedisScript(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local at = tonumber(string.match(current, '^(%d+)'))
  if at and at > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return 1`);

/** One hash: field = cluster, value = `<ms> <agentId>`. */
export class RedisAgentRegistry implements AgentRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'rollout:',
  ) {}

  async beat(cluster: string, agentId: string, at: number): Promise<void> {
    await BEAT.run(this.redis, [`${this.prefix}agents`], [cluster, Math.floor(at), agentId]);
  }

  async lastSeen(): Promise<{ cluster: string; agentId: string; at: number }[]> {
    const fields = await this.redis.hgetall(`${this.prefix}agents`);
    return Object.entries(fields).map(([cluster, value]) => {
      const space = value.indexOf(' ');
      return { cluster, at: Number(value.slice(0, space)), agentId: value.slice(space + 1) };
    });
  }
}
