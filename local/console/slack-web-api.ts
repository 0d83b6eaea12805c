import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import { bucketsOf, type SlackLimits } from '../../shared/ports/slack-budget.js';

/**
 * The part of Slack's Web API the bot uses, served over HTTP in this process: the local console's
 * Slack, and the tests' Slack double (test/support/slack-api-double.ts re-exports this class), so
 * what the tests check is what the console shows.
 *
 * Point `SLACK_API_URL` at `apiUrl` and the bot's Web API client talks to it as it would to Slack.
 * It keeps channel messages as Slack would (posted, updated in place, threads), records every call
 * (including those it refused), answers `response_url` posts, and can answer 429 with
 * `Retry-After` or 503 for a while (tests). Methods it does not know answer `unknown_method`, as
 * Slack does. It listens on loopback only: it is nobody's Slack but this process's.
 */

export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
  /** 200, 429 when it was rate-limited, 503 when "Slack was down" (neither carried out). */
  status: number;
  /** Slack's `error` when `ok` was false. */
  error?: string;
  at: number;
}

export interface SlackMessage {
  channel: string;
  ts: string;
  /** Set on thread replies: the parent message's ts. */
  threadTs?: string;
  broadcast: boolean;
  text: string;
  blocks?: unknown[];
  /** How many times `chat.update` changed it, and when (ms). */
  updates: number[];
  postedAt: number;
}

export interface EphemeralMessage {
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  at: number;
}

/** Where a `response_url` came from: the channel and person of the command or click. */
export interface ResponseContext {
  channel: string;
  user: string;
}

export interface ResponseUrlPost {
  url: string;
  body: Record<string, unknown>;
  at: number;
  /** Given when the URL was made with `responseUrl(context)`. */
  context?: ResponseContext;
}

export interface RateLimit {
  /** Methods to refuse (`chat.update`); all when omitted. */
  methods?: string[];
  retryAfterSeconds: number;
  /** The `Retry-After` header as sent, to test a broken one (`null`: none at all). Default: `retryAfterSeconds`. */
  retryAfterHeader?: string | null;
  /** Refuse for this long from now. */
  forMs: number;
}

export interface SlackWebApiOptions {
  /** The bot token requests must carry; others get `invalid_auth`. Default: any `xoxb-` token. */
  token?: string;
  /** User group id → member user ids, for `usergroups.users.list`. */
  userGroups?: Record<string, string[]>;
  /** Port to listen on (on 127.0.0.1); default a free one. */
  port?: number;
  /**
   * Calls kept for `calls()`, the oldest dropped first. Default: all of them (tests); a long-running
   * console keeps a bounded number.
   */
  maxRecordedCalls?: number;
  /**
   * Slack's published limits, enforced as token buckets: per method across the workspace, and
   * `chat.postMessage` per channel. A call over them answers 429 with `Retry-After` (whole seconds,
   * as Slack sends) and is not carried out. Default: none (the console).
   */
  limits?: SlackLimits;
}

/** What `events` emits, after the change it reports. */
export interface SlackWebApiEvents {
  /** Every Web API call, carried out or refused. */
  call: [RecordedCall];
  /** A channel message or thread reply posted, or a message updated in place. */
  message: [SlackMessage, 'posted' | 'updated'];
  /** `chat.postEphemeral`. */
  ephemeral: [EphemeralMessage];
  /** A post to a `response_url`. */
  response: [ResponseUrlPost];
}

/** The workspace this Web API pretends to be (what `auth.test` says). */
export const LOCAL_TEAM = {
  id: 'T0DOUBLE',
  domain: 'rollout-double',
  name: 'Rollout double',
  url: 'https://rollout-double.slack.com/',
} as const;

type Answer = { error: string } | Record<string, unknown>;

export class SlackWebApi {
  readonly events = new EventEmitter<SlackWebApiEvents>();
  private readonly recorded: RecordedCall[] = [];
  private readonly posted: SlackMessage[] = [];
  private readonly ephemeral: EphemeralMessage[] = [];
  private readonly responsePosts: ResponseUrlPost[] = [];
  private readonly responseContexts = new Map<string, ResponseContext>();
  private readonly groups = new Map<string, string[]>();
  private limits: (RateLimit & { until: number })[] = [];
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private unavailable = false;
  private nextTs = 0;
  private nextResponse = 0;
  private readonly tsBase = Math.floor(Date.now() / 1000);

  private constructor(
    private readonly server: Server,
    /** `http://127.0.0.1:<port>` */
    readonly url: string,
    private readonly options: SlackWebApiOptions,
  ) {
    for (const [id, members] of Object.entries(options.userGroups ?? {}))
      this.groups.set(id, members);
  }

  static async start(options: SlackWebApiOptions = {}): Promise<SlackWebApi> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const api = new SlackWebApi(server, `http://127.0.0.1:${port}`, options);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      api.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    });
    return api;
  }

  /** Give this to the bot as `SLACK_API_URL`. */
  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  /**
   * A fresh `response_url`, as Slack puts in each command and interaction. With `context`, posts
   * to it say which channel and person they answer (the console shows them there).
   */
  responseUrl(context?: ResponseContext): string {
    const url = `${this.url}/response/${++this.nextResponse}`;
    if (context) this.responseContexts.set(url, context);
    return url;
  }

  /** Every call, in order; only those of `method` when given. */
  calls(method?: string): RecordedCall[] {
    return this.recorded.filter((c) => method === undefined || c.method === method);
  }

  /** Channel messages and thread replies as they stand now, in the order they were posted. */
  messages(channel?: string): SlackMessage[] {
    return this.posted.filter((m) => channel === undefined || m.channel === channel);
  }

  /** Top-level messages of a channel (cards, cluster alerts), not thread replies. */
  channelMessages(channel: string): SlackMessage[] {
    return this.messages(channel).filter((m) => m.threadTs === undefined);
  }

  message(channel: string, ts: string): SlackMessage | undefined {
    return this.posted.find((m) => m.channel === channel && m.ts === ts);
  }

  /** The replies in a message's thread, in order. */
  thread(channel: string, ts: string): SlackMessage[] {
    return this.posted.filter((m) => m.channel === channel && m.threadTs === ts);
  }

  ephemerals(): EphemeralMessage[] {
    return [...this.ephemeral];
  }

  /** Posts to response URLs; only those to `url` when given. */
  responses(url?: string): ResponseUrlPost[] {
    return this.responsePosts.filter((r) => url === undefined || r.url === url);
  }

  setUserGroup(id: string, members: string[]): void {
    this.groups.set(id, members);
  }

  /** Answers 429 with `Retry-After` to matching calls for `forMs`. */
  rateLimit(limit: RateLimit): void {
    this.limits.push({ ...limit, until: Date.now() + limit.forMs });
  }

  clearRateLimits(): void {
    this.limits = [];
  }

  /** While true, every Web API call answers HTTP 503 (Slack is down). */
  setUnavailable(down: boolean): void {
    this.unavailable = down;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const raw = await readBody(req);
    if (req.method === 'POST' && path.startsWith('/response/')) {
      this.respond(`${this.url}${path}`, parseBody(req, raw));
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (req.method !== 'POST' || !path.startsWith('/api/')) {
      res.writeHead(404).end();
      return;
    }
    const method = path.slice('/api/'.length);
    const args = parseBody(req, raw);
    const record = (status: number, error?: string) => {
      const call: RecordedCall = {
        method,
        args,
        status,
        at: Date.now(),
        ...(error ? { error } : {}),
      };
      this.recorded.push(call);
      const max = this.options.maxRecordedCalls;
      if (max !== undefined && this.recorded.length > max)
        this.recorded.splice(0, this.recorded.length - max);
      this.events.emit('call', call);
    };
    if (this.unavailable) {
      record(503, 'service_unavailable');
      res
        .writeHead(503, { 'content-type': 'text/plain' })
        .end('Slack is down (local Web API told to be)');
      return;
    }
    const limit = this.activeLimit(method);
    const overSeconds = limit ? undefined : this.overLimit(method, args);
    if (limit || overSeconds !== undefined) {
      record(429, 'ratelimited');
      const header =
        limit && limit.retryAfterHeader !== undefined
          ? limit.retryAfterHeader
          : String(limit ? limit.retryAfterSeconds : overSeconds);
      res
        .writeHead(429, {
          'content-type': 'application/json',
          ...(header !== null ? { 'retry-after': header } : {}),
        })
        .end(JSON.stringify({ ok: false, error: 'ratelimited' }));
      return;
    }
    const authorized = this.authorized(req, args);
    const { answer, after } = authorized
      ? this.answer(method, args)
      : { answer: { error: 'invalid_auth' }, after: undefined };
    const error = 'error' in answer && typeof answer.error === 'string' ? answer.error : undefined;
    record(200, error);
    after?.();
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify(error ? { ok: false, error } : { ok: true, ...answer }));
  }

  /** A post to a response URL; `in_channel` ones also become a channel message, as in Slack. */
  private respond(url: string, body: Record<string, unknown>): void {
    const context = this.responseContexts.get(url);
    const post: ResponseUrlPost = { url, body, at: Date.now(), ...(context ? { context } : {}) };
    this.responsePosts.push(post);
    this.events.emit('response', post);
    if (context && body.response_type === 'in_channel') {
      const { answer, after } = this.postMessage({ ...body, channel: context.channel });
      if (!('error' in answer)) after?.();
    }
  }

  /** The answer, and what to announce once the call is recorded (so `call` comes first). */
  private answer(
    method: string,
    args: Record<string, unknown>,
  ): { answer: Answer; after?: () => void } {
    switch (method) {
      case 'api.test':
        return { answer: { args } };
      case 'auth.test':
        return {
          answer: {
            url: LOCAL_TEAM.url,
            team: LOCAL_TEAM.name,
            user: 'rollout',
            team_id: LOCAL_TEAM.id,
            user_id: 'U0ROLLOUTBOT',
            bot_id: 'B0ROLLOUTBOT',
          },
        };
      case 'chat.postMessage':
        return this.postMessage(args);
      case 'chat.update':
        return this.update(args);
      case 'chat.postEphemeral': {
        const channel = str(args.channel);
        const user = str(args.user);
        if (!channel || !user)
          return { answer: { error: channel ? 'user_not_in_channel' : 'channel_not_found' } };
        const text = str(args.text) ?? '';
        if (!text && !args.blocks) return { answer: { error: 'no_text' } };
        const message: EphemeralMessage = {
          channel,
          user,
          text,
          ...blocksOf(args),
          at: Date.now(),
        };
        this.ephemeral.push(message);
        return {
          answer: { message_ts: this.ts() },
          after: () => this.events.emit('ephemeral', message),
        };
      }
      case 'usergroups.users.list': {
        const members = this.groups.get(str(args.usergroup) ?? '');
        return { answer: members ? { users: [...members] } : { error: 'no_such_subteam' } };
      }
      default:
        return { answer: { error: 'unknown_method' } };
    }
  }

  private postMessage(args: Record<string, unknown>): { answer: Answer; after?: () => void } {
    const channel = str(args.channel);
    if (!channel || !/^[CGD][A-Z0-9]+$/.test(channel))
      return { answer: { error: 'channel_not_found' } };
    const text = str(args.text) ?? '';
    if (!text && !args.blocks) return { answer: { error: 'no_text' } };
    const threadTs = str(args.thread_ts);
    if (threadTs && !this.message(channel, threadTs))
      return { answer: { error: 'thread_not_found' } };
    const message: SlackMessage = {
      channel,
      ts: this.ts(),
      ...(threadTs ? { threadTs } : {}),
      broadcast: threadTs !== undefined && bool(args.reply_broadcast),
      text,
      ...blocksOf(args),
      updates: [],
      postedAt: Date.now(),
    };
    this.posted.push(message);
    return {
      answer: { channel, ts: message.ts, message: { type: 'message', text, ts: message.ts } },
      after: () => this.events.emit('message', message, 'posted'),
    };
  }

  private update(args: Record<string, unknown>): { answer: Answer; after?: () => void } {
    const channel = str(args.channel);
    const ts = str(args.ts);
    const message = channel && ts ? this.message(channel, ts) : undefined;
    if (!message) return { answer: { error: 'message_not_found' } };
    const text = str(args.text) ?? '';
    if (!text && !args.blocks) return { answer: { error: 'no_text' } };
    message.text = text;
    // As Slack does: an update without blocks leaves a message without blocks.
    const blocks = blocksOf(args).blocks;
    if (blocks) message.blocks = blocks;
    else delete message.blocks;
    message.updates.push(Date.now());
    return {
      answer: { channel, ts, text },
      after: () => this.events.emit('message', message, 'updated'),
    };
  }

  private activeLimit(method: string): RateLimit | undefined {
    const now = Date.now();
    this.limits = this.limits.filter((l) => l.until > now);
    return this.limits.find((l) => !l.methods || l.methods.includes(method));
  }

  /**
   * Takes a token from each of the call's buckets, or says how many whole seconds until it could
   * (nothing taken). Calls Slack would not carry out (unauthorized, bad arguments) count too.
   */
  private overLimit(method: string, args: Record<string, unknown>): number | undefined {
    if (!this.options.limits) return undefined;
    const now = Date.now();
    const buckets = bucketsOf(this.options.limits, method, str(args.channel) ?? '');
    const levels = buckets.map((b) => {
      const held = this.buckets.get(b.key);
      return held ? Math.min(b.burst, held.tokens + (now - held.at) * b.perMs) : b.burst;
    });
    const short = buckets.map((b, i) => (levels[i]! < 1 ? (1 - levels[i]!) / b.perMs : 0));
    const waitMs = Math.max(0, ...short);
    if (waitMs > 0) return Math.max(1, Math.ceil(waitMs / 1000));
    buckets.forEach((b, i) => this.buckets.set(b.key, { tokens: levels[i]! - 1, at: now }));
    return undefined;
  }

  private authorized(req: IncomingMessage, args: Record<string, unknown>): boolean {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : str(args.token);
    if (!token) return false;
    return this.options.token ? token === this.options.token : token.startsWith('xoxb-');
  }

  private ts(): string {
    this.nextTs += 1;
    return `${this.tsBase}.${String(this.nextTs).padStart(6, '0')}`;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The Web API client sends forms with nested values as JSON text; response URLs get JSON. */
function parseBody(req: IncomingMessage, raw: string): Record<string, unknown> {
  if (raw === '') return {};
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    return JSON.parse(raw) as Record<string, unknown>;
  }
  const form = parseQuery(raw);
  const args: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(form)) {
    const one = Array.isArray(value) ? value[0] : value;
    args[key] = typeof one === 'string' && /^[[{]/.test(one) ? tryJson(one) : one;
  }
  return args;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function bool(value: unknown): boolean {
  return value === true || value === 'true' || value === '1';
}

function blocksOf(args: Record<string, unknown>): { blocks?: unknown[] } {
  return Array.isArray(args.blocks) ? { blocks: args.blocks } : {};
}
