import type { Logger } from '../../shared/log.js';
import type { Notifier, TransitionCause } from '../../shared/ports/notifier.js';
import type { AlertKind, RolloutState } from '../../shared/rollout/state.js';

/** Writes what Slack would show to the log: for running without a Slack workspace. */
export class LogNotifier implements Notifier {
  constructor(private readonly logger: Logger) {}

  async rolloutChanged(state: RolloutState, cause: TransitionCause): Promise<void> {
    const weights = Object.entries(state.clusters)
      .map(([c, s]) => `${c}=${s.weight}%`)
      .join(' ');
    this.logger.info(
      {
        rolloutId: state.id,
        status: state.status,
        stage: state.stageIndex + 1,
        by: cause.actor,
        input: cause.input,
      },
      `${state.plan.service} ${state.plan.version}: ${state.status} (${weights})${cause.detail ? ` — ${cause.detail}` : ''}`,
    );
  }

  async alert(state: RolloutState, kind: AlertKind, message: string): Promise<void> {
    this.logger.warn({ rolloutId: state.id, kind }, `ALERT ${state.plan.service}: ${message}`);
  }

  async clusterAlert(cluster: string, message: string): Promise<void> {
    this.logger.warn({ cluster }, `ALERT ${cluster}: ${message}`);
  }
}
