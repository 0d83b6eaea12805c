import { z } from 'zod';
import type { Logger } from '../../shared/log.js';
import {
  describeQuery,
  type CanIDeployQuery,
  type ContractCheckProblem,
  type ContractChecks,
  type ContractRow,
  type ContractVerdict,
} from '../../shared/ports/contract-checks.js';

export interface PactBrokerChecksOptions {
  /** The broker's base URL (`PACT_BROKER_URL`); a path prefix in it is kept. */
  url: string;
  /** Sent as `Authorization: Bearer …` (`PACT_BROKER_TOKEN`); never logged. */
  token?: string;
  logger: Logger;
  /** Per request. Default 5 s. */
  timeoutMs?: number;
  /** Tries per question, the first included, when the broker does not answer or answers 5xx. Default 3. */
  maxAttempts?: number;
  /** First retry delay, doubled per retry up to `maxDelayMs`. Defaults 500 ms and 5 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** For tests. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The broker's answer as documented (pact_broker's `MatrixDecorator`): `summary.deployable` is
 * true, false, or null when a verification is missing; `summary.reason` is one reason per line;
 * counts and rows are read when present. Anything else is not an answer.
 */
const BrokerAnswer = z.object({
  summary: z.object({
    deployable: z.boolean().nullable(),
    reason: z.string(),
    failed: z.number().int().nonnegative().optional(),
  }),
  matrix: z
    .array(
      z.object({
        consumer: z.object({ name: z.string(), version: z.object({ number: z.string() }) }),
        provider: z.object({
          name: z.string(),
          version: z.object({ number: z.string() }).nullable().optional(),
        }),
        verificationResult: z.object({ success: z.boolean() }).nullable().optional(),
      }),
    )
    .optional(),
});
type BrokerAnswer = z.infer<typeof BrokerAnswer>;

/** How much of an unexpected body goes into a reason. */
const SHOWN_BODY = 200;

/**
 * `ContractChecks` on the Pact Broker's HTTP API: `GET /can-i-deploy` for a version against an
 * environment, `GET /matrix` with two version selectors (`latestby=cvpv`) for a version against
 * one other version. Bounded: each request times out, and only no answer or a 5xx is retried, a
 * few times with capped backoff; a 4xx would be answered the same again. Every failure is an
 * `unknown` verdict with its reason, never an exception and never `yes`.
 *
 * The broker's `deployable: null` (a pact not verified by the version it meets) is `unknown`,
 * except beside a failed verification: the broker reports null whenever any row is unverified,
 * even when another failed, and a failure is a definite `no`.
 */
export class PactBrokerChecks implements ContractChecks {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: PactBrokerChecksOptions) {
    // A bad URL is a configuration mistake: say so at start, not at the first release.
    const base = new URL(options.url);
    this.base = base.toString().replace(/\/?$/, '/');
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async canIDeploy(query: CanIDeployQuery): Promise<ContractVerdict> {
    const what = describeQuery(query);
    const url = this.urlFor(query);
    let lastProblem = 'no attempt made';
    let lastCode: ContractCheckProblem = 'unreachable';
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const outcome = await this.ask(url, what);
      if (outcome.kind === 'verdict') return outcome.verdict;
      lastProblem = outcome.problem;
      lastCode = outcome.code;
      if (attempt === this.maxAttempts) break;
      const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
      this.options.logger.warn(
        { query: what, attempt, problem: lastProblem, retryInMs: delay },
        'Pact Broker did not answer; retrying',
      );
      await this.sleep(delay);
    }
    this.options.logger.error(
      { query: what, attempts: this.maxAttempts, problem: lastProblem },
      'Pact Broker unreachable; the contract check is unknown',
    );
    const failure = lastCode === 'bad_answer' ? 'gave no can-i-deploy answer' : 'did not answer';
    return unknown(
      lastCode,
      `the Pact Broker ${failure} for ${what} (${this.maxAttempts} tries; last: ${lastProblem}); ` +
        'contracts are unchecked, so this is not a yes',
    );
  }

  private urlFor(query: CanIDeployQuery): URL {
    if ('environment' in query.to) {
      const url = new URL('can-i-deploy', this.base);
      url.searchParams.set('pacticipant', query.pacticipant);
      url.searchParams.set('version', query.version);
      url.searchParams.set('environment', query.to.environment);
      return url;
    }
    const url = new URL('matrix', this.base);
    for (const selector of [query, query.to]) {
      url.searchParams.append('q[][pacticipant]', selector.pacticipant);
      url.searchParams.append('q[][version]', selector.version);
    }
    url.searchParams.set('latestby', 'cvpv');
    return url;
  }

  /** One request: a verdict, or a problem worth retrying. */
  private async ask(
    url: URL,
    what: string,
  ): Promise<
    | { kind: 'verdict'; verdict: ContractVerdict }
    | { kind: 'retry'; problem: string; code: ContractCheckProblem }
  > {
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        headers: {
          accept: 'application/hal+json, application/json',
          ...(this.options.token !== undefined && {
            authorization: `Bearer ${this.options.token}`,
          }),
        },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      const problem = timedOut ? `no answer within ${this.timeoutMs} ms` : causeOf(err);
      return { kind: 'retry', problem, code: 'unreachable' };
    }
    if (res.status >= 500)
      return { kind: 'retry', problem: `HTTP ${res.status}`, code: 'unreachable' };
    if (res.status === 401 || res.status === 403) {
      this.options.logger.error(
        { query: what, status: res.status },
        'the Pact Broker refused the token',
      );
      return {
        kind: 'verdict',
        verdict: unknown(
          'unauthorized',
          `the Pact Broker answered ${res.status} to can-i-deploy for ${what}: ` +
            (this.options.token === undefined
              ? 'it wants a token; set PACT_BROKER_TOKEN (or PACT_BROKER_TOKEN_FILE)'
              : 'it refused the token; check PACT_BROKER_TOKEN (or PACT_BROKER_TOKEN_FILE) and its permissions'),
        ),
      };
    }
    const body = parseJson(text);
    if (res.status !== 200) {
      return {
        kind: 'verdict',
        verdict: unknown(
          'refused',
          `the Pact Broker refused can-i-deploy for ${what} (HTTP ${res.status}: ${brokerErrors(body, text)}); ` +
            'check the pacticipant names (pact.pacticipants) and pact.environment in the policy',
        ),
      };
    }
    const answer = BrokerAnswer.safeParse(body);
    if (!answer.success) {
      // A proxy's error page, or a broker speaking another version of the API: retrying may help.
      return {
        kind: 'retry',
        code: 'bad_answer',
        problem: `an answer that is not can-i-deploy's JSON: ${text.slice(0, SHOWN_BODY).replace(/\s+/g, ' ')}`,
      };
    }
    return { kind: 'verdict', verdict: verdictOf(answer.data) };
  }
}

function verdictOf(answer: BrokerAnswer): ContractVerdict {
  const { deployable, reason, failed } = answer.summary;
  const blocking: ContractRow[] = (answer.matrix ?? [])
    .filter((row) => row.verificationResult?.success !== true)
    .map((row) => ({
      consumer: { pacticipant: row.consumer.name, version: row.consumer.version.number },
      provider: {
        pacticipant: row.provider.name,
        ...(row.provider.version ? { version: row.provider.version.number } : {}),
      },
      ...(row.verificationResult ? { success: row.verificationResult.success } : {}),
    }));
  const failedRows = blocking.some((r) => r.success === false) || (failed ?? 0) > 0;
  const verdict =
    deployable === true ? 'yes' : deployable === false || failedRows ? 'no' : 'unknown';
  const shown =
    reason.trim() === ''
      ? `the broker gave no reason (deployable: ${deployable})`
      : reason.trim().split('\n').join('; ');
  return { verdict, reason: shown, ...(blocking.length > 0 && { blocking }) };
}

function unknown(problem: ContractCheckProblem, reason: string): ContractVerdict {
  return { verdict: 'unknown', reason, problem };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The broker's `{ errors: { param: [message] } }` as one line, else the start of the body. */
function brokerErrors(body: unknown, text: string): string {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (typeof errors === 'object' && errors !== null) {
    return Object.entries(errors as Record<string, unknown>)
      .map(([field, messages]) => `${field}: ${[messages].flat().map(String).join(', ')}`)
      .join('; ');
  }
  return text.slice(0, SHOWN_BODY).replace(/\s+/g, ' ') || 'no body';
}

/** fetch's "fetch failed" hides the reason (ECONNREFUSED, ENOTFOUND) in `cause`. */
function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}
