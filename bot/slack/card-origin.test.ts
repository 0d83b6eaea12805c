import { describe, expect, it } from 'vitest';
import { clickOrigin, isFromCard } from './card-origin.js';

const card = { channel: 'C0PAYMENTS', ts: '1700000000.000100' };

function body(channel: string | undefined, ts: string | undefined, container = { channel, ts }) {
  return {
    ...(channel ? { channel: { id: channel } } : {}),
    ...(ts ? { message: { ts } } : {}),
    container: { channel_id: container.channel, message_ts: container.ts },
  };
}

describe('isFromCard', () => {
  it('accepts a click whose channel and message are the card', () => {
    expect(isFromCard(clickOrigin(body(card.channel, card.ts)), card)).toBe(true);
  });

  it('refuses another channel, another message, a card never posted and a payload without either', () => {
    expect(isFromCard(clickOrigin(body('C0CHECKOUT', card.ts)), card)).toBe(false);
    expect(isFromCard(clickOrigin(body(card.channel, '1700000000.000200')), card)).toBe(false);
    expect(isFromCard(clickOrigin(body(card.channel, card.ts)), undefined)).toBe(false);
    expect(isFromCard(clickOrigin({}), card)).toBe(false);
  });

  it('refuses a payload whose container names another message than its message field', () => {
    const mixed = body(card.channel, card.ts, { channel: card.channel, ts: '1.2' });
    expect(isFromCard(clickOrigin(mixed), card)).toBe(false);
  });
});
