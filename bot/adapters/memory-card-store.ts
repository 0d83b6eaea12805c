import type { CardRef, CardStore } from '../../shared/ports/card-store.js';

export class MemoryCardStore implements CardStore {
  private readonly cards = new Map<string, CardRef & { expiresAt?: number }>();

  /** `now` tells when retained cards expire; default the system clock. */
  constructor(private readonly now: () => number = Date.now) {}

  async get(rolloutId: string): Promise<CardRef | undefined> {
    const card = this.live(rolloutId);
    return card ? { channel: card.channel, ts: card.ts } : undefined;
  }

  async save(rolloutId: string, card: CardRef): Promise<CardRef> {
    const stored = this.live(rolloutId);
    if (stored) return { channel: stored.channel, ts: stored.ts };
    this.cards.set(rolloutId, { channel: card.channel, ts: card.ts });
    return { ...card };
  }

  async retain(rolloutId: string, ttlMs: number): Promise<void> {
    const card = this.live(rolloutId);
    if (card) card.expiresAt = this.now() + ttlMs;
  }

  /** The stored card unless its time is up (then it is dropped, as Redis expires the key). */
  private live(rolloutId: string) {
    const card = this.cards.get(rolloutId);
    if (card?.expiresAt !== undefined && card.expiresAt <= this.now()) {
      this.cards.delete(rolloutId);
      return undefined;
    }
    return card;
  }
}
