/**
 * The agent process in distributed mode: one deployment per cluster, consuming that cluster's
 * command topic on Kafka. This file only wires: environment → adapters → `RolloutAgent`.
 * (In local mode `npm start` runs simulated agents inside the bot process instead.)
 */
import { exitGracefullyOnSignals } from '../shared/graceful-shutdown.js';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { KafkaTopicBroker } from '../shared/adapters/kafka-topic-broker.js';
import { systemClock } from '../shared/clock.js';
import { AgentEnv, kafkaConsumerTimings, parseEnv } from '../shared/config/env.js';
import { commandVerifier, kafkaSecurity } from '../shared/config/security.js';
import { parsePolicy } from '../shared/config/policy-loader.js';
import type { Policy } from '../shared/config/policy.js';
import { gateFor } from '../shared/config/plan-from-policy.js';
import { consumersOf } from '../shared/config/dependencies.js';
import type { SequentialCheck, WebhookCheck } from '../shared/rollout/plan.js';
import { ConfigError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/log.js';
import { TopicCommandBus } from '../shared/messaging/topic-command-bus.js';
import { TopicEventBus } from '../shared/messaging/topic-event-bus.js';
import { RolloutAgent } from './agent.js';
import { AgentEndpoints } from './http-endpoints.js';
import {
  gatewayServices,
  httpRouteApi,
  httpRouteInformer,
  leaseElector,
  prometheusOptions,
  verifyDrivers,
} from './driver-config.js';
import { createMetricsProvider, type MetricsConfig } from './metrics/factory.js';
import { simulatedRouterCalls } from './routers/simulated-router.js';
import { createRouter, type RouterConfig } from './routers/factory.js';
import type { HttpRouteInformer } from './routers/http-route-informer.js';
import { SimulatedCluster } from './simulation/simulated-cluster.js';

export const AgentMainEnv = AgentEnv.extend({
  /**
   * The simulated cluster's state file: routes survive a restart of the agent process (as a
   * real cluster's would). Memory only when unset.
   */
  SIMULATION_STATE_FILE: z.string().min(1).optional(),
  /** Set by Kubernetes in every pod; the `gateway-api` router then uses the pod's service account. */
  KUBERNETES_SERVICE_HOST: z.string().min(1).optional(),
});
export type AgentMainEnv = z.infer<typeof AgentMainEnv>;

const SHUTDOWN_TIMEOUT_MS = 30_000;

export async function main(): Promise<void> {
  const env = parseEnv(AgentMainEnv, process.env);
  const cluster = env.AGENT_CLUSTER;
  // The agent and the adapters add their own bindings (cluster, component).
  const logger = createLogger('agent', env.LOG_LEVEL);
  if (env.KAFKA_BROKERS === undefined) {
    throw new ConfigError(
      'KAFKA_BROKERS',
      'is not set: an agent process needs Kafka (host:port,…); `npm start` runs simulated agents in-process without it',
    );
  }
  const policy = parsePolicy(readFileSync(env.ROLLOUT_CONFIG, 'utf8'), env.ROLLOUT_CONFIG);
  if (!(cluster in policy.clusters)) {
    throw new ConfigError(
      'AGENT_CLUSTER',
      `"${cluster}" is not a cluster of ${env.ROLLOUT_CONFIG} (declared: ${Object.keys(policy.clusters).join(', ')})`,
    );
  }
  const services = servicesIn(policy, cluster);
  const consumer = kafkaConsumerTimings(env);
  const readText = (path: string) => readFileSync(path, 'utf8');
  const security = kafkaSecurity(env, readText);
  const verifier = commandVerifier(env, readText);
  if (verifier === undefined) {
    logger.warn(
      { cluster },
      'COMMAND_SIGNING=off: this agent applies unsigned commands; anyone who can write its command topic can move its traffic',
    );
  }

  // Created on first use: only when a simulated router or provider is configured.
  let cached: SimulatedCluster | undefined;
  const simulation = (): SimulatedCluster =>
    (cached ??= new SimulatedCluster({
      name: cluster,
      services,
      ...(policy.simulation ?? {}),
      ...(env.SIMULATION_STATE_FILE !== undefined && { stateFile: env.SIMULATION_STATE_FILE }),
    }));

  // Made before the drivers and the buses, which count their calls and dead letters on its /metrics.
  let running = false;
  const endpoints = new AgentEndpoints({
    cluster,
    activeRollouts: () => agent.activeRollouts(),
    ready: () => running,
  });
  // The simulated router counts its calls (the scale bench reads them); real ones leave it empty.
  endpoints.include(simulatedRouterCalls);
  const drivers = await routerConfig(env, policy, simulation, logger);
  const router = createRouter(drivers.config);
  // Not awaited: until its first list the router reads with GETs, so a slow API cannot hold the start.
  void drivers.informer?.start();
  const metrics = createMetricsProvider({
    ...metricsConfig(env, policy, simulation),
    onBatch: endpoints.countMetricsBatch,
  });
  // Refuses a missing route, an unparsable template or an unreachable API before consuming.
  await verifyDrivers({ router, metrics, services, env });

  const agentId = `${hostname()}:${process.pid}`;
  const broker = new KafkaTopicBroker({
    clientId: `rollout-agent-${cluster}`,
    brokers: env.KAFKA_BROKERS,
    consumer,
    ...security,
    logger,
  });
  const busOptions = {
    logger,
    clock: systemClock,
    onDeadLetter: (letter: { topic: string; kind: string }) => endpoints.deadLetters.inc(letter),
  };
  // On Kubernetes, one replica per cluster samples (a Lease); the others stand by. Simulated
  // clusters have no API to hold a lease: every replica samples, as before.
  const leader =
    env.TRAFFIC_ROUTER === 'gateway-api'
      ? await leaseElector(env, cluster, agentId, logger)
      : undefined;
  const agent = new RolloutAgent({
    cluster,
    agentId,
    ...(leader !== undefined && { leader }),
    commands: new TopicCommandBus(broker, {
      ...busOptions,
      ...(verifier !== undefined && { verifier }),
    }),
    events: new TopicEventBus(broker, busOptions),
    router,
    metrics,
    clock: systemClock,
    logger,
    samplingIntervalMs: env.AGENT_SAMPLING_INTERVAL,
    heartbeatIntervalMs: env.AGENT_HEARTBEAT_INTERVAL,
    services: Object.keys(services),
    webhooksByService: webhooksIn(policy, Object.keys(services)),
    sequentialByService: sequentialIn(policy, Object.keys(services)),
    dependentsByService: consumersIn(policy, Object.keys(services)),
  });

  exitGracefullyOnSignals(
    logger,
    async () => {
      // Released first, so the standby replica takes over sampling without waiting the lease out.
      await leader?.stop();
      await agent.stop();
      drivers.informer?.stop();
      await endpoints.close();
      await broker.close();
    },
    { timeoutMs: SHUTDOWN_TIMEOUT_MS, fields: { cluster } },
  );

  // Probes and /metrics. A port already taken is logged, not fatal: shifting traffic matters more.
  await endpoints.listen(env.PORT, env.HOST).then(
    (port) => logger.info({ port, host: env.HOST }, 'serving /healthz, /readyz and /metrics'),
    (err: unknown) =>
      logger.error({ err, port: env.PORT }, 'cannot serve /healthz, /readyz and /metrics'),
  );

  await agent.start();
  leader?.start();
  running = true;
  logger.info(
    {
      cluster,
      agentId,
      router: env.TRAFFIC_ROUTER,
      metrics: env.METRICS_PROVIDER,
      services: Object.keys(services),
      kafka: env.KAFKA_BROKERS,
      samplingIntervalMs: env.AGENT_SAMPLING_INTERVAL,
      heartbeatIntervalMs: env.AGENT_HEARTBEAT_INTERVAL,
    },
    'agent running',
  );
}

/** The router's configuration, and for the gateway-api router the watch that keeps its routes. */
async function routerConfig(
  env: AgentMainEnv,
  policy: Policy,
  simulation: () => SimulatedCluster,
  logger: Logger,
): Promise<{ config: RouterConfig; informer?: HttpRouteInformer }> {
  const type = env.TRAFFIC_ROUTER;
  switch (type) {
    case 'simulated':
      return { config: { type, cluster: simulation() } };
    case 'gateway-api': {
      const services = gatewayServices(policy, env.AGENT_CLUSTER);
      const api = await httpRouteApi(env);
      const informer = httpRouteInformer(api, services, logger);
      return {
        config: { type, cluster: env.AGENT_CLUSTER, services, api, routes: informer },
        informer,
      };
    }
  }
}

function metricsConfig(
  env: AgentMainEnv,
  policy: Policy,
  simulation: () => SimulatedCluster,
): MetricsConfig {
  const type = env.METRICS_PROVIDER;
  switch (type) {
    case 'simulated':
      return { type, cluster: simulation() };
    case 'prometheus':
      return { type, ...prometheusOptions(env.PROMETHEUS_URL, policy) };
  }
}

/** Each service's webhook checks as the policy sets them (for rollouts recovered after a restart). */
function webhooksIn(policy: Policy, names: string[]): Record<string, WebhookCheck[]> {
  return Object.fromEntries(
    names.map((name) => [name, gateFor(policy, policy.services[name]!).webhooks ?? []]),
  );
}

/** Each service's sequential checks as the policy sets them (for rollouts recovered after a restart). */
function sequentialIn(policy: Policy, names: string[]): Record<string, SequentialCheck[]> {
  return Object.fromEntries(
    names.map((name) => [name, gateFor(policy, policy.services[name]!).sequential ?? []]),
  );
}

/** Each service's consumers that run here too (`dependsOn`): watched while it is rolled out. */
function consumersIn(policy: Policy, names: string[]): Record<string, string[]> {
  return Object.fromEntries(
    names.map((name) => [
      name,
      consumersOf(policy.services, name).filter((c) => names.includes(c)),
    ]),
  );
}

/** The services the policy rolls out in `cluster`, with the version each runs now. */
function servicesIn(policy: Policy, cluster: string): Record<string, { stableVersion: string }> {
  return Object.fromEntries(
    Object.entries(policy.services)
      .filter(([, service]) => service.clusters.includes(cluster))
      .map(([name, service]) => [name, { stableVersion: service.stableVersion }]),
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`agent: ${message}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  });
}
