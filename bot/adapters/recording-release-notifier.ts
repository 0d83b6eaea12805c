import type { ReleaseNotifier } from '../../shared/ports/release-notifier.js';
import type { ReleaseState } from '../../shared/release/state.js';

/** Keeps what it was told, for tests and local mode's console. */
export class RecordingReleaseNotifier implements ReleaseNotifier {
  readonly cards: ReleaseState[] = [];
  readonly lines: { releaseId: string; text: string }[] = [];
  readonly pages: { releaseId: string; services: string[]; message: string }[] = [];

  async releaseChanged(state: ReleaseState): Promise<void> {
    this.cards.push(structuredClone(state));
  }

  async releaseLine(state: ReleaseState, text: string): Promise<void> {
    this.lines.push({ releaseId: state.id, text });
  }

  async releasePage(state: ReleaseState, services: string[], message: string): Promise<void> {
    this.pages.push({ releaseId: state.id, services: [...services], message });
  }
}
