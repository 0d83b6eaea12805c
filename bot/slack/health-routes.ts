import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CustomRoute } from '@slack/bolt';
import type { Logger } from '../../shared/log.js';
import type { SurfaceMetrics } from './metrics.js';
import { checkReadiness, type ReadinessCheck } from './readiness.js';

export interface HealthRoutesOptions {
  metrics: SurfaceMetrics;
  readiness: () => readonly ReadinessCheck[];
  logger: Logger;
}

/**
 * `/healthz` (the process is up), `/readyz` (Kafka, Redis and Slack answer: 200, else 503 with
 * what failed) and `/metrics` (Prometheus text). No signature check: they reveal no rollout data
 * and must answer probes, so only these live outside Bolt's verified endpoint.
 */
export function healthRoutes(options: HealthRoutesOptions): CustomRoute[] {
  const get = (path: string, handle: (res: ServerResponse) => Promise<void>): CustomRoute => ({
    path,
    method: ['GET'],
    handler: (_req: IncomingMessage, res: ServerResponse) => {
      handle(res).catch((err: unknown) => {
        options.logger.warn({ err, path }, 'health route failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    },
  });
  return [
    get('/healthz', async (res) => json(res, 200, { ok: true })),
    get('/readyz', async (res) => {
      const report = await checkReadiness(options.readiness());
      json(res, report.ready ? 200 : 503, report);
    }),
    get('/metrics', async (res) => {
      const text = await options.metrics.text();
      res.writeHead(200, { 'content-type': options.metrics.contentType });
      res.end(text);
    }),
  ];
}

/** The same routes on a plain server, for Socket Mode (where Bolt serves no HTTP of ours). */
export function routeRequest(routes: readonly CustomRoute[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    const route = routes.find(
      (r) => r.path === path && [r.method].flat().includes(req.method ?? 'GET'),
    );
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    route.handler(Object.assign(req, { params: {} }), res);
  };
}

/**
 * The health routes on a server of their own, bound to `host:port`: for Socket Mode (Bolt's
 * Socket Mode HTTP server ignores the host and does not report its port) and for a bot run
 * without Slack at all (no `SLACK_BOT_TOKEN`: pass a `new SurfaceMetrics()`).
 */
export async function startHealthServer(
  options: HealthRoutesOptions & { port: number; host: string },
): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer(routeRequest(healthRoutes(options)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
