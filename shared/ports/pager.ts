import { RolloutError } from '../errors.js';

/** PagerDuty's severities (Events API v2 `payload.severity`). */
export type PageSeverity = 'critical' | 'error' | 'warning' | 'info';

/** An incident to open on on-call's pager. */
export interface PageTrigger {
  /** The integration's key: a secret-ish credential, never logged. */
  routingKey: string;
  /** One incident per key: a repeated trigger with the same key adds to it rather than paging again. */
  dedupKey: string;
  summary: string;
  /** The affected system (`checkout`, `cluster eu-west`). */
  source: string;
  severity: PageSeverity;
  /** What kind of problem (`automatic_rollback`, `agent_silent`). */
  class: string;
  component?: string;
  details?: Record<string, unknown>;
}

/**
 * Pages people outside Slack. Implementation: PagerDuty's Events API v2. Both calls are safe to
 * repeat (the pager deduplicates by `dedupKey`; resolving a resolved or unknown incident does
 * nothing). They resolve once the pager accepted the event, and reject with `PageRejectedError`
 * when it refused it for good (a retry cannot help), or with another error once retries ran out.
 */
export interface Pager {
  trigger(page: PageTrigger): Promise<void>;
  resolve(routingKey: string, dedupKey: string): Promise<void>;
}

/** The pager refused the event as invalid (PagerDuty's 400): `errors` is what it said. */
export class PageRejectedError extends RolloutError {
  constructor(
    readonly dedupKey: string,
    readonly errors: string[],
  ) {
    super(
      'page_rejected',
      `the pager refused event ${dedupKey}: ${errors.join('; ') || 'no reason given'}`,
    );
  }
}

/** The pager could not be reached, or kept answering 429/5xx, through every retry. */
export class PagerUnavailableError extends RolloutError {
  constructor(
    readonly dedupKey: string,
    detail: string,
  ) {
    super('pager_unavailable', `could not deliver event ${dedupKey} to the pager: ${detail}`);
  }
}
