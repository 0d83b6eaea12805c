import type { CardRef, CardStore } from '../../shared/ports/card-store.js';

/** How often expired cards are dropped: a finished rollout's card is never read again. */
const PRUNE_EVERY_MS = 60_000;

export class MemoryCardStore implements CardStore {
  private readonly cards = new Map<string, CardRef & { expiresAt?: number }>();
  private prunedAt = Number.NEGATIVE_INFINITY;

  /** `now` tells when retained cards expire; default the system clock. */
  constructor(private readonly now: () => number = Date.now) {}

  async get(rolloutId: string): Promise<CardRef | undefined> {
    const card = this.live(rolloutId);
    return card ? { channel: card.channel, ts: card.ts } : undefined;
  }

  /** Cards held, expired ones not yet dropped included (tests). */
  get size(): number {
    return this.cards.size;
  }

  async save(rolloutId: string, card: CardRef): Promise<CardRef> {
    this.prune();
    const stored = this.live(rolloutId);
    if (stored) return { channel: stored.channel, ts: stored.ts };
    this.cards.set(rolloutId, { channel: card.channel, ts: card.ts });
    return { ...card };
  }

  async retain(rolloutId: string, ttlMs: number): Promise<void> {
    const card = this.live(rolloutId);
    if (card) card.expiresAt = this.now() + ttlMs;
  }

  private prune(): void {
    const now = this.now();
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    for (const [id, card] of this.cards)
      if (card.expiresAt !== undefined && card.expiresAt <= now) this.cards.delete(id);
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
