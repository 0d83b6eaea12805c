import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An event the double accepted (202), as PagerDuty would have ingested it. */
export interface AcceptedEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** Every request, whatever it was answered. */
export interface ReceivedRequest {
  path: string;
  status: number;
  body: unknown;
}

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
const ACTIONS = ['trigger', 'acknowledge', 'resolve'];

/**
 * A stand-in for PagerDuty's Events API v2 as documented: `POST /v2/enqueue` with a JSON event,
 * answered `202 {status: "success", message: "Event processed", dedup_key}`; an event that breaks
 * the documented rules (a 32-character `routing_key`, an `event_action` of trigger, acknowledge or
 * resolve, a `dedup_key` of at most 255 characters and required unless triggering, and for a
 * trigger `payload.summary` of at most 1024 characters, `payload.source` and `payload.severity` of
 * critical, error, warning or info) is answered `400 {status: "invalid event", message, errors}`.
 * `rateLimit(n)` answers the next n requests 429 (with `Retry-After` when given), as PagerDuty
 * does past about 120 events a minute per key; `failNext(n)` answers them 500.
 */
export class PagerDutyDouble {
  readonly requests: ReceivedRequest[] = [];
  readonly events: AcceptedEvent[] = [];
  private server: Server | undefined;
  private limited = 0;
  private retryAfterSeconds: number | undefined;
  private failing = 0;

  /** The base URL to give as `PAGERDUTY_EVENTS_URL`. */
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void readBody(req).then((text) => {
        const { status, body, headers } = this.answer(req, text);
        this.requests.push({ path: req.url ?? '', status, body: safeParse(text) });
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  rateLimit(requests: number, retryAfterSeconds?: number): void {
    this.limited = requests;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  failNext(requests: number): void {
    this.failing = requests;
  }

  /** Accepted events of one action, optionally for one dedup key. */
  accepted(action: AcceptedEvent['event_action'], dedupKey?: string): AcceptedEvent[] {
    return this.events.filter(
      (e) => e.event_action === action && (dedupKey === undefined || e.dedup_key === dedupKey),
    );
  }

  private answer(
    req: IncomingMessage,
    text: string,
  ): { status: number; body: unknown; headers?: Record<string, string> } {
    if (req.method !== 'POST' || req.url !== '/v2/enqueue') {
      return {
        status: 404,
        body: { status: 'not found', message: `no route ${req.method} ${req.url}` },
      };
    }
    if (this.limited > 0) {
      this.limited--;
      return {
        status: 429,
        body: {
          status: 'throttle event',
          message: 'Requests for this service are arriving too quickly. Please retry later.',
        },
        ...(this.retryAfterSeconds !== undefined && {
          headers: { 'retry-after': String(this.retryAfterSeconds) },
        }),
      };
    }
    if (this.failing > 0) {
      this.failing--;
      return { status: 500, body: { status: 'error', message: 'internal error' } };
    }
    const event = safeParse(text);
    const errors = problemsOf(event);
    if (errors.length > 0) {
      return {
        status: 400,
        body: { status: 'invalid event', message: 'Event object is invalid', errors },
      };
    }
    const accepted = event as AcceptedEvent;
    this.events.push(accepted);
    return {
      status: 202,
      body: { status: 'success', message: 'Event processed', dedup_key: accepted.dedup_key },
    };
  }
}

function problemsOf(event: unknown): string[] {
  if (typeof event !== 'object' || event === null) return ['Event object is not valid JSON'];
  const e = event as Record<string, unknown>;
  const errors: string[] = [];
  if (typeof e.routing_key !== 'string' || e.routing_key.length !== 32)
    errors.push("'routing_key' must be a 32 character integration key");
  if (typeof e.event_action !== 'string' || !ACTIONS.includes(e.event_action))
    errors.push("'event_action' must be one of trigger, acknowledge, resolve");
  if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255))
    errors.push("'dedup_key' must be a string of at most 255 characters");
  if (e.event_action !== 'trigger' && typeof e.dedup_key !== 'string')
    errors.push("'dedup_key' is required for acknowledge and resolve");
  if (e.event_action === 'trigger') {
    const p = e.payload as Record<string, unknown> | undefined;
    if (typeof p !== 'object' || p === null) errors.push("'payload' is missing");
    else {
      if (typeof p.summary !== 'string' || p.summary.length === 0 || p.summary.length > 1024)
        errors.push("'payload.summary' must be 1 to 1024 characters");
      if (typeof p.source !== 'string' || p.source.length === 0)
        errors.push("'payload.source' is missing");
      if (typeof p.severity !== 'string' || !SEVERITIES.includes(p.severity))
        errors.push("'payload.severity' must be one of critical, error, warning, info");
    }
  }
  return errors;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
