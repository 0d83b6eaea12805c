import type { Logger } from '../../shared/log.js';
import {
  PagerUnavailableError,
  PageRejectedError,
  type Pager,
  type PageTrigger,
} from '../../shared/ports/pager.js';

export interface PagerDutyPagerOptions {
  /** The Events API's base URL (`PAGERDUTY_EVENTS_URL`); events go to `<base>/v2/enqueue`. */
  eventsUrl?: string;
  logger: Logger;
  /** Tries per event, the first included. Default 5. */
  maxAttempts?: number;
  /** First retry delay, doubled per retry up to `maxDelayMs`. Defaults 1 s and 30 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** For tests. */
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com';

/** PagerDuty's documented limits (Events API v2). */
const MAX_SUMMARY = 1024;
const MAX_DEDUP_KEY = 255;

type EventBody =
  | { routing_key: string; event_action: 'resolve'; dedup_key: string }
  | {
      routing_key: string;
      event_action: 'trigger';
      dedup_key: string;
      client: string;
      payload: {
        summary: string;
        source: string;
        severity: PageTrigger['severity'];
        timestamp: string;
        class: string;
        component?: string;
        custom_details?: Record<string, unknown>;
      };
    };

/**
 * The `Pager` on PagerDuty's Events API v2 (`POST /v2/enqueue`, answered 202). A 429 (rate limit:
 * about 120 events a minute per key) and 5xx or network failures are retried with capped
 * exponential backoff, honouring `Retry-After`; a 400 means the event itself is wrong, so it is
 * not retried: it is logged with PagerDuty's `errors` and rejected as `PageRejectedError`. The
 * routing key goes in the body only and is never logged.
 */
export class PagerDutyPager implements Pager {
  private readonly url: string;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: PagerDutyPagerOptions) {
    const base = options.eventsUrl ?? DEFAULT_PAGERDUTY_EVENTS_URL;
    // A bad URL is a configuration mistake: say so at start, not at the first incident.
    this.url = new URL('/v2/enqueue', base).toString();
    this.maxAttempts = options.maxAttempts ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 1_000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async trigger(page: PageTrigger): Promise<void> {
    await this.send({
      routing_key: page.routingKey,
      event_action: 'trigger',
      dedup_key: page.dedupKey.slice(0, MAX_DEDUP_KEY),
      client: 'Rollout ChatOps',
      payload: {
        summary: page.summary.slice(0, MAX_SUMMARY),
        source: page.source,
        severity: page.severity,
        timestamp: new Date().toISOString(),
        class: page.class,
        ...(page.component !== undefined && { component: page.component }),
        ...(page.details !== undefined && { custom_details: page.details }),
      },
    });
  }

  async resolve(routingKey: string, dedupKey: string): Promise<void> {
    await this.send({
      routing_key: routingKey,
      event_action: 'resolve',
      dedup_key: dedupKey.slice(0, MAX_DEDUP_KEY),
    });
  }

  private async send(body: EventBody): Promise<void> {
    const about = { dedupKey: body.dedup_key, action: body.event_action };
    let lastProblem = 'no attempt made';
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const res = await fetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const answer = await readJson(res);
        if (res.status === 202 || res.status === 200) {
          this.options.logger.info({ ...about, status: res.status }, 'pager accepted the event');
          return;
        }
        if (res.status === 429) {
          retryAfterMs = retryAfter(res.headers.get('retry-after'));
          lastProblem = '429 rate limited';
        } else if (res.status >= 500) {
          lastProblem = `${res.status} ${answer.message ?? ''}`.trim();
        } else {
          // 400 (and any other 4xx: a wrong URL or key): the same event would be refused again.
          const errors = answer.errors ?? [answer.message ?? `HTTP ${res.status}`];
          this.options.logger.error(
            { ...about, status: res.status, errors },
            'the pager refused the event; it is not retried',
          );
          throw new PageRejectedError(body.dedup_key, errors);
        }
      } catch (err) {
        if (err instanceof PageRejectedError) throw err;
        lastProblem = err instanceof Error ? err.message : String(err);
      }
      if (attempt === this.maxAttempts) break;
      const backoff = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
      const delay = Math.min(this.maxDelayMs, Math.max(backoff, retryAfterMs ?? 0));
      this.options.logger.warn(
        { ...about, attempt, problem: lastProblem, retryInMs: delay },
        'pager did not take the event; retrying',
      );
      await this.sleep(delay);
    }
    this.options.logger.error(
      { ...about, attempts: this.maxAttempts, problem: lastProblem },
      'pager unreachable; giving up on this event for now',
    );
    throw new PagerUnavailableError(body.dedup_key, lastProblem);
  }
}

async function readJson(res: Response): Promise<{ message?: string; errors?: string[] }> {
  try {
    const parsed = (await res.json()) as { message?: unknown; errors?: unknown };
    return {
      ...(typeof parsed.message === 'string' && { message: parsed.message }),
      ...(Array.isArray(parsed.errors) && { errors: parsed.errors.map(String) }),
    };
  } catch {
    return {};
  }
}

/** `Retry-After` in seconds (or an HTTP date), as milliseconds. */
function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
