import type { Logger } from '../../shared/log.js';
import type { ReleaseNotifier } from '../../shared/ports/release-notifier.js';
import type { ReleaseState } from '../../shared/release/state.js';

/** Writes what Slack would show about releases to the log: for running without a workspace. */
export class LogReleaseNotifier implements ReleaseNotifier {
  constructor(private readonly logger: Logger) {}

  async releaseChanged(state: ReleaseState): Promise<void> {
    const members = Object.entries(state.members)
      .map(([s, m]) => `${s}=${m.state}`)
      .join(' ');
    this.logger.info(
      { releaseId: state.id, status: state.status },
      `release ${state.id}: ${state.status} (${members})`,
    );
  }

  async releaseLine(state: ReleaseState, text: string): Promise<void> {
    this.logger.info({ releaseId: state.id }, `release ${state.id}: ${text}`);
  }

  async releasePage(state: ReleaseState, services: string[], message: string): Promise<void> {
    this.logger.warn({ releaseId: state.id, services }, `PAGE ${services.join(', ')}: ${message}`);
  }
}
