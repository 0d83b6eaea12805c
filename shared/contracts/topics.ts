import { ClusterName } from '../rollout/plan.js';

export const EVENTS_TOPIC = 'rollout.events';
/**
 * Health sample batches (`health_samples`), keyed by cluster: apart from `rollout.events` so a
 * backlog of samples never delays a `stage_applied`, a `command_failed` or a heartbeat.
 */
export const HEALTH_TOPIC = 'rollout.health';
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
/**
 * The group that reads `rollout.health` for an events group: its own consumers, so samples and
 * events never queue together (`rollout-bot` → `rollout-bot.health`).
 */
export function healthGroup(eventsGroup: string): string {
  return `${eventsGroup}.health`;
}
export const BOT_HEALTH_GROUP = healthGroup(BOT_EVENTS_GROUP);
