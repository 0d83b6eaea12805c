import type { Notifier, TransitionCause } from '../../shared/ports/notifier.js';
import type { AlertKind, RolloutState } from '../../shared/rollout/state.js';

export type Notice =
  | {
      type: 'changed';
      rolloutId: string;
      status: RolloutState['status'];
      version: number;
      cause: TransitionCause;
    }
  | { type: 'alert'; rolloutId: string; kind: AlertKind; message: string }
  | { type: 'cluster_alert'; cluster: string; message: string };

/** Keeps every notice in order: what tests assert on, and what the local log notifier prints. */
export class RecordingNotifier implements Notifier {
  readonly notices: Notice[] = [];

  async rolloutChanged(state: RolloutState, cause: TransitionCause): Promise<void> {
    this.notices.push({
      type: 'changed',
      rolloutId: state.id,
      status: state.status,
      version: state.version,
      cause,
    });
  }

  async alert(state: RolloutState, kind: AlertKind, message: string): Promise<void> {
    this.notices.push({ type: 'alert', rolloutId: state.id, kind, message });
  }

  async clusterAlert(cluster: string, message: string): Promise<void> {
    this.notices.push({ type: 'cluster_alert', cluster, message });
  }

  alerts(rolloutId?: string): Extract<Notice, { type: 'alert' }>[] {
    return this.notices.filter(
      (n): n is Extract<Notice, { type: 'alert' }> =>
        n.type === 'alert' && (rolloutId === undefined || n.rolloutId === rolloutId),
    );
  }
}
