/** The last heartbeat seen from each cluster's agent, for the silent-agent sweep. */
export interface AgentRegistry {
  beat(cluster: string, agentId: string, at: number): Promise<void>;
  /** Every cluster that has ever sent a heartbeat, with the time of its last one. */
  lastSeen(): Promise<{ cluster: string; agentId: string; at: number }[]>;
}
