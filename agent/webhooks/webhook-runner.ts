import type { WebhookResult } from '../../shared/contracts/events.js';
import type { Strategy, WebhookCheck } from '../../shared/rollout/plan.js';

/**
 * Runs a gate's webhook checks (a smoke, conformance or load test the policy names) from inside
 * the cluster, where their targets are reachable. Each is POSTed what it is to judge; its status
 * and JSON body decide. Results are data, never exceptions: a gate must see "failed: timed out",
 * not a sampler that crashed.
 */

/** What a webhook is told about the version it judges (the JSON body of the POST). */
export interface WebhookCall {
  rolloutId: string;
  service: string;
  /** The version being rolled out: the one to judge. */
  version: string;
  stableVersion: string;
  cluster: string;
  stageIndex: number;
  /**
   * Percentage of live traffic on `version` at this stage (0: a blue-green preview); absent for a
   * rollout the agent recovered from its route after a restart, before its next command.
   */
  weight?: number;
  strategy: Strategy;
}

/** A body larger than this fails the check: a webhook answers a verdict, not a report. */
export const MAX_BODY_BYTES = 10 * 1024;

export interface WebhookRunnerOptions {
  /** Default the global `fetch` (undici, Node 20). */
  fetch?: typeof fetch;
  /** Wait before retry n (1-based). Default 250 ms × n: retries are bounded by `retries` anyway. */
  retryDelayMs?: (retry: number) => number;
  /** Default a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** For the duration in a passing result's detail. Default `Date.now`. */
  now?: () => number;
}

/**
 * Calls `check` for `call`: up to `1 + check.retries` tries, each aborted after `check.timeoutMs`;
 * the first try that meets `check.expect` passes, and the last failure is reported otherwise.
 * Never rejects.
 */
export async function runWebhook(
  check: WebhookCheck,
  call: WebhookCall,
  options: WebhookRunnerOptions = {},
): Promise<WebhookResult> {
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const delay = options.retryDelayMs ?? ((n) => 250 * n);
  const tries = 1 + check.retries;
  let detail = 'not run';
  for (let attempt = 1; attempt <= tries; attempt++) {
    if (attempt > 1) await sleep(delay(attempt - 1));
    const outcome = await tryOnce(check, call, options);
    detail = outcome.detail;
    if (outcome.passed) return { name: check.name, passed: true, detail, attempts: attempt };
  }
  return {
    name: check.name,
    passed: false,
    detail: tries > 1 ? `${detail} (after ${tries} tries)` : detail,
    attempts: tries,
  };
}

async function tryOnce(
  check: WebhookCheck,
  call: WebhookCall,
  options: WebhookRunnerOptions,
): Promise<{ passed: boolean; detail: string }> {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const started = now();
  // One signal for the whole try, body included: a server that trickles its body is a timeout too.
  const signal = AbortSignal.timeout(check.timeoutMs);
  let text: string;
  let status: number;
  try {
    const response = await doFetch(check.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(call),
      signal,
      redirect: 'manual',
    });
    status = response.status;
    const body = await readCapped(response, MAX_BODY_BYTES);
    if (body === undefined) return fail(`status ${status}, body over ${MAX_BODY_BYTES / 1024} KB`);
    text = body;
  } catch (err) {
    if (signal.aborted) return fail(`timed out after ${check.timeoutMs}ms`);
    return fail(`cannot call ${shownUrl(check.url)}: ${causeOf(err)}`);
  }
  if (status !== check.expect.status) {
    return fail(`status ${status}, expected ${check.expect.status}${excerpt(text)}`);
  }
  let json: unknown;
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      return fail(`status ${status}, body is not JSON${excerpt(text)}`);
    }
  }
  for (const [path, expected] of Object.entries(check.expect.body ?? {})) {
    const actual = json === undefined ? undefined : valueAt(json, path);
    if (actual !== expected) {
      return fail(
        `status ${status}, body ${path} is ${actual === undefined ? 'missing' : JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`,
      );
    }
  }
  return { passed: true, detail: `status ${status} in ${now() - started}ms` };
}

function fail(detail: string): { passed: false; detail: string } {
  return { passed: false, detail };
}

/** The body as text, or undefined once it exceeds `max` bytes (the rest is not read). */
async function readCapped(response: Response, max: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `a.b.0.c` in parsed JSON; undefined when any step is missing. */
function valueAt(json: unknown, path: string): unknown {
  let value: unknown = json;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** The first 120 characters of a body, for a person reading why a check failed. */
function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '';
  return `: ${flat.length > 120 ? `${flat.slice(0, 120)}…` : flat}`;
}

/** fetch reports network errors as `TypeError: fetch failed` with the reason in `cause`. */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const reason = cause instanceof Error ? cause.message : undefined;
  return reason ?? (err instanceof Error ? err.message : String(err));
}

/** A webhook's URL as results show it: origin and path, never a query string (tokens live there). */
function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return 'the webhook';
  }
}
