/**
 * A canary end to end in distributed mode on the real drivers: the bot (in this process, on
 * Kafka, Redis and BullMQ), one agent process on `TRAFFIC_ROUTER=gateway-api` (against the
 * Kubernetes API double, through a kubeconfig) and `METRICS_PROVIDER=prometheus` (a real
 * Prometheus scraping a test exporter). The test turns the canary's series bad once the route
 * reaches the 50% stage: the gate breaches, the rollout rolls back, and the HTTPRoute ends with
 * the canary at weight 0.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import type { DistributedMode } from '../../bot/distributed-mode.js';
import {
  FINISHED,
  startStack,
  waitForRollout,
  type DistributedStack,
} from '../support/distributed-stack.js';
import { STARTER } from '../support/e2e-policy.js';
import { spawnEntry, type EntryProcess } from '../support/entry-process.js';
import { anHttpRoute, startKubeApiDouble, type KubeApiDouble } from '../support/kube-api-double.js';
import {
  HEALTHY,
  startMetricsExporter,
  type MetricsExporter,
} from '../support/metrics-exporter.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus-server.js';
import { waitFor } from '../support/wait-for.js';

const NS = 'shop';
const FAILING_STAGE_WEIGHT = 50;

const policyYaml = `
clusters:
  eu-west: {}
defaults:
  stages: [5, 25, 50, 100]
  # Long enough for a breach's errors to reach the query window before the bake ends.
  bake: 4s
  gate:
    interval: 300ms
    minRequests: 20
    failureLimit: 2
    checks:
      - { metric: error_rate, mode: absolute, max: 0.05 }
      - { metric: latency_p99, mode: relative, max: 1.5 }
services:
  checkout:
    channel: C0CHECKOUT
    oncall: S0ONCALL
    clusters: [eu-west]
    stableVersion: 2.4.0
    routing:
      namespace: ${NS}
      httpRoute: checkout
      stableService: checkout-stable
      canaryService: checkout-canary
prometheus:
  minWindow: 3s
`;

/** The canary and stable weights of the route's first rule, as the API double holds them. */
function weights(api: KubeApiDouble): { stable: number; canary: number } {
  const rule = (
    api.route(NS, 'checkout')!.spec!.rules as { backendRefs: { weight: number }[] }[]
  )[0]!;
  return { stable: rule.backendRefs[0]!.weight, canary: rule.backendRefs[1]!.weight };
}

describe('end to end on the real drivers (gateway-api + prometheus, distributed mode)', () => {
  let api: KubeApiDouble;
  let exporter: MetricsExporter;
  let prometheus: PrometheusServer;
  let stack: DistributedStack;
  let bot: DistributedMode;
  let agent: EntryProcess | undefined;

  beforeAll(async () => {
    [api, exporter, stack] = await Promise.all([
      startKubeApiDouble(),
      startMetricsExporter(),
      startStack({ policyYaml }),
    ]);
    api.addService(NS, 'checkout-stable');
    api.addService(NS, 'checkout-canary');
    api.putRoute(
      anHttpRoute({
        namespace: NS,
        name: 'checkout',
        stable: 'checkout-stable',
        canary: 'checkout-canary',
      }),
    );
    // Both versions serve traffic from the start (the canary's pods are up behind their Service).
    exporter.set('checkout', '2.4.0', HEALTHY);
    exporter.set('checkout', '2.4.1', HEALTHY);
    prometheus = await startPrometheus({ targets: [exporter.target], scrapeIntervalMs: 500 });
    const kubeconfig = join(stack.dir, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig);

    agent = spawnEntry('agent/main.ts', {
      name: 'agent eu-west (real drivers)',
      env: stack.env({
        AGENT_CLUSTER: 'eu-west',
        TRAFFIC_ROUTER: 'gateway-api',
        KUBECONFIG: kubeconfig,
        METRICS_PROVIDER: 'prometheus',
        PROMETHEUS_URL: prometheus.url,
        AGENT_SAMPLING_INTERVAL: '300ms',
        AGENT_HEARTBEAT_INTERVAL: '500ms',
        PORT: '0',
      }),
      readyLine: /"msg":"agent running"/,
    });
    [bot] = await Promise.all([stack.startBot(new RecordingNotifier()), agent.ready]);
  }, 90_000);

  afterAll(async () => {
    await agent?.kill('SIGTERM');
    await stack?.stop();
    await prometheus?.stop();
    await exporter?.close();
    await api?.close();
  });

  it(`rolls back when the canary's series go bad at the ${FAILING_STAGE_WEIGHT}% stage; the HTTPRoute ends at canary weight 0`, async () => {
    const service = bot.bot.service;
    const started = await service.start({
      service: 'checkout',
      version: '2.4.1',
      startedBy: STARTER,
    });

    // The chosen stage: once the route carries 50% to the canary, its requests start failing.
    await waitFor(() => weights(api).canary === FAILING_STAGE_WEIGHT, {
      what: `the HTTPRoute to reach canary weight ${FAILING_STAGE_WEIGHT}`,
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    exporter.set('checkout', '2.4.1', { ...HEALTHY, errorRatio: 0.4 });

    const done = await waitForRollout(service, started.id, FINISHED, 60_000);
    expect(done.status).toBe('rolled_back');
    expect(weights(api)).toEqual({ stable: 100, canary: 0 });

    // What the agent wrote to the route, in order: each stage once up to the failing one, then back.
    const written = api
      .routeRequests()
      .filter((r) => r.method === 'PATCH' && r.status === 200)
      .map((r) => {
        const rules = (r.body as { spec: { rules: { backendRefs: { weight: number }[] }[] } }).spec
          .rules;
        return rules[0]!.backendRefs[1]!.weight;
      });
    expect(written).toEqual([0, 5, 25, 50, 0]);
    const annotations = api.route(NS, 'checkout')!.metadata.annotations!;
    expect(JSON.parse(annotations['rollout-chatops.io/rollout']!)).toMatchObject({
      stableVersion: '2.4.0',
      stableService: 'checkout-stable',
    });
    expect(JSON.parse(annotations['rollout-chatops.io/applied']!)).toMatchObject({
      rolloutId: started.id,
    });

    // The gate judged Prometheus' numbers: passes before the chosen stage, the breach at it.
    const trail = await service.auditTrail(started.id);
    const gates = trail.filter((h) => h.input === 'gate_result').map((h) => h.detail ?? '');
    expect(gates.some((d) => d.startsWith('pass'))).toBe(true);
    expect(gates.some((d) => /error_rate/.test(d) && !d.startsWith('pass'))).toBe(true);
    const applied = trail.filter((h) => h.input === 'stage_applied').map((h) => h.detail ?? '');
    expect(applied.some((d) => d.includes('at 100%'))).toBe(false);
  }, 120_000);
});
