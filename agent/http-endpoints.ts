import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';

export interface AgentEndpointsOptions {
  cluster: string;
  /** The rollouts in progress in this cluster (the agent's `activeRollouts`). */
  activeRollouts: () => readonly string[];
  /** True once the agent consumes its commands. */
  ready: () => boolean;
}

/**
 * The agent's HTTP endpoints, for probes and Prometheus only (no rollout data, no control):
 * `/healthz` (the process is up), `/readyz` (the agent consumes its commands: 200, else 503) and
 * `/metrics` (Prometheus text: process metrics and the active rollouts gauge).
 */
export class AgentEndpoints {
  private readonly registry = new Registry();
  private readonly server: Server;
  /**
   * Messages this agent sent to `rollout.dlq` (forged or unsigned commands among them): its buses
   * report them here through `onDeadLetter`.
   */
  readonly deadLetters = new Counter({
    name: 'rollout_dead_letters_total',
    help: 'Messages sent to rollout.dlq by this agent, by the topic they came from and why (invalid, refused, unprocessable, failed).',
    labelNames: ['topic', 'kind'] as const,
    registers: [this.registry],
  });

  /**
   * Calls the metrics provider made to its backend (Prometheus: HTTP queries; simulated: one per
   * round), and the rounds (`measure`/`measureAll` calls) they served: their ratio is the calls
   * per sampling interval, which must not grow with the cluster's rollouts.
   */
  private readonly metricsQueries = new Counter({
    name: 'rollout_agent_metrics_queries_total',
    help: 'Calls the metrics provider made to its backend (Prometheus HTTP queries) while sampling.',
    registers: [this.registry],
  });
  private readonly metricsRounds = new Counter({
    name: 'rollout_agent_metrics_rounds_total',
    help: 'Sampling rounds (batches of measurements) the metrics provider served.',
    registers: [this.registry],
  });

  /** For the metrics provider's `onBatch`: one round that made `queries` backend calls. */
  readonly countMetricsBatch = (queries: number): void => {
    this.metricsRounds.inc();
    this.metricsQueries.inc(queries);
  };

  constructor(options: AgentEndpointsOptions) {
    this.registry.setDefaultLabels({ cluster: options.cluster });
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'rollout_agent_active_rollouts',
      help: 'Rollouts in progress in this agent’s cluster.',
      registers: [this.registry],
      collect() {
        this.set(options.activeRollouts().length);
      },
    });
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405).end();
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      } else if (path === '/readyz') {
        const ready = options.ready();
        res
          .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ready }));
      } else if (path === '/metrics') {
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          () => res.writeHead(500).end(),
        );
      } else {
        res.writeHead(404).end();
      }
    });
  }

  /** Serves `metrics` (made elsewhere, e.g. by a driver) on /metrics too, with the cluster label. */
  include(...metrics: Metric[]): void {
    for (const metric of metrics) this.registry.registerMetric(metric);
  }

  /** Listens on `host:port` (0: any free port) and resolves with the port. */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
