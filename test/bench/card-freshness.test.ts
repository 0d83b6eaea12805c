import { describe, expect, it } from 'vitest';
import {
  CardFreshness,
  endLineDelays,
  type CardCall,
  type PostedMessage,
} from '../../bench/scale/card-freshness.js';
import { renderCard } from '../../bot/slack/card.js';
import { threadLine } from '../../bot/slack/thread-lines.js';
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

describe('scale bench end lines', () => {
  const card = (id: string, ts: string, channel = 'C1'): PostedMessage => {
    const state = {
      ...aRolloutState().withId(id).withStatus('pending').build(),
      updatedAt: ENDED_AT,
    };
    const { text, blocks } = renderCard(state);
    return { channel, ts, text, blocks, postedAt: ENDED_AT - 60_000 };
  };
  /** The reply the bot posts for a transition to `status` (the real thread line). */
  const reply = (
    threadTs: string,
    status: RolloutStatus,
    afterMs: number,
    channel = 'C1',
  ): PostedMessage => {
    const state = aRolloutState().withStatus(status).build();
    const text = threadLine(state, {
      actor: 'system:bot',
      input: 'gate_result',
      status,
      detail: 'fail: error rate 9%',
    });
    if (text === undefined) throw new Error(`no thread line for ${status}`);
    return { channel, ts: `${threadTs}.r${afterMs}`, threadTs, text, postedAt: ENDED_AT + afterMs };
  };

  it('times the first reply in each card’s thread that says its rollout ended', () => {
    const messages = [
      card('r-1', '1.1'),
      card('r-2', '1.2'),
      card('r-3', '1.1', 'C2'), // same ts, another channel: another card
      reply('1.1', 'baking', 100),
      reply('1.1', 'rolled_back', 2_000),
      reply('1.1', 'rolled_back', 5_000), // a later repeat does not count
      reply('1.2', 'failed', 700),
      reply('1.1', 'aborted', 300, 'C2'),
    ];
    const ended = new Map([
      ['r-1', ENDED_AT],
      ['r-2', ENDED_AT],
      ['r-3', ENDED_AT],
    ]);
    expect(Object.fromEntries(endLineDelays(messages, ended))).toEqual({
      'r-1': 2_000,
      'r-2': 700,
      'r-3': 300,
    });
  });

  it('leaves out rollouts whose end it does not know, replies outside cards, and lines that do not end', () => {
    const messages = [
      card('r-1', '1.1'),
      reply('1.1', 'promoting', 100),
      reply('9.9', 'rolled_back', 100), // a thread of no card seen
      card('r-2', '1.2'),
      reply('1.2', 'rolled_back', 100),
    ];
    expect(endLineDelays(messages, new Map([['r-1', ENDED_AT]])).size).toBe(0);
  });
});
