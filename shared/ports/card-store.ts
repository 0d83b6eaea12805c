/** Where a rollout's card lives in Slack: the message `chat.update` edits in place. */
export interface CardRef {
  channel: string;
  /** The message timestamp Slack returned for the card; also the thread for its replies. */
  ts: string;
}

/**
 * The rollout cards posted so far, kept durably so a restarted bot (or another replica) updates
 * the same card instead of posting a second one.
 */
export interface CardStore {
  /** The card of a rollout; `undefined` when none has been posted (yet). */
  get(rolloutId: string): Promise<CardRef | undefined>;
  /**
   * Records the card of a rollout unless it already has one, and returns the one stored: the
   * first writer wins, so two writers that both posted agree on one card. Idempotent.
   */
  save(rolloutId: string, card: CardRef): Promise<CardRef>;
  /**
   * The rollout ended: its card is kept `ttlMs` more (the rollout's own retention), then
   * forgotten. A no-op when no card is stored; calling it again restarts the time.
   */
  retain(rolloutId: string, ttlMs: number): Promise<void>;
}
