import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.js';
import { startHealthServer } from './health-routes.js';
import { SurfaceMetrics } from './metrics.js';

describe('startHealthServer (Socket Mode, or a bot without Slack)', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('serves /healthz, /readyz with each check, and /metrics on the host and port given', async () => {
    const metrics = new SurfaceMetrics({ processMetrics: false });
    metrics.rolloutsStarted.inc({ service: 'checkout' });
    let redisUp = false;
    const server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      metrics,
      logger: silentLogger,
      readiness: () => [
        {
          name: 'redis',
          check: async () => {
            if (!redisUp) throw new Error('connection refused');
          },
        },
      ],
    });
    close = server.close;
    const get = (path: string) => fetch(`http://127.0.0.1:${server.port}${path}`);
    expect((await get('/healthz')).status).toBe(200);
    const down = await get('/readyz');
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ ready: false, checks: { redis: 'connection refused' } });
    redisUp = true;
    expect((await get('/readyz')).status).toBe(200);
    expect(await (await get('/metrics')).text()).toContain(
      'rollout_rollouts_started_total{service="checkout"} 1',
    );
    expect((await get('/slack/events')).status).toBe(404);
  });
});
