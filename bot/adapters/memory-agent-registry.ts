import type { AgentRegistry } from '../../shared/ports/agent-registry.js';

export class MemoryAgentRegistry implements AgentRegistry {
  private readonly seen = new Map<string, { agentId: string; at: number }>();

  async beat(cluster: string, agentId: string, at: number): Promise<void> {
    const current = this.seen.get(cluster);
    if (!current || current.at <= at) this.seen.set(cluster, { agentId, at });
  }

  async lastSeen(): Promise<{ cluster: string; agentId: string; at: number }[]> {
    return [...this.seen].map(([cluster, { agentId, at }]) => ({ cluster, agentId, at }));
  }
}
