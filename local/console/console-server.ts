import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Fault } from '../../shared/config/simulation.js';
import { isRolloutError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { SimulatedFaults } from '../local-mode.js';
import { refuseExposedConsole } from './exposure.js';
import type { ConsoleDirectory } from './console-directory.js';
import type { ConsoleFeed, FeedEvent } from './console-feed.js';
import type { SlackEventSender, SlackSender } from './slack-event-sender.js';
import type { SlackWebApi } from './slack-web-api.js';

/**
 * The local console's HTTP server: the page (static files, no build step), its live feed
 * (server-sent events), and the few calls it makes: type a command, click a button, inject or
 * clear a fault. Commands and clicks become signed requests to the bot's real `/slack/events`
 * (through `SlackEventSender`); what the bot answers reaches the page through the Web API.
 * `/healthz`, `/readyz` and `/metrics` are forwarded to the Slack surface, so `PORT` answers them
 * as in every other mode.
 *
 * It exists only in local mode and has no login, so it binds only to a loopback address (any other
 * `host` is refused at start), answers only requests addressed to a loopback name (no DNS
 * rebinding) and takes changes only as JSON from its own origin (no cross-site requests); the
 * page's Content-Security-Policy allows no inline script.
 */
export interface ConsoleServerOptions {
  port: number;
  host: string;
  api: SlackWebApi;
  feed: ConsoleFeed;
  sender: SlackEventSender;
  directory: ConsoleDirectory;
  faults: SimulatedFaults;
  clusters: string[];
  services: { name: string; clusters: string[] }[];
  /** The Slack surface's base URL (`http://127.0.0.1:<port>`), for the health routes. */
  surfaceUrl: string;
  /** The slash command, `/rollout`. */
  command: string;
  logger: Logger;
}

export interface ConsoleServer {
  readonly port: number;
  /** The address to open, e.g. `http://localhost:3000/`. */
  readonly url: string;
  close(): Promise<void>;
}

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
  '/console/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console/blocks.js': { file: 'blocks.js', type: 'text/javascript; charset=utf-8' },
  '/console/mrkdwn.js': { file: 'mrkdwn.js', type: 'text/javascript; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const HEALTH_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
/** The largest request body the console reads: a command (4,000 characters) or click fits well. */
const MAX_BODY = 64 * 1024;

const CommandRequest = z.object({
  channel: z.string().min(1).max(64),
  user: z.string().regex(/^[UW][A-Z0-9]{2,40}$/),
  text: z.string().max(4000),
});

const ClickRequest = z.object({
  channel: z.string().min(1).max(64),
  user: z.string().regex(/^[UW][A-Z0-9]{2,40}$/),
  ts: z.string().min(1).max(64),
  button: z.object({
    actionId: z.string().min(1).max(255),
    blockId: z.string().max(255),
    value: z.string().max(2000).optional(),
    text: z.string().max(100),
    style: z.string().max(20).optional(),
  }),
});

const FaultRequest = z.object({
  cluster: z.string().min(1),
  fault: z.record(z.string(), z.unknown()),
});
const ClearRequest = z.object({ cluster: z.string().min(1).optional(), id: z.string().optional() });

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  refuseExposedConsole({ HOST: options.host });
  const files = loadStaticFiles();
  const streams = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.end();
      if (err instanceof BodyTooLarge) {
        return json(res, 413, { error: err.message, limitBytes: MAX_BODY });
      }
      if (err instanceof z.ZodError || err instanceof SyntaxError) {
        return json(res, 400, { error: 'not a request this console understands' });
      }
      options.logger.warn({ err, path: req.url }, 'console request failed');
      json(res, 500, { error: 'the console could not do that; see the log' });
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!loopbackHost(req.headers.host)) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('misdirected request');
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const file = STATIC_FILES[path];
      if (file) {
        res.writeHead(200, { 'content-type': file.type, ...SECURITY_HEADERS });
        res.end(req.method === 'HEAD' ? undefined : files.get(file.file));
        return;
      }
      if (HEALTH_ROUTES.has(path)) return forward(path, res);
      if (path === '/console/api/events') return stream(req, res);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, HEAD, POST' }).end();
      return;
    }
    const refusal = refuseCrossSite(req);
    if (refusal) {
      json(res, 403, { error: refusal });
      return;
    }
    const body = await readJson(req);
    switch (path) {
      case '/console/api/command':
        return json(res, 200, await command(CommandRequest.parse(body)));
      case '/console/api/click':
        return json(res, 200, await click(ClickRequest.parse(body)));
      case '/console/api/faults':
        return injectFault(FaultRequest.parse(body), res);
      case '/console/api/faults/clear': {
        const { cluster, id } = ClearRequest.parse(body);
        const clusters = cluster ? [cluster] : options.clusters;
        let cleared = 0;
        try {
          for (const name of clusters) cleared += options.faults.clear(name, id);
        } catch (err) {
          if (isRolloutError(err)) return json(res, 400, { error: err.message });
          throw err;
        }
        options.feed.announce({ type: 'faults' });
        return json(res, 200, { cleared });
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  }

  function sender(channel: string, user: string, responseUrl: string): SlackSender {
    const name = options.directory.channels.find((c) => c.id === channel)?.name ?? channel;
    return { user, channel, channelName: name, responseUrl };
  }

  /** Typed into the message box: `/rollout …` goes to the bot; anything else gets Slack's hint. */
  async function command(request: z.infer<typeof CommandRequest>): Promise<{ ok: true }> {
    const { channel, user } = request;
    const typed = request.text.trim();
    const [word = '', ...rest] = typed.split(/\s+/);
    const tell = (text: string) =>
      options.feed.addEphemeral({ channel, user, text, command: typed });
    if (typed === '') return { ok: true };
    if (!typed.startsWith('/')) {
      tell(`This console takes slash commands only: try \`${options.command} help\`.`);
      return { ok: true };
    }
    if (word !== options.command) {
      tell(`\`${word}\` is not a valid command. Here the app's command is \`${options.command}\`.`);
      return { ok: true };
    }
    const responseUrl = options.api.responseUrl({ channel, user });
    options.feed.noteCommand(responseUrl, typed);
    const answer = await options.sender
      .command(rest.join(' '), sender(channel, user, responseUrl))
      .catch((err: unknown) => ({ status: 0, body: String(err) }));
    // As Slack: the ack's own reply (bad input, help) is shown to the person; a failure says so.
    if (answer.status !== 200) tell(failureText(options.command, answer.status));
    else if (answer.body.trim() !== '') tell(replyOf(answer.body));
    return { ok: true };
  }

  async function click(request: z.infer<typeof ClickRequest>): Promise<{ ok: true }> {
    const { channel, user, ts, button } = request;
    const message = options.api.message(channel, ts);
    if (!message) return { ok: true };
    const responseUrl = options.api.responseUrl({ channel, user });
    const answer = await options.sender
      .click(
        {
          actionId: button.actionId,
          blockId: button.blockId,
          text: button.text,
          ...(button.value !== undefined ? { value: button.value } : {}),
          ...(button.style ? { style: button.style } : {}),
        },
        message,
        sender(channel, user, responseUrl),
      )
      .catch((err: unknown) => ({ status: 0, body: String(err) }));
    if (answer.status !== 200) {
      options.feed.addEphemeral({
        channel,
        user,
        text: `:warning: The app did not answer the click (${answer.status === 0 ? 'no answer within 3 seconds' : `HTTP ${answer.status}`}).`,
      });
    }
    return { ok: true };
  }

  function injectFault(request: z.infer<typeof FaultRequest>, res: ServerResponse): void {
    const parsed = Fault.safeParse({ ...request.fault, cluster: request.cluster });
    if (!parsed.success) return json(res, 400, { error: z.prettifyError(parsed.error) });
    try {
      const id = options.faults.inject(request.cluster, parsed.data);
      options.logger.info({ cluster: request.cluster, id, fault: parsed.data }, 'fault injected');
      options.feed.announce({ type: 'faults' });
      json(res, 200, { id });
    } catch (err) {
      if (isRolloutError(err)) return json(res, 400, { error: err.message });
      throw err;
    }
  }

  function stream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
    });
    const send = (event: string, data: unknown) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    res.write('retry: 1000\n\n');
    send('snapshot', snapshot());
    const unsubscribe = options.feed.subscribe((event: FeedEvent) => {
      if (event.type === 'message') send('message', event.message);
      else if (event.type === 'ephemeral') send('ephemeral', event.ephemeral);
      else send('faults', options.faults.list());
    });
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    streams.add(res);
    req.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(res);
    });
  }

  function snapshot() {
    return {
      command: options.command,
      channels: options.directory.channels,
      people: options.directory.people,
      clusters: options.clusters,
      services: options.services,
      messages: options.feed.messages(),
      ephemerals: options.feed.ephemerals(),
      faults: options.faults.list(),
    };
  }

  async function forward(path: string, res: ServerResponse): Promise<void> {
    const answer = await fetch(`${options.surfaceUrl}${path}`, {
      signal: AbortSignal.timeout(10_000),
    });
    res.writeHead(answer.status, {
      'content-type': answer.headers.get('content-type') ?? 'text/plain',
    });
    res.end(Buffer.from(await answer.arrayBuffer()));
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () =>
      resolve((server.address() as AddressInfo).port),
    );
  });
  return {
    port,
    url: `http://${urlHost(options.host)}:${port}/`,
    async close() {
      for (const res of streams) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The static files, read once: a missing one stops the start rather than the first page load. */
function loadStaticFiles(): Map<string, Buffer> {
  // Beside this module (`local/console/public/`). Local mode runs from source (tsx): it is not
  // compiled into dist/ and not shipped in the bot or agent image.
  const dir = fileURLToPath(new URL('./public/', import.meta.url));
  return new Map(
    Object.values(STATIC_FILES).map(({ file }) => [file, readFileSync(`${dir}${file}`)]),
  );
}

function refuseCrossSite(req: IncomingMessage): string | undefined {
  // A form on another site can post text/plain or a form; only a script of our own page sends JSON.
  if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
    return 'the console takes JSON only';
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== req.headers.host) return 'requests from other origins are refused';
  }
  return undefined;
}

/** A request body over `MAX_BODY`: answered 413 with the limit, not a 500. */
class BodyTooLarge extends Error {
  constructor() {
    super(`the request is over the console's limit of ${MAX_BODY / 1024} KiB (${MAX_BODY} bytes)`);
  }
}

/**
 * The body as JSON. Over `MAX_BODY` (declared or counted) it rejects with `BodyTooLarge` and reads
 * the rest without keeping it, so the client finishes sending and can read the 413.
 */
function readJson(req: IncomingMessage): Promise<unknown> {
  if (Number(req.headers['content-length']) > MAX_BODY) {
    req.resume();
    return Promise.reject(new BodyTooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > MAX_BODY) return;
      size += chunk.length;
      if (size > MAX_BODY) {
        chunks.length = 0;
        reject(new BodyTooLarge());
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'));
      } catch (err) {
        reject(err as Error);
      }
    });
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** What an ack body says, as Slack would show it (its text; blocks are rare in acks). */
function replyOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { text?: unknown };
    return typeof parsed.text === 'string' ? parsed.text : body;
  } catch {
    return body;
  }
}

function failureText(command: string, status: number): string {
  // Slack's own words for an app that did not ack in time or refused the request.
  return status === 0
    ? `\`${command}\` failed with the error "operation_timeout"`
    : `\`${command}\` failed with the error "dispatch_failed" (the app answered HTTP ${status})`;
}

function loopbackHost(header: string | undefined): boolean {
  if (!header) return false;
  const name = header.startsWith('[')
    ? header.slice(0, header.indexOf(']') + 1)
    : header.split(':')[0]!;
  return name === 'localhost' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** The address to print: `localhost` for the usual loopback, else the address itself. */
function urlHost(host: string): string {
  if (host === '127.0.0.1' || host === 'localhost') return 'localhost';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
