import { abortOutcomePrefix } from '../../shared/rollout/user-actions.js';
import type { RolloutState } from '../../shared/rollout/state.js';
import { literal, slackify, slackifyQuoting, typedQuote, type Quote } from './slack-text.js';

/**
 * What people typed into a rollout, as bot text about it may quote it: the start reason, the
 * outcome of an abort (which ends with the person's words) and a force-finish reason. Everything else a rollout holds was
 * written by the bot, the policy or an agent.
 */
export function quotesOf(state: RolloutState): Quote[] {
  const quotes: Quote[] = [];
  if (state.plan.reason) quotes.push(typedQuote(state.plan.reason));
  if (state.forceFinished) quotes.push(typedQuote(state.forceFinished.reason));
  const abort = abortParts(state);
  if (abort && state.outcome) quotes.push({ text: state.outcome, shown: outcomeText(state) });
  return quotes;
}

/** Bot text about a rollout (an alert, a refusal) with what people typed into it shown literally. */
export function rolloutText(state: RolloutState, text: string): string {
  return slackifyQuoting(text, quotesOf(state));
}

/** Why the rollout ended or is ending: who aborted it as a mention, their words literally. */
export function outcomeText(state: RolloutState): string {
  if (!state.outcome) return '';
  const abort = abortParts(state);
  if (abort) return `${slackify(abort.prefix)}${literal(abort.reason)}`;
  const typed = [state.plan.reason, state.forceFinished?.reason].filter(
    (t): t is string => t !== undefined && t !== '',
  );
  return typed.length > 0
    ? slackifyQuoting(state.outcome, typed.map(typedQuote))
    : slackify(state.outcome);
}

function abortParts(state: RolloutState): { prefix: string; reason: string } | undefined {
  const actor = state.rollback?.cause === 'aborted' ? state.rollback.actor : undefined;
  if (actor === undefined || !state.outcome) return undefined;
  const prefix = abortOutcomePrefix(actor);
  if (!state.outcome.startsWith(prefix)) return undefined;
  return { prefix, reason: state.outcome.slice(prefix.length) };
}
