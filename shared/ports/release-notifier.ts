import type { ReleaseState } from '../release/state.js';

/**
 * Tells people about a release: its own card in the channel, a thread of lines under it, and a
 * page of the affected services' on-call groups. Calls may repeat after a crash (effects replay):
 * showing the latest state again must be harmless, and a line or page said twice is the price of
 * never losing one.
 */
export interface ReleaseNotifier {
  /** The release changed: post its card, or update it in place. */
  releaseChanged(state: ReleaseState): Promise<void>;
  /**
   * One line in the release's thread. `key`, when given, is the same for every replay of the same
   * line (the effect's id): an adapter that can say a line once per key does.
   */
  releaseLine(state: ReleaseState, text: string, key?: string): Promise<void>;
  /** Pages the on-call groups of `services`, in the release's thread. */
  releasePage(state: ReleaseState, services: string[], message: string): Promise<void>;
}
