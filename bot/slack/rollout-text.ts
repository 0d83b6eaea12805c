import { abortOutcomePrefix } from '../../shared/rollout/user-actions.js';
import type { RolloutState } from '../../shared/rollout/state.js';
import { literal, slackify, slackifyQuoting } from './slack-text.js';

/**
 * What people typed into a rollout, for renderers that show the bot's text about it: the start
 * reason and, once it was aborted, the abort reason. Everything else a rollout holds was written
 * by the bot, the policy or an agent.
 */
export function typedTexts(state: RolloutState): string[] {
  const typed: string[] = [];
  if (state.plan.reason) typed.push(state.plan.reason);
  const abort = abortParts(state);
  if (abort) typed.push(abort.reason);
  return typed;
}

/** Bot text about a rollout (an alert, a refusal) with what people typed into it shown literally. */
export function rolloutText(state: RolloutState, text: string): string {
  return slackifyQuoting(text, typedTexts(state));
}

/** Why the rollout ended or is ending: who aborted it as a mention, their words literally. */
export function outcomeText(state: RolloutState): string {
  if (!state.outcome) return '';
  const abort = abortParts(state);
  if (abort) return `${slackify(abort.prefix)}${literal(abort.reason)}`;
  return rolloutText(state, state.outcome);
}

function abortParts(state: RolloutState): { prefix: string; reason: string } | undefined {
  const actor = state.rollback?.cause === 'aborted' ? state.rollback.actor : undefined;
  if (actor === undefined || !state.outcome) return undefined;
  const prefix = abortOutcomePrefix(actor);
  if (!state.outcome.startsWith(prefix)) return undefined;
  return { prefix, reason: state.outcome.slice(prefix.length) };
}
