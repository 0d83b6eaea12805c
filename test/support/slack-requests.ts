import { createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { SlackApiDouble } from './slack-api-double.js';
import { waitFor } from './wait-for.js';

/**
 * Slack's side of the bot's HTTP endpoint: slash commands and button clicks, signed with the
 * signing secret exactly as Slack signs them (`v0=` HMAC-SHA256 of `v0:<timestamp>:<body>`),
 * posted to Bolt's `/slack/events`. Each carries a fresh `response_url` on the Web API double,
 * so the bot's answer can be read whether it came in the ack or through `respond()`.
 */

export interface SlackHttpResult {
  status: number;
  /** The HTTP response body (a slash command's ack may carry the reply). */
  body: string;
  responseUrl: string;
  /** From sending the request to having read the response, as the sender measured it. */
  elapsedMs: number;
}

/** Sends one HTTP POST; the bench swaps in one that runs on another thread. */
export type HttpSend = (
  url: string,
  request: { headers: Record<string, string>; body: string },
) => Promise<{ status: number; body: string; elapsedMs: number }>;

export const fetchSend: HttpSend = async (url, request) => {
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', ...request });
  const body = await response.text();
  return { status: response.status, body, elapsedMs: performance.now() - started };
};

export interface SignOptions {
  /** Seconds since the epoch to sign with and send; default now. */
  timestamp?: number;
  /** Send this signature instead of the right one. */
  signature?: string;
}

export interface SlackUser {
  user: string;
  channel: string;
}

export function signSlackRequest(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export class SlackRequests {
  constructor(
    private readonly options: {
      /** The bot's events endpoint, e.g. `http://127.0.0.1:3000/slack/events`. */
      eventsUrl: string;
      signingSecret: string;
      api: SlackApiDouble;
      team?: string;
      send?: HttpSend;
    },
  ) {}

  /** `/rollout <text>` from `who`. */
  async command(text: string, who: SlackUser, sign: SignOptions = {}): Promise<SlackHttpResult> {
    const responseUrl = this.options.api.responseUrl();
    const body = new URLSearchParams({
      token: 'verification-token-unused',
      team_id: this.options.team ?? 'T0DOUBLE',
      team_domain: 'rollout-double',
      channel_id: who.channel,
      channel_name: 'deploys',
      user_id: who.user,
      user_name: who.user.toLowerCase(),
      command: '/rollout',
      text,
      api_app_id: 'A0ROLLOUT',
      response_url: responseUrl,
      trigger_id: `trigger-${Date.now()}`,
    }).toString();
    return { ...(await this.post(body, sign)), responseUrl };
  }

  /** A click on a card button (`rollout_approve`, …) whose value is the rollout id. */
  async click(
    actionId: string,
    value: string,
    who: SlackUser & { messageTs?: string },
    sign: SignOptions = {},
  ): Promise<SlackHttpResult> {
    const responseUrl = this.options.api.responseUrl();
    const payload = {
      type: 'block_actions',
      team: { id: this.options.team ?? 'T0DOUBLE', domain: 'rollout-double' },
      user: { id: who.user, username: who.user.toLowerCase(), team_id: 'T0DOUBLE' },
      api_app_id: 'A0ROLLOUT',
      token: 'verification-token-unused',
      container: {
        type: 'message',
        message_ts: who.messageTs ?? '0.0',
        channel_id: who.channel,
        is_ephemeral: false,
      },
      trigger_id: `trigger-${Date.now()}`,
      channel: { id: who.channel, name: 'deploys' },
      message: { type: 'message', ts: who.messageTs ?? '0.0', text: 'card' },
      response_url: responseUrl,
      actions: [
        {
          type: 'button',
          action_id: actionId,
          block_id: 'rollout_actions',
          value,
          text: { type: 'plain_text', text: actionId },
          action_ts: `${Date.now() / 1000}`,
        },
      ],
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    return { ...(await this.post(body, sign)), responseUrl };
  }

  /** Posts a form body to the endpoint, signed (or not, as `sign` says). */
  async post(
    body: string,
    sign: SignOptions = {},
  ): Promise<{ status: number; body: string; elapsedMs: number }> {
    const timestamp = sign.timestamp ?? Math.floor(Date.now() / 1000);
    return (this.options.send ?? fetchSend)(this.options.eventsUrl, {
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature':
          sign.signature ?? signSlackRequest(this.options.signingSecret, timestamp, body),
      },
      body,
    });
  }

  /**
   * The reply the person sees: the text of the ack, if the bot answered in it, else of the first
   * post to the request's response URL.
   */
  async reply(result: SlackHttpResult, timeoutMs = 10_000): Promise<string> {
    if (result.status !== 200) throw new Error(`the request was refused with ${result.status}`);
    const acked = ackText(result.body);
    if (acked !== undefined) return acked;
    const post = await waitFor(() => this.options.api.responses(result.responseUrl)[0], {
      what: `a reply on ${result.responseUrl}`,
      timeoutMs,
    });
    return replyText(post.body);
  }

  /** `command` then `reply`. */
  async ask(text: string, who: SlackUser): Promise<string> {
    return this.reply(await this.command(text, who));
  }
}

function ackText(body: string): string | undefined {
  if (body.trim() === '') return undefined;
  try {
    return replyText(JSON.parse(body) as Record<string, unknown>);
  } catch {
    return body;
  }
}

/** A message's text and the text of its blocks, as one string to search. */
export function replyText(message: Record<string, unknown>): string {
  const parts = [typeof message.text === 'string' ? message.text : ''];
  if (Array.isArray(message.blocks)) parts.push(blocksText(message.blocks));
  return parts.filter(Boolean).join('\n');
}

export function blocksText(blocks: unknown[]): string {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'text' && typeof value === 'string') out.push(value);
        else walk(value);
      }
    }
  };
  walk(blocks);
  return out.join('\n');
}
