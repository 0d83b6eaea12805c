import { createHmac } from 'node:crypto';
import { LOCAL_TEAM } from './slack-web-api.js';

/**
 * Slack's side of the bot's events endpoint, for the local console: a `/rollout` command or a
 * button click, built as Slack builds it (form body, `payload` JSON for interactions), signed with
 * the signing secret as Slack signs (`v0=` HMAC-SHA256 of `v0:<timestamp>:<body>`) and posted to
 * Bolt's `/slack/events`. The bot cannot tell it from Slack.
 */

export interface SlackSender {
  user: string;
  channel: string;
  /** The channel's name, as Slack sends it beside the id. */
  channelName: string;
  /** Where the bot's answer goes (the Web API's `responseUrl()`). */
  responseUrl: string;
}

/** A button as it was on the message the person clicked. */
export interface ClickedButton {
  actionId: string;
  blockId: string;
  value?: string;
  text: string;
  style?: string;
}

export interface SlackEndpointAnswer {
  status: number;
  /** A slash command's ack may carry the reply (`{"response_type":"ephemeral","text":…}`). */
  body: string;
}

export const APP_ID = 'A0ROLLOUT';

export function signSlackRequest(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export class SlackEventSender {
  constructor(
    private readonly options: {
      /** e.g. `http://127.0.0.1:41234/slack/events` */
      eventsUrl: string;
      signingSecret: string;
      /** The slash command the app registers. */
      command: string;
    },
  ) {}

  /**
   * `/rollout <text>` typed by `from.user` in `from.channel`. Slack sends the text with `&`, `<`
   * and `>` as entities (its control characters; with the manifest's `should_escape: false`
   * mentions and links stay as typed), so this does too.
   */
  command(text: string, from: SlackSender): Promise<SlackEndpointAnswer> {
    const body = new URLSearchParams({
      token: 'unused-verification-token',
      team_id: LOCAL_TEAM.id,
      team_domain: LOCAL_TEAM.domain,
      channel_id: from.channel,
      channel_name: from.channelName,
      user_id: from.user,
      user_name: from.user.toLowerCase(),
      command: this.options.command,
      text: text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
      api_app_id: APP_ID,
      is_enterprise_install: 'false',
      response_url: from.responseUrl,
      trigger_id: triggerId(),
    }).toString();
    return this.post(body);
  }

  /** A click on `button` of the channel message `message` (as Slack shows it now). */
  click(
    button: ClickedButton,
    message: { ts: string; text: string; blocks?: unknown[] },
    from: SlackSender,
  ): Promise<SlackEndpointAnswer> {
    const payload = {
      type: 'block_actions',
      user: {
        id: from.user,
        username: from.user.toLowerCase(),
        name: from.user.toLowerCase(),
        team_id: LOCAL_TEAM.id,
      },
      api_app_id: APP_ID,
      token: 'unused-verification-token',
      container: {
        type: 'message',
        message_ts: message.ts,
        channel_id: from.channel,
        is_ephemeral: false,
      },
      trigger_id: triggerId(),
      team: { id: LOCAL_TEAM.id, domain: LOCAL_TEAM.domain },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: from.channel, name: from.channelName },
      message: {
        type: 'message',
        ts: message.ts,
        text: message.text,
        ...(message.blocks ? { blocks: message.blocks } : {}),
      },
      state: { values: {} },
      response_url: from.responseUrl,
      actions: [
        {
          type: 'button',
          action_id: button.actionId,
          block_id: button.blockId,
          text: { type: 'plain_text', text: button.text, emoji: true },
          ...(button.value !== undefined ? { value: button.value } : {}),
          ...(button.style ? { style: button.style } : {}),
          action_ts: (Date.now() / 1000).toFixed(6),
        },
      ],
    };
    return this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
  }

  private async post(body: string): Promise<SlackEndpointAnswer> {
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(this.options.eventsUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature': signSlackRequest(this.options.signingSecret, timestamp, body),
      },
      body,
      // Slack gives up on an ack after 3 seconds; so do we.
      signal: AbortSignal.timeout(3_000),
    });
    return { status: response.status, body: await response.text() };
  }
}

let triggers = 0;
function triggerId(): string {
  return `${Date.now()}.${++triggers}.local`;
}
