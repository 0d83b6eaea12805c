import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../shared/log.js';
import { RECEIVED_AT } from './bolt-handlers.js';
import type { SurfaceMetrics } from './metrics.js';

export interface RequestGuardOptions {
  /** Bolt's events endpoint, e.g. `/slack/events`. */
  endpoint: string;
  metrics: SurfaceMetrics;
  logger: Logger;
  /** Seconds a request's timestamp may differ from now, either way. Default 300 (Slack's advice). */
  toleranceSeconds?: number;
  now?: () => number;
}

/**
 * In front of Bolt's request listener. Bolt checks the signature and refuses stale timestamps
 * but accepts any timestamp from the future, so a captured request signed with a future
 * timestamp could be replayed later: refuse timestamps more than five minutes from now in either
 * direction (401), before Bolt reads the body. Also notes when each request arrived (for the ack
 * latency) and counts the requests Bolt refuses for their signature.
 */
export function guardRequests(
  inner: RequestListener,
  options: RequestGuardOptions,
): RequestListener {
  const tolerance = options.toleranceSeconds ?? 300;
  const now = options.now ?? Date.now;
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || pathOf(req) !== options.endpoint) {
      inner(req, res);
      return;
    }
    (req as unknown as Record<string, unknown>)[RECEIVED_AT] = performance.now();
    const header = req.headers['x-slack-request-timestamp'];
    // A missing header is Bolt's to refuse (it lets only a sanitized `ssl_check` through).
    if (header !== undefined) {
      const seconds = Number(Array.isArray(header) ? header[0] : header);
      const skew = Number.isFinite(seconds) ? Math.abs(now() / 1000 - seconds) : Infinity;
      if (skew > tolerance) {
        options.metrics.requestsRefused.inc({ reason: 'timestamp' });
        options.logger.warn(
          {
            skewSeconds: Number.isFinite(skew) ? Math.round(skew) : 'not a number',
            remote: req.socket.remoteAddress,
          },
          'refused a Slack request: timestamp more than five minutes from now',
        );
        req.resume();
        res.writeHead(401).end();
        return;
      }
    }
    res.once('finish', () => {
      if (res.statusCode === 401) options.metrics.requestsRefused.inc({ reason: 'signature' });
    });
    inner(req, res);
  };
}

/** What Bolt's `customPropertiesExtractor` adds to each handler's context. */
export function arrivalOf(req: IncomingMessage): Record<string, number> {
  const at = (req as unknown as Record<string, unknown>)[RECEIVED_AT];
  return typeof at === 'number' ? { [RECEIVED_AT]: at } : {};
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
