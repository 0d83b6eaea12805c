import { describe, expect, it } from 'vitest';
import { CardFreshness, type CardCall } from '../../bench/scale/card-freshness.js';
import { renderCard } from '../../bot/slack/card.js';
import type { RolloutStatus } from '../../shared/rollout/state.js';
import { aRolloutState } from '../support/state-builders.js';

const ENDED_AT = Date.parse('2026-12-01T08:00:00.400Z');

/** A card as the bot renders it (the real renderer), sent `afterMs` after its state's update. */
function cardCall(
  id: string,
  status: RolloutStatus,
  afterMs: number,
  overrides: Partial<CardCall> = {},
): CardCall {
  const state = { ...aRolloutState().withId(id).withStatus(status).build(), updatedAt: ENDED_AT };
  const { text, blocks } = renderCard(state);
  return {
    method: 'chat.update',
    status: 200,
    at: ENDED_AT + afterMs,
    args: { channel: 'C1', ts: '1.1', text, blocks },
    ...overrides,
  };
}

describe('scale bench card freshness', () => {
  it('times the first card that shows each rollout ended, from its last transition', () => {
    const fresh = new CardFreshness();
    fresh.observe(cardCall('r-1', 'baking', 100));
    fresh.observe(cardCall('r-1', 'succeeded', 3_000));
    fresh.observe(cardCall('r-1', 'succeeded', 9_000)); // a later repeat does not count
    fresh.observe(cardCall('r-2', 'rolled_back', 0, { method: 'chat.postMessage' }));
    fresh.observe(cardCall('r-3', 'aborted', 12_000));
    fresh.observe(cardCall('r-4', 'failed', 1_000));
    // The card's time is whole seconds: up to a second is added, never taken off.
    expect(fresh.values()).toEqual([3_400, 400, 12_400, 1_400]);
  });

  it('ignores what is not a delivered card showing an end', () => {
    const fresh = new CardFreshness();
    fresh.observe(cardCall('r-1', 'succeeded', 100, { status: 429 }));
    fresh.observe(cardCall('r-1', 'succeeded', 100, { method: 'chat.postEphemeral' }));
    fresh.observe(cardCall('r-2', 'paused', 100));
    fresh.observe(cardCall('r-3', 'promoting', 100));
    // A thread line that says "succeeded" but carries no card stamp.
    fresh.observe({
      method: 'chat.postMessage',
      status: 200,
      at: ENDED_AT,
      args: { text: 'checkout 2.4.1: succeeded: stable everywhere', blocks: 'not blocks' },
    });
    fresh.observe({ method: 'chat.update', status: 200, at: ENDED_AT, args: {} });
    expect(fresh.values()).toEqual([]);
  });
});
