/**
 * The agent process refuses bad real-driver configuration at start, before it consumes a single
 * command, with a message naming the field to fix (exit code 2): a route that does not exist, a
 * service without routing, an unreachable API server, RBAC missing, a PromQL template that does
 * not parse. The checks run before the agent connects to Kafka, so none is needed here.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnEntry } from '../support/entry-process.js';
import { anHttpRoute, startKubeApiDouble, type KubeApiDouble } from '../support/kube-api-double.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus-server.js';

const routing = (httpRoute: string) =>
  `    routing: { namespace: shop, httpRoute: ${httpRoute}, stableService: checkout-stable, canaryService: checkout-canary }`;

const policy = (serviceExtra: string, topExtra = '') => `
clusters: { eu-west: {} }
services:
  checkout:
    channel: C0CHECKOUT
    clusters: [eu-west]
    stableVersion: 2.4.0
${serviceExtra}
${topExtra}
`;

describe('agent start with real drivers: bad configuration is refused, naming the field', () => {
  let api: KubeApiDouble;
  let prometheus: PrometheusServer;
  let dir: string;

  beforeAll(async () => {
    [api, prometheus, dir] = await Promise.all([
      startKubeApiDouble(),
      startPrometheus({ targets: [] }),
      mkdtemp(join(tmpdir(), 'rollout-refusals-')),
    ]);
    await api.writeKubeconfig(join(dir, 'kubeconfig'));
    await writeFile(
      join(dir, 'unreachable-kubeconfig'),
      `apiVersion: v1
kind: Config
clusters: [{ name: gone, cluster: { server: 'http://127.0.0.1:1', insecure-skip-tls-verify: true } }]
users: [{ name: agent, user: { token: t } }]
contexts: [{ name: gone, context: { cluster: gone, user: agent } }]
current-context: gone
`,
    );
    api.addService('shop', 'checkout-stable');
    api.addService('shop', 'checkout-canary');
    api.putRoute(
      anHttpRoute({
        namespace: 'shop',
        name: 'checkout',
        stable: 'checkout-stable',
        canary: 'checkout-canary',
      }),
    );
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await prometheus?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function startAgent(name: string, policyYaml: string, env: Record<string, string>) {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, policyYaml);
    const agent = spawnEntry('agent/main.ts', {
      name: `agent (${name})`,
      env: {
        KAFKA_BROKERS: '127.0.0.1:1',
        AGENT_CLUSTER: 'eu-west',
        ROLLOUT_CONFIG: file,
        LOG_LEVEL: 'warn',
        COMMAND_SIGNING: 'off',
        ...env,
      },
      readyLine: /"msg":"agent running"/,
    });
    const exit = await agent.exited;
    return { exit, output: agent.output() };
  }

  const gateway = (kubeconfig = join(dir, 'kubeconfig')) => ({
    TRAFFIC_ROUTER: 'gateway-api',
    KUBECONFIG: kubeconfig,
  });

  it('a route that does not exist', async () => {
    const { exit, output } = await startAgent('no-route', policy(routing('nope')), gateway());
    expect(exit.code).toBe(2);
    expect(output).toContain(
      'agent: services.checkout.routing.httpRoute: HTTPRoute shop/nope not found in cluster eu-west',
    );
  });

  it('a service without routing', async () => {
    const { exit, output } = await startAgent('no-routing', policy(''), gateway());
    expect(exit.code).toBe(2);
    expect(output).toContain('agent: services.checkout.routing: is not set');
  });

  it('an unreachable API server', async () => {
    const { exit, output } = await startAgent(
      'unreachable',
      policy(routing('checkout')),
      gateway(join(dir, 'unreachable-kubeconfig')),
    );
    expect(exit.code).toBe(2);
    expect(output).toContain('agent: KUBECONFIG: cannot get HTTPRoute shop/checkout');
    expect(output).toContain('cannot reach http://127.0.0.1:1');
  });

  it('no kubeconfig and not in a pod', async () => {
    const { exit, output } = await startAgent('no-kubeconfig', policy(routing('checkout')), {
      TRAFFIC_ROUTER: 'gateway-api',
      // Empty means unset: whatever the machine running the tests has.
      KUBECONFIG: '',
      KUBERNETES_SERVICE_HOST: '',
    });
    expect(exit.code).toBe(2);
    expect(output).toContain('agent: KUBECONFIG: is not set and the agent is not in a pod');
  });

  it('RBAC without get on httproutes', async () => {
    api.forbid('get', 'shop');
    try {
      const { exit, output } = await startAgent(
        'forbidden',
        policy(routing('checkout')),
        gateway(),
      );
      expect(exit.code).toBe(2);
      expect(output).toContain('agent: services.checkout.routing: the agent may not get');
      expect(output).toContain('grant verb "get" on resource "httproutes"');
    } finally {
      api.allow();
    }
  });

  it('a PromQL template that does not parse', async () => {
    const { exit, output } = await startAgent(
      'bad-promql',
      policy("    prometheus: { errors: 'sum(rate(http_requests_total{$selector}[$window]' }"),
      { METRICS_PROVIDER: 'prometheus', PROMETHEUS_URL: prometheus.url },
    );
    expect(exit.code).toBe(2);
    expect(output).toContain('agent: services.checkout.prometheus.errors: Prometheus cannot run');
    expect(output).toContain('parse error');
  });

  it('prometheus without PROMETHEUS_URL', async () => {
    const { exit, output } = await startAgent('no-url', policy(''), {
      METRICS_PROVIDER: 'prometheus',
    });
    expect(exit.code).toBe(2);
    expect(output).toContain('agent: PROMETHEUS_URL: is not set');
  });

  it('command signing on (the default) without the public key', async () => {
    const { exit, output } = await startAgent('no-verify-key', policy(''), {
      COMMAND_SIGNING: '',
    });
    expect(exit.code).toBe(2);
    expect(output).toContain(
      'agent: COMMAND_VERIFY_KEY_FILE: is not set: commands are signed by default',
    );
  });

  it('a verify key file that holds no public key', async () => {
    await writeFile(join(dir, 'not-a-key.pem'), 'hello');
    const { exit, output } = await startAgent('bad-verify-key', policy(''), {
      COMMAND_SIGNING: 'on',
      COMMAND_VERIFY_KEY_FILE: join(dir, 'not-a-key.pem'),
    });
    expect(exit.code).toBe(2);
    expect(output).toContain('holds no PEM public key');
    expect(output).toContain('COMMAND_VERIFY_KEY_FILE');
  });

  it('SASL without TLS, and its password never printed', async () => {
    const { exit, output } = await startAgent('sasl-in-clear', policy(''), {
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'agent-eu-west',
      KAFKA_SASL_PASSWORD: 'hunter2-very-secret',
    });
    expect(exit.code).toBe(2);
    expect(output).toContain('agent: KAFKA_SSL: is not true while SASL (scram-sha-512) is set');
    expect(output).not.toContain('hunter2');
  });

  it('a SASL mechanism Kafka clients do not have', async () => {
    const { exit, output } = await startAgent('bad-mechanism', policy(''), {
      KAFKA_SSL: 'true',
      KAFKA_SASL_MECHANISM: 'gssapi',
    });
    expect(exit.code).toBe(2);
    expect(output).toContain(
      'agent: KAFKA_SASL_MECHANISM: is "gssapi": expected plain, scram-sha-256 or scram-sha-512',
    );
  });
});
