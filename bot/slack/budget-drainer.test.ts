import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.js';
import type { SlackBudget, SlackCallRequest } from '../../shared/ports/slack-budget.js';
import { BudgetDrainer, MAX_BUDGET_POLL_MS } from './budget-drainer.js';

/** A budget that answers from a script (a number, or an error to throw), then grants. */
function scriptedBudget(answers: (number | Error)[]) {
  const asked: SlackCallRequest[] = [];
  const budget: Pick<SlackBudget, 'take'> = {
    take: async (request) => {
      asked.push(request);
      const answer = answers.shift() ?? 0;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { budget, asked };
}

function drainerOn(budget: Pick<SlackBudget, 'take'>) {
  const slept: number[] = [];
  const stop = new AbortController();
  const drainer = new BudgetDrainer({
    budget,
    replica: 'rep',
    logger: silentLogger,
    signal: stop.signal,
    sleep: async (ms) => {
      slept.push(ms);
      await new Promise((r) => setImmediate(r));
    },
  });
  return { drainer, slept, stop };
}

describe('BudgetDrainer', () => {
  it('asks with one ticket per group and hands each grant to the most urgent waiter, then the first', async () => {
    const { budget, asked } = scriptedBudget([500, 0, 0, 0]);
    const { drainer } = drainerOn(budget);
    const order: string[] = [];
    const calls = [
      drainer.admit('chat.update', 'C1', 'refresh').then(() => order.push('refresh-1')),
      drainer.admit('chat.update', 'C2', 'refresh').then(() => order.push('refresh-2')),
      drainer.admit('chat.update', 'C3', 'alert').then(() => order.push('alert')),
    ];
    await Promise.all(calls);
    expect(order).toEqual(['alert', 'refresh-1', 'refresh-2']);
    expect(new Set(asked.map((a) => a.ticket))).toEqual(new Set(['rep:chat.update']));
    // It asked at the most urgent waiter's priority.
    expect(asked[0]!.priority).toBe('refresh');
    expect(asked[1]!.priority).toBe('alert');
  });

  it('keeps posts of different channels apart: a busy channel does not hold another back', async () => {
    const { budget, asked } = scriptedBudget([]);
    const { drainer } = drainerOn(budget);
    await Promise.all([
      drainer.admit('chat.postMessage', 'C1', 'routine'),
      drainer.admit('chat.postMessage', 'C2', 'routine'),
    ]);
    expect(asked.map((a) => a.ticket).sort()).toEqual([
      'rep:chat.postMessage:C1',
      'rep:chat.postMessage:C2',
    ]);
  });

  it('rides out a budget it cannot ask (Redis down) and one that answers nonsense, without spinning', async () => {
    const { budget } = scriptedBudget([new Error('connection lost'), Number.NaN, -5]);
    const { drainer, slept } = drainerOn(budget);
    expect(await drainer.admit('chat.update', 'C1', 'alert')).toBe(true);
    // After the failure it waited a second; after NaN the longest poll; a negative wait is a grant.
    expect(slept).toEqual([1_000, MAX_BUDGET_POLL_MS]);
    expect(drainer.waiting()).toBe(0);
  });

  it('tells every waiting call no once stopped, and refuses new ones', async () => {
    const { budget } = scriptedBudget(Array.from({ length: 1_000 }, () => 10_000));
    const { drainer, stop } = drainerOn(budget);
    const waiting = drainer.admit('chat.update', 'C1', 'refresh');
    await new Promise((r) => setImmediate(r));
    stop.abort();
    expect(await waiting).toBe(false);
    expect(await drainer.admit('chat.update', 'C1', 'alert')).toBe(false);
  });
});
