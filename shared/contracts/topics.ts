import { ClusterName } from '../rollout/plan.js';

export const EVENTS_TOPIC = 'rollout.events';
export const DLQ_TOPIC = 'rollout.dlq';
const COMMANDS_PREFIX = 'rollout.commands.';

/** One command topic per cluster, so a cluster's agent can be granted its own topic alone. */
export function commandTopic(cluster: string): string {
  return COMMANDS_PREFIX + ClusterName.parse(cluster);
}

export function agentGroup(cluster: string): string {
  return `rollout-agent.${cluster}`;
}

export const BOT_EVENTS_GROUP = 'rollout-bot';
