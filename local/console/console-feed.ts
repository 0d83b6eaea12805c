import type { ResponseUrlPost, SlackMessage, SlackWebApi } from './slack-web-api.js';

/** A channel message or thread reply as the console page shows it. */
export interface FeedMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  broadcast: boolean;
  text: string;
  blocks?: unknown[];
  edited: boolean;
  postedAt: number;
}

/** A message only one person sees: a command's ack or `response_url` reply, `chat.postEphemeral`. */
export interface FeedEphemeral {
  id: number;
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  /** The command it answers, as typed (`/rollout start …`). */
  command?: string;
  at: number;
}

export type FeedEvent =
  | { type: 'message'; message: FeedMessage }
  | { type: 'ephemeral'; ephemeral: FeedEphemeral }
  | { type: 'faults' };

/** Ephemeral messages kept for a page that (re)connects; Slack keeps them only until reload. */
const MAX_EPHEMERALS = 200;

/**
 * What the console's channels show, as the bot sends it: channel messages and threads come from
 * the Web API's own record (the same one the tests read); ephemeral replies come from the
 * Web API's `response_url` posts and `chat.postEphemeral`, and from command acks (which Slack
 * shows to the person who typed the command). Listeners hear each change once it happened.
 */
export class ConsoleFeed {
  private readonly ephemeralList: FeedEphemeral[] = [];
  private readonly listeners = new Set<(event: FeedEvent) => void>();
  private readonly commands = new Map<string, string>();
  private nextId = 0;
  private readonly detach: () => void;

  constructor(private readonly api: SlackWebApi) {
    const onMessage = (message: SlackMessage) =>
      this.announce({ type: 'message', message: feedMessage(message) });
    const onEphemeral = (e: { channel: string; user: string; text: string; blocks?: unknown[] }) =>
      this.addEphemeral(e);
    const onResponse = (post: ResponseUrlPost) => this.fromResponse(post);
    api.events.on('message', onMessage);
    api.events.on('ephemeral', onEphemeral);
    api.events.on('response', onResponse);
    this.detach = () => {
      api.events.off('message', onMessage);
      api.events.off('ephemeral', onEphemeral);
      api.events.off('response', onResponse);
    };
  }

  messages(): FeedMessage[] {
    return this.api.messages().map(feedMessage);
  }

  ephemerals(): FeedEphemeral[] {
    return [...this.ephemeralList];
  }

  /** Calls `listener` with every change from now on; returns the unsubscribe. */
  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  announce(event: FeedEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** Remembers which command a response URL answers, so its reply can show it. */
  noteCommand(responseUrl: string, command: string): void {
    this.commands.set(responseUrl, command);
    if (this.commands.size > MAX_EPHEMERALS) {
      this.commands.delete(this.commands.keys().next().value!);
    }
  }

  addEphemeral(e: {
    channel: string;
    user: string;
    text: string;
    blocks?: unknown[];
    command?: string;
  }): void {
    const ephemeral: FeedEphemeral = { id: ++this.nextId, ...e, at: Date.now() };
    this.ephemeralList.push(ephemeral);
    this.ephemeralList.splice(0, Math.max(0, this.ephemeralList.length - MAX_EPHEMERALS));
    this.announce({ type: 'ephemeral', ephemeral });
  }

  close(): void {
    this.detach();
    this.listeners.clear();
  }

  private fromResponse(post: ResponseUrlPost): void {
    // `in_channel` answers became channel messages (the Web API posted them); the rest are the
    // person's own. A post without context did not come from the console.
    if (!post.context || post.body.response_type === 'in_channel') return;
    const text = typeof post.body.text === 'string' ? post.body.text : '';
    const blocks = Array.isArray(post.body.blocks) ? post.body.blocks : undefined;
    const command = this.commands.get(post.url);
    this.addEphemeral({
      channel: post.context.channel,
      user: post.context.user,
      text,
      ...(blocks ? { blocks } : {}),
      ...(command ? { command } : {}),
    });
  }
}

function feedMessage(m: SlackMessage): FeedMessage {
  return {
    channel: m.channel,
    ts: m.ts,
    ...(m.threadTs ? { threadTs: m.threadTs } : {}),
    broadcast: m.broadcast,
    text: m.text,
    ...(m.blocks ? { blocks: m.blocks } : {}),
    edited: m.updates.length > 0,
    postedAt: m.postedAt,
  };
}
