import type { CardRef, CardStore } from '../../shared/ports/card-store.js';

export class MemoryCardStore implements CardStore {
  private readonly cards = new Map<string, CardRef>();

  async get(rolloutId: string): Promise<CardRef | undefined> {
    const card = this.cards.get(rolloutId);
    return card ? { ...card } : undefined;
  }

  async save(rolloutId: string, card: CardRef): Promise<CardRef> {
    const stored = this.cards.get(rolloutId);
    if (stored) return { ...stored };
    this.cards.set(rolloutId, { channel: card.channel, ts: card.ts });
    return { ...card };
  }
}
