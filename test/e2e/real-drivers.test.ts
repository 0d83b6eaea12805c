/**
 * A canary end to end in distributed mode on the real drivers: the bot (in this process, on
 * Kafka, Redis and BullMQ), one agent process on `TRAFFIC_ROUTER=gateway-api` (against the
 * Kubernetes API double, through a kubeconfig) and `METRICS_PROVIDER=prometheus` (a real
 * Prometheus scraping a test exporter). The test turns the canary's series bad once the route
 * reaches the 50% stage: the gate breaches, the rollout rolls back, and the HTTPRoute ends with
 * the canary at weight 0.
 *
 * Blue-green on the same drivers: the preview at weight 0 gets no live requests, so each
 * blue-green service has a webhook check (a small HTTP server here) and a 10% mirror; one
 * webhook answers pass and its rollout switches to 100% and succeeds, the other answers 500 and
 * its rollout rolls back. Either way the HTTPRoute carries a `RequestMirror` filter to the
 * preview's Service only while the preview is judged.
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
import { startWebhookServer, type WebhookServer } from '../support/webhook-server.js';

const NS = 'shop';
const FAILING_STAGE_WEIGHT = 50;

/** A blue-green service of the policy, judged by its own webhook. */
const blueGreenService = (name: string, stableVersion: string, webhookUrl: string) => `
  ${name}:
    channel: C0${name.toUpperCase()}
    clusters: [eu-west]
    stableVersion: ${stableVersion}
    strategy: blue-green
    stages: [0, 100]
    bake: 2s
    blueGreen: { mirrorPercent: 10 }
    gate:
      webhooks:
        - name: smoke
          url: ${webhookUrl}/smoke
          timeout: 1s
          retries: 1
          expect: { status: 200, body: { result.status: passed } }
    routing:
      namespace: ${NS}
      httpRoute: ${name}
      stableService: ${name}-blue
      canaryService: ${name}-green
`;

const policyYaml = (webhooks: { search: string; catalog: string }) => `
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
${blueGreenService('search', '7.1.0', webhooks.search)}
${blueGreenService('catalog', '3.0.0', webhooks.catalog)}
prometheus:
  minWindow: 3s
`;

/** The canary and stable weights of the route's first rule, as the API double holds them. */
function weights(api: KubeApiDouble, route = 'checkout'): { stable: number; canary: number } {
  const rule = (api.route(NS, route)!.spec!.rules as { backendRefs: { weight: number }[] }[])[0]!;
  return { stable: rule.backendRefs[0]!.weight, canary: rule.backendRefs[1]!.weight };
}

interface WrittenRule {
  backendRefs: { name: string; weight: number }[];
  filters?: { type: string; requestMirror?: { backendRef: { name: string }; percent?: number } }[];
}

/** Each accepted write to one route: the weights by Service, and where it mirrored requests. */
function writesTo(api: KubeApiDouble, route: string): { weights: string; mirror?: string }[] {
  return api
    .routeRequests()
    .filter((r) => r.method === 'PATCH' && r.status === 200 && r.path.endsWith(`/${route}`))
    .map((r) => {
      const rule = (r.body as { spec: { rules: WrittenRule[] } }).spec.rules[0]!;
      const mirror = rule.filters?.find((f) => f.type === 'RequestMirror')?.requestMirror;
      return {
        weights: rule.backendRefs.map((b) => `${b.name}=${b.weight}`).join(','),
        ...(mirror && { mirror: `${mirror.backendRef.name} ${mirror.percent}%` }),
      };
    });
}

describe('end to end on the real drivers (gateway-api + prometheus, distributed mode)', () => {
  let api: KubeApiDouble;
  let exporter: MetricsExporter;
  let prometheus: PrometheusServer;
  let stack: DistributedStack;
  let bot: DistributedMode;
  let agent: EntryProcess | undefined;
  let searchSmoke: WebhookServer;
  let catalogSmoke: WebhookServer;

  beforeAll(async () => {
    [searchSmoke, catalogSmoke] = await Promise.all([
      startWebhookServer({ status: 200, body: { result: { status: 'passed' } } }),
      startWebhookServer({ status: 500, body: { result: { status: 'failed' } } }),
    ]);
    [api, exporter, stack] = await Promise.all([
      startKubeApiDouble(),
      startMetricsExporter(),
      startStack({
        policyYaml: policyYaml({ search: searchSmoke.url, catalog: catalogSmoke.url }),
      }),
    ]);
    for (const [name, stable, canary] of [
      ['checkout', 'checkout-stable', 'checkout-canary'],
      ['search', 'search-blue', 'search-green'],
      ['catalog', 'catalog-blue', 'catalog-green'],
    ] as const) {
      api.addService(NS, stable);
      api.addService(NS, canary);
      api.putRoute(anHttpRoute({ namespace: NS, name, stable, canary }));
    }
    // Both versions serve traffic from the start (the canary's pods are up behind their Service).
    exporter.set('checkout', '2.4.0', HEALTHY);
    exporter.set('checkout', '2.4.1', HEALTHY);
    // Blue-green: the live versions serve; a preview's series grow only with mirrored requests.
    exporter.set('search', '7.1.0', HEALTHY);
    exporter.set('catalog', '3.0.0', HEALTHY);
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
    await searchSmoke?.close();
    await catalogSmoke?.close();
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

    // Prometheus was asked once per metric per sampling round (5, and 1 more for interval
    // counts), not 5 per version of each rollout: the agent's own counters say so.
    const serving = agent!
      .output()
      .split('\n')
      .find((line) => line.includes('"msg":"serving /healthz'));
    const port = /"port":(\d+)/.exec(serving ?? '')?.[1];
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const counter = (name: string) =>
      Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    const rounds = counter('rollout_agent_metrics_rounds_total');
    expect(rounds).toBeGreaterThan(0);
    expect(counter('rollout_agent_metrics_queries_total')).toBeLessThanOrEqual(6 * rounds);
    // It sampled as the elected replica: the cluster's lease names it.
    expect(api.lease('default', 'rollout-agent-eu-west')?.spec?.holderIdentity).toMatch(/:\d+$/);
    // It read routes from a watch of their namespace (list, then watch from its resourceVersion).
    const collection = api.routeRequests().filter((r) => r.path.endsWith('/httproutes'));
    expect(collection.some((r) => r.query.watch !== 'true' && r.status === 200)).toBe(true);
    expect(collection.some((r) => r.query.watch === 'true' && r.status === 200)).toBe(true);
  }, 120_000);

  it('switches a blue-green rollout to 100% once its webhook passes the preview, mirroring 10% to it only meanwhile', async () => {
    const service = bot.bot.service;
    const started = await service.start({
      service: 'search',
      version: '7.2.0',
      startedBy: STARTER,
    });
    // The mirror is on: the preview's series grow with the mirrored requests (10% of 20 rps).
    await waitFor(() => writesTo(api, 'search').some((w) => w.mirror !== undefined), {
      what: 'the mirror to the preview',
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    exporter.set('search', '7.2.0', { ...HEALTHY, rps: 2 });
    // Switched: all live traffic reaches the new version, whose gate at 100% judges it.
    await waitFor(() => weights(api, 'search').canary === 100, {
      what: 'the switch to 100%',
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    exporter.set('search', '7.2.0', HEALTHY);
    exporter.idle('search', '7.1.0');

    const done = await waitForRollout(service, started.id, FINISHED, 60_000);
    expect(done.status).toBe('succeeded');
    // Preview at 0 with the mirror, the switch to 100 without it, the promotion (roles swap:
    // search-green is now the stable Service with all traffic).
    expect(writesTo(api, 'search')).toEqual([
      // `start`, then the first stage's `set_weight` (a new applied mark): both the preview.
      { weights: 'search-blue=100,search-green=0', mirror: 'search-green 10%' },
      { weights: 'search-blue=100,search-green=0', mirror: 'search-green 10%' },
      { weights: 'search-blue=0,search-green=100' },
      { weights: 'search-blue=0,search-green=100' },
    ]);
    expect(weights(api, 'search')).toEqual({ stable: 0, canary: 100 });
    // The webhook was told what to judge, from inside the cluster.
    expect(searchSmoke.calls()[0]?.body).toMatchObject({
      rolloutId: started.id,
      service: 'search',
      version: '7.2.0',
      stableVersion: '7.1.0',
      cluster: 'eu-west',
      stageIndex: 0,
      weight: 0,
      strategy: 'blue-green',
    });
    const trail = await service.auditTrail(started.id);
    const gates = trail.filter((h) => h.input === 'gate_result').map((h) => h.detail ?? '');
    const firstPass = trail.findIndex(
      (h) => h.input === 'gate_result' && h.detail?.startsWith('pass'),
    );
    const switched = trail.findIndex(
      (h) => h.input === 'stage_applied' && h.detail?.includes('at 100%'),
    );
    expect(firstPass).toBeGreaterThan(-1);
    expect(switched).toBeGreaterThan(firstPass);
    expect(gates.some((d) => d.includes('fail'))).toBe(false);
  }, 120_000);

  it('rolls a blue-green rollout back when its webhook fails the preview: never switched, mirror removed', async () => {
    const service = bot.bot.service;
    const started = await service.start({
      service: 'catalog',
      version: '3.1.0',
      startedBy: STARTER,
    });
    const done = await waitForRollout(service, started.id, FINISHED, 60_000);
    expect(done.status).toBe('rolled_back');
    expect(writesTo(api, 'catalog')).toEqual([
      { weights: 'catalog-blue=100,catalog-green=0', mirror: 'catalog-green 10%' },
      { weights: 'catalog-blue=100,catalog-green=0', mirror: 'catalog-green 10%' },
      { weights: 'catalog-blue=100,catalog-green=0' },
    ]);
    expect(weights(api, 'catalog')).toEqual({ stable: 100, canary: 0 });
    expect(catalogSmoke.calls().length).toBeGreaterThanOrEqual(2);
    // The gate says which check failed and why.
    const trail = await service.auditTrail(started.id);
    const gates = trail.filter((h) => h.input === 'gate_result').map((h) => h.detail ?? '');
    expect(
      gates.some((d) => d.includes('webhook smoke failed in eu-west: status 500, expected 200')),
    ).toBe(true);
    const applied = trail.filter((h) => h.input === 'stage_applied').map((h) => h.detail ?? '');
    expect(applied.some((d) => d.includes('at 100%'))).toBe(false);
  }, 120_000);
});
