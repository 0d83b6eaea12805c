import type { types, webApi } from '@slack/bolt';
import { RolloutError } from '../../shared/errors.js';
import type { SurfaceMetrics } from './metrics.js';

type WebClient = webApi.WebClient;
type Blocks = types.KnownBlock[];

/** Slack answered 429: nothing was done; try again after `retryAfterMs`. */
export class SlackRateLimitedError extends RolloutError {
  constructor(
    readonly method: string,
    readonly retryAfterMs: number,
  ) {
    super('slack_rate_limited', `Slack rate-limited ${method}; retry after ${retryAfterMs} ms`);
  }
}

/** Slack refused or could not be reached; `slackError` is Slack's code (`channel_not_found`) when it answered. */
export class SlackCallError extends RolloutError {
  constructor(
    readonly method: string,
    readonly slackError: string | undefined,
    detail: string,
  ) {
    super('slack_call_failed', `Slack ${method} failed: ${detail}`);
  }
}

export interface OutgoingMessage {
  channel: string;
  text: string;
  blocks?: Blocks;
  /** Post as a reply in this thread. */
  threadTs?: string;
  /** A thread reply also shown in the channel. */
  broadcast?: boolean;
}

/**
 * The Web API calls the bot makes, each counted in the metrics, with 429s and failures turned
 * into typed errors the callers decide about (wait and send the latest state, or give up). The
 * client must be built with `rejectRateLimitedCalls: true`, so a 429 reaches us instead of
 * pausing every call in the client's queue.
 */
export class SlackCalls {
  private readonly retryAfter: RetryAfterBounds;

  constructor(
    private readonly client: WebClient,
    private readonly metrics: SurfaceMetrics,
    retryAfter: Partial<RetryAfterBounds> = {},
  ) {
    this.retryAfter = { ...DEFAULT_RETRY_AFTER, ...retryAfter };
  }

  async postMessage(message: OutgoingMessage): Promise<{ channel: string; ts: string }> {
    const base = {
      channel: message.channel,
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks } : {}),
      unfurl_links: false,
      unfurl_media: false,
    };
    const args: webApi.ChatPostMessageArguments = message.threadTs
      ? { ...base, thread_ts: message.threadTs, reply_broadcast: message.broadcast ?? false }
      : base;
    const result = await this.call('chat.postMessage', () => this.client.chat.postMessage(args));
    if (!result.ts || !result.channel) {
      throw new SlackCallError('chat.postMessage', undefined, 'the answer has no ts or channel');
    }
    return { channel: result.channel, ts: result.ts };
  }

  /** Replaces a message's text and blocks (both always: `text` alone would drop the blocks). */
  async update(channel: string, ts: string, view: { text: string; blocks: Blocks }): Promise<void> {
    await this.call('chat.update', () =>
      this.client.chat.update({ channel, ts, text: view.text, blocks: view.blocks }),
    );
  }

  async authTest(): Promise<{ userId?: string; botId?: string; team?: string }> {
    const result = await this.call('auth.test', () => this.client.auth.test());
    return {
      ...(result.user_id ? { userId: result.user_id } : {}),
      ...(result.bot_id ? { botId: result.bot_id } : {}),
      ...(result.team ? { team: result.team } : {}),
    };
  }

  async userGroupMembers(usergroup: string): Promise<string[]> {
    const result = await this.call('usergroups.users.list', () =>
      this.client.usergroups.users.list({ usergroup }),
    );
    return result.users ?? [];
  }

  private async call<T>(method: string, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.metrics.apiCalls.inc({ method, result: 'ok' });
      return result;
    } catch (err) {
      const failure = classify(method, err, this.retryAfter);
      if (failure instanceof SlackRateLimitedError) {
        this.metrics.apiCalls.inc({ method, result: 'rate_limited' });
        this.metrics.rateLimited.inc({ method });
      } else {
        this.metrics.apiCalls.inc({ method, result: 'error' });
      }
      throw failure;
    }
  }
}

/** How a 429's `Retry-After` is read. */
export interface RetryAfterBounds {
  /** When the 429 has no usable `Retry-After` (missing, or not a number of seconds). */
  missingMs: number;
  /** The longest wait honoured: a larger value (a broken proxy's) would silence Slack for hours. */
  maxMs: number;
}

export const DEFAULT_RETRY_AFTER: RetryAfterBounds = { missingMs: 5_000, maxMs: 120_000 };

function classify(method: string, err: unknown, bounds: RetryAfterBounds): RolloutError {
  const e = err as {
    code?: string;
    retryAfter?: number;
    data?: { error?: string };
    message?: string;
  };
  if (e?.code === 'slack_webapi_rate_limited_error') {
    const seconds = e.retryAfter;
    const ms =
      typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0
        ? seconds * 1000
        : bounds.missingMs;
    return new SlackRateLimitedError(method, Math.min(ms, bounds.maxMs));
  }
  // The Web API client refuses a 429 whose Retry-After it cannot read with this plain error.
  if (/Retry header did not contain a valid timeout/.test(e?.message ?? '')) {
    return new SlackRateLimitedError(method, Math.min(bounds.missingMs, bounds.maxMs));
  }
  if (e?.code === 'slack_webapi_platform_error') {
    return new SlackCallError(method, e.data?.error, e.data?.error ?? 'platform error');
  }
  return new SlackCallError(method, undefined, e?.message ?? String(err));
}
