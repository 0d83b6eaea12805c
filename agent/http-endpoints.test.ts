import { afterEach, describe, expect, it } from 'vitest';
import { AgentEndpoints } from './http-endpoints.js';
import { SimulatedRouter, simulatedRouterCalls } from './routers/simulated-router.js';
import { SimulatedCluster } from './simulation/simulated-cluster.js';

describe('AgentEndpoints', () => {
  let endpoints: AgentEndpoints | undefined;
  afterEach(() => endpoints?.close());

  it('answers /healthz, /readyz (503 until ready) and /metrics with the active rollouts', async () => {
    let ready = false;
    endpoints = new AgentEndpoints({
      cluster: 'eu-west',
      activeRollouts: () => ['checkout-1', 'search-2'],
      ready: () => ready,
    });
    const port = await endpoints.listen(0, '127.0.0.1');
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);

    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503);
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('rollout_agent_active_rollouts{cluster="eu-west"} 2');
    expect(text).toContain('process_cpu_seconds_total');
    endpoints.deadLetters.inc({ topic: 'rollout.commands.eu-west', kind: 'refused' });
    expect(await (await get('/metrics')).text()).toContain(
      'rollout_dead_letters_total{topic="rollout.commands.eu-west",kind="refused",cluster="eu-west"} 1',
    );
    expect((await get('/nothing')).status).toBe(404);
  });

  it('counts the metrics provider’s backend calls and rounds, so calls per interval can be read', async () => {
    endpoints = new AgentEndpoints({
      cluster: 'eu-west',
      activeRollouts: () => [],
      ready: () => true,
    });
    const port = await endpoints.listen(0, '127.0.0.1');
    endpoints.countMetricsBatch(5);
    endpoints.countMetricsBatch(6);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain('rollout_agent_metrics_queries_total{cluster="eu-west"} 11');
    expect(text).toContain('rollout_agent_metrics_rounds_total{cluster="eu-west"} 2');
  });

  it('serves included driver counters: the simulated router’s calls', async () => {
    endpoints = new AgentEndpoints({
      cluster: 'eu-west',
      activeRollouts: () => [],
      ready: () => true,
    });
    endpoints.include(simulatedRouterCalls);
    const port = await endpoints.listen(0, '127.0.0.1');
    const counters = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
      return {
        setWeight: value(
          /agent_router_calls_total\{operation="setWeight",cluster="eu-west"\} (\d+)/,
        ),
        read: value(/agent_router_calls_total\{operation="read",cluster="eu-west"\} (\d+)/),
      };
    };
    // The counters are per process: other tests may have counted already, so compare deltas.
    const before = await counters();
    const cluster = new SimulatedCluster({ name: 'eu-west' });
    const target = {
      service: 'checkout',
      stableVersion: '1.0.0',
      canaryVersion: '1.1.0',
      strategy: 'canary' as const,
    };
    await new SimulatedRouter(cluster).setWeight(target, 5, {
      rolloutId: 'r1',
      seq: 1,
      stageIndex: 0,
      strategy: 'canary',
    });
    const after = await counters();
    expect(after.setWeight - before.setWeight).toBe(1);
    // setWeight reads its write back, as a real router confirms it.
    expect(after.read - before.read).toBe(1);
  });

  it('rejects listen() on a port already taken, so the caller can decide', async () => {
    endpoints = new AgentEndpoints({
      cluster: 'eu-west',
      activeRollouts: () => [],
      ready: () => true,
    });
    const port = await endpoints.listen(0, '127.0.0.1');
    const second = new AgentEndpoints({
      cluster: 'eu-west',
      activeRollouts: () => [],
      ready: () => true,
    });
    await expect(second.listen(port, '127.0.0.1')).rejects.toThrow(/EADDRINUSE/);
  });
});
