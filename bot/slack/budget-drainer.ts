import type { Logger } from '../../shared/log.js';
import {
  SLACK_PRIORITIES,
  type SlackBudget,
  type SlackPriority,
} from '../../shared/ports/slack-budget.js';

/** The longest a group waits before asking the budget again (well within a ticket's life). */
export const MAX_BUDGET_POLL_MS = 5_000;
/** How long a group waits after the budget could not be asked (Redis down) before trying again. */
const BUDGET_ERROR_RETRY_MS = 1_000;

export interface BudgetDrainerOptions {
  budget: Pick<SlackBudget, 'take'>;
  /** This process's name in the shared line: its tickets are `<replica>:<group>`. */
  replica: string;
  logger: Logger;
  /** Stops every group: waiting callers are told no. */
  signal: AbortSignal;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Waiter {
  /** Read at each ask: a card's pending update can become more urgent while it waits. */
  priority: () => SlackPriority;
  /** Arrival order here: the first to ask goes first within a priority. */
  seq: number;
  channel: string;
  resolve: (granted: boolean) => void;
}

interface Group {
  method: string;
  waiters: Waiter[];
  running?: Promise<void>;
  /** The priority the group's ticket last asked with; a more urgent waiter wakes it to ask again. */
  askedAt?: SlackPriority;
  wake?: AbortController;
}

function rank(priority: SlackPriority): number {
  return SLACK_PRIORITIES.indexOf(priority);
}

/**
 * One loop per group of calls that draw from the same budget buckets (`chat.update` for the
 * workspace; `chat.postMessage` per channel; any other method on its own), however many cards wait
 * in it: the group holds one ticket in the shared line, at the priority of its most urgent waiter,
 * and each call the budget grants goes to that waiter. So the budget is asked about as often as it
 * grants calls (plus one ask per group every `MAX_BUDGET_POLL_MS`), and its line holds one ticket
 * per replica and group, whatever the number of waiting cards: 1,000 cards waiting to be updated
 * cost one ticket, not 1,000 asking every few seconds.
 */
export class BudgetDrainer {
  private readonly groups = new Map<string, Group>();
  private seq = 0;

  constructor(private readonly options: BudgetDrainerOptions) {
    // Stopping wakes every sleeping group (each sleeps on its own signal only: one signal derived
    // from the long-lived stop signal per sleep would be retained by it).
    options.signal.addEventListener('abort', () => {
      for (const g of this.groups.values()) g.wake?.abort();
    });
  }

  /**
   * Resolves true when the call may be made now (the caller must make it), false once stopped.
   * `priority` may be a function, read at each ask (call `raised` when it goes up).
   */
  admit(
    method: string,
    channel: string,
    priority: SlackPriority | (() => SlackPriority),
  ): Promise<boolean> {
    if (this.options.signal.aborted) return Promise.resolve(false);
    const key = keyOf(method, channel);
    let group = this.groups.get(key);
    if (!group) {
      group = { method, waiters: [] };
      this.groups.set(key, group);
    }
    const read = typeof priority === 'function' ? priority : () => priority;
    const promise = new Promise<boolean>((resolve) =>
      group.waiters.push({ priority: read, seq: this.seq++, channel, resolve }),
    );
    this.raised(method, channel, read());
    if (!group.running) this.start(key, group);
    return promise;
  }

  /** A waiting call became `priority`: its group asks again at once if that moves its ticket up. */
  raised(method: string, channel: string, priority: SlackPriority): void {
    const group = this.groups.get(keyOf(method, channel));
    if (group?.askedAt !== undefined && rank(priority) < rank(group.askedAt)) group.wake?.abort();
  }

  /** Waiting calls of this replica, by group (for tests and metrics). */
  waiting(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.waiters.length;
    return n;
  }

  private start(key: string, group: Group): void {
    group.running = this.drain(key, group).finally(() => {
      group.running = undefined;
      if (group.waiters.length === 0) this.groups.delete(key);
      else this.start(key, group);
    });
  }

  private async drain(key: string, group: Group): Promise<void> {
    const { budget, signal } = this.options;
    const ticket = `${this.options.replica}:${key}`;
    while (group.waiters.length > 0) {
      if (signal.aborted) {
        for (const w of group.waiters.splice(0)) w.resolve(false);
        return;
      }
      const head = best(group.waiters);
      group.askedAt = head.priority();
      let wait: number;
      try {
        wait = await budget.take({
          ticket,
          method: group.method,
          channel: head.channel,
          priority: group.askedAt,
        });
      } catch (err) {
        this.options.logger.warn({ err, group: key }, 'could not ask the Slack budget; retrying');
        wait = BUDGET_ERROR_RETRY_MS;
      }
      // An answer that is not a number of ms (a broken budget) must not make the loop spin.
      if (!Number.isFinite(wait)) wait = MAX_BUDGET_POLL_MS;
      if (wait <= 0) {
        // Granted: to whoever is most urgent now (one more urgent may have come while asking).
        const chosen = best(group.waiters);
        group.waiters.splice(group.waiters.indexOf(chosen), 1);
        chosen.resolve(true);
        continue;
      }
      // Asks again when told, or at once when a more urgent call arrives (its place moves up).
      group.wake = new AbortController();
      await this.sleep(Math.min(wait, MAX_BUDGET_POLL_MS), group.wake.signal);
      group.wake = undefined;
    }
  }

  private async sleep(ms: number, wake: AbortSignal): Promise<void> {
    if (this.options.signal.aborted) return;
    try {
      await this.options.sleep(ms, wake);
    } catch {
      // Woken or stopped: the loop looks again.
    }
  }
}

/** One group per set of buckets a call draws from (see `bucketsOf`): posts per channel. */
function keyOf(method: string, channel: string): string {
  return method === 'chat.postMessage' ? `${method}:${channel}` : method;
}

function best(waiters: Waiter[]): Waiter {
  let head = waiters[0]!;
  let headRank = rank(head.priority());
  for (const w of waiters) {
    const r = rank(w.priority());
    if (r < headRank || (r === headRank && w.seq < head.seq)) {
      head = w;
      headRank = r;
    }
  }
  return head;
}
