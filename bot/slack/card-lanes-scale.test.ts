import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.js';
import { DEFAULT_SLACK_LIMITS } from '../../shared/ports/slack-budget.js';
import { MemoryCardStore } from '../adapters/memory-card-store.js';
import { MemoryOnceClaims } from '../adapters/memory-once-claims.js';
import { MemorySlackBudget } from '../adapters/memory-slack-budget.js';
import { CardLanes } from './card-lanes.js';
import type { OutgoingMessage } from './slack-calls.js';

/**
 * Virtual time with timers: a sleep ends when the clock reaches it, and the clock jumps to the
 * next timer only once everything else has settled. Hours of Slack pacing run in milliseconds,
 * and every time below is a reading of this clock, never of the machine's.
 */
class VirtualTime {
  t = 0;
  private timers: { at: number; resolve: () => void; seq: number }[] = [];
  private seq = 0;
  now = () => this.t;
  sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = { at: this.t + Math.max(0, ms), resolve, seq: this.seq++ };
      this.timers.push(timer);
      signal.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((x) => x !== timer);
          reject(new Error('aborted'));
        },
        { once: true },
      );
    });

  /** Runs until no timer is left (everything sent) or `limitMs` of virtual time. */
  async run(limitMs: number): Promise<void> {
    for (;;) {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      if (this.timers.length === 0 || this.t > limitMs) return;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
  }
}

const CARDS = 200;
const CHANNELS = 20;
const id = (i: number) => `r${i}`;
const channelOf = (i: number) => `C${i % CHANNELS}`;

describe('CardLanes at scale, against Slack’s limits (50 updates a minute, one post a second per channel)', () => {
  it('shows every ended rollout’s final state before any other card’s transition, and thread lines never wait for card updates', async () => {
    const time = new VirtualTime();
    const budget = new MemorySlackBudget(DEFAULT_SLACK_LIMITS, time.now);
    const cards = new MemoryCardStore();
    for (let i = 0; i < CARDS; i++) await cards.save(id(i), { channel: channelOf(i), ts: id(i) });
    const states = new Map<string, { version: number; ended: boolean }>();
    for (let i = 0; i < CARDS; i++) states.set(id(i), { version: 1, ended: false });
    const updates: { ts: string; text: string; at: number }[] = [];
    const lines: { message: OutgoingMessage; at: number }[] = [];
    const textOf = (rolloutId: string) => {
      const s = states.get(rolloutId)!;
      return `${rolloutId} v${s.version}${s.ended ? ' ended' : ''}`;
    };
    const lanes = new CardLanes({
      calls: {
        postMessage: async (message) => {
          lines.push({ message, at: time.t });
          return { channel: message.channel, ts: `line-${lines.length}` };
        },
        update: async (_channel, ts, view) =>
          void updates.push({ ts, text: view.text, at: time.t }),
      },
      cards,
      claims: new MemoryOnceClaims({ now: time.now }),
      budget,
      render: async (rolloutId) => ({
        channel: channelOf(Number(rolloutId.slice(1))),
        view: { text: textOf(rolloutId), blocks: [] },
        ended: states.get(rolloutId)!.ended,
      }),
      logger: silentLogger,
      now: time.now,
      sleep: time.sleep,
    });

    // Every card has a routine refresh waiting (gate ticks): far more than 50 a minute.
    for (let i = 0; i < CARDS; i++) lanes.refresh(id(i), 'refresh');
    await time.run(30_000);
    const before = updates.length;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(CARDS);

    // Then half the rollouts move a stage (transitions) and the other half end, each ending with
    // two per-cluster thread lines.
    const t0 = time.t;
    for (let i = 0; i < CARDS; i++) {
      const s = states.get(id(i))!;
      s.version += 1;
      if (i % 2 === 0) {
        lanes.refresh(id(i), 'transition');
      } else {
        s.ended = true;
        lanes.refresh(id(i), 'terminal');
        for (const cluster of ['eu-west', 'us-east'])
          void lanes.reply(id(i), {
            text: `${id(i)} promoted in ${cluster}`,
            claimKey: `${id(i)}:${cluster}`,
            priority: 'routine',
          });
      }
    }
    await time.run(60 * 60_000);
    await lanes.idle();

    // Every card ends on its latest state.
    for (let i = 0; i < CARDS; i++)
      expect(updates.filter((u) => u.ts === id(i)).at(-1)?.text).toBe(textOf(id(i)));

    // After the change, every ended card is shown before any card that only moved on.
    const after = updates.slice(before);
    const lastEnd = after.findLastIndex((u) => u.text.endsWith('ended'));
    const firstOther = after.findIndex((u) => !u.text.endsWith('ended'));
    expect(after.filter((u) => u.text.endsWith('ended'))).toHaveLength(CARDS / 2);
    expect(lastEnd).toBeLessThan(firstOther);
    // So an end waits only for the other ends (100 at 50 a minute, after the burst), not for the
    // 200 cards' refreshes and transitions queued before it.
    expect(after[lastEnd]!.at - t0).toBeLessThanOrEqual(((CARDS / 2) * 60_000) / 50 + 1_000);

    // Thread lines go on their own budget, at their channel's pace (one a second after a burst of
    // 3; the odd channels hold the ended cards: 20 lines each), long before the card updates are
    // through: they never wait for their card's update.
    expect(lines).toHaveLength(CARDS);
    const perChannel = Math.max(
      ...Array.from(
        { length: CHANNELS },
        (_, c) => lines.filter((l) => l.message.channel === `C${c}`).length,
      ),
    );
    expect(perChannel).toBe(20);
    const lastLine = Math.max(...lines.map((l) => l.at));
    expect(lastLine - t0).toBeLessThanOrEqual((perChannel - 3) * 1_000);
    expect(after.at(-1)!.at - t0).toBeGreaterThan(3 * (lastLine - t0));
    for (const l of lines) expect(l.message.threadTs).toBe(l.message.text.split(' ')[0]);

    // Never past Slack's limit: in any span, at most the burst plus 50 a minute.
    const all = updates.map((u) => u.at);
    for (let i = 0; i < all.length; i++)
      for (let j = i; j < all.length; j++)
        expect(j - i + 1).toBeLessThanOrEqual(
          10 + Math.floor(((all[j]! - all[i]!) * 50) / 60_000) + 1,
        );

    await lanes.stop(0);
  }, 120_000);
});
