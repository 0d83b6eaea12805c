import type { AlertKind, RolloutInput, RolloutState, RolloutStatus } from '../rollout/state.js';

/** What caused a transition: shown in the card's thread as the audit trail people read. */
export interface TransitionCause {
  actor: string;
  /**
   * What caused it; `unrecorded` for a transition the history has no line for (a routine gate
   * tick or health counts that decided nothing: `keepsHistoryLine`), which gets no thread line.
   */
  input: RolloutInput['type'] | 'create' | 'unrecorded';
  detail?: string;
  /**
   * The rollout version this transition produced and the status it left. The state handed to
   * `rolloutChanged` is the latest one, which may be newer when effects are replayed; these say
   * which transition this call is about (absent when the history has no entry for it).
   */
  version?: number;
  status?: RolloutStatus;
}

/**
 * Tells people. Implementations: Slack (the card, its thread, channel alerts), a recording one for
 * tests and a log one. Calls may be repeated after a crash (effects replay): showing the latest
 * state again must be harmless.
 */
export interface Notifier {
  /** The rollout changed: update its card in place and add a line to its thread. */
  rolloutChanged(state: RolloutState, cause: TransitionCause): Promise<void>;
  /**
   * Something a person must see now: mentions the service's on-call group. Resolves once it is
   * delivered (or was already, by another replica or an earlier call); a rejection means "not
   * delivered: try again later". May take a while (Slack retries): callers that must not wait
   * should not await it.
   */
  alert(state: RolloutState, kind: AlertKind, message: string): Promise<void>;
  /** An alert not tied to one rollout (an agent that went silent). Settles as `alert` does. */
  clusterAlert(cluster: string, message: string): Promise<void>;
  /**
   * The cluster's agent is sending heartbeats (called on every sweep for each live agent, so it
   * must be cheap and idempotent): ends what `clusterAlert` opened where that can be ended (a
   * page). Optional: notifiers with nothing to end leave it out.
   */
  clusterRecovered?(cluster: string): Promise<void>;
}
