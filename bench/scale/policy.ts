import type { ScaleSettings } from './options.js';

/** `svc-0001`…: one service per concurrent rollout (a service runs one rollout at a time). */
export function serviceName(i: number): string {
  return `svc-${String(i + 1).padStart(4, '0')}`;
}

/** `c01`…: the clusters, each with its own agent process. */
export function clusterName(i: number): string {
  return `c${String(i + 1).padStart(2, '0')}`;
}

/** Each service posts in its own channel, as most teams' services do. */
export function channelOf(i: number): string {
  return `C0SVC${String(i + 1).padStart(4, '0')}`;
}

/**
 * The policy of a scale run: `services` services on every one of `clusters` clusters, the
 * example policy's gate (config/policy.yaml) at the given timings, enough simulated traffic for
 * each sample to judge (5,000 requests per sampling interval: 1,000 requests/s at 5 s, about 250
 * canary requests at 5%; a shorter interval gets more traffic, or its gates would stay
 * inconclusive below `minRequests` and no rollout would end), no faults, and a short retention so
 * the run sees what a finished rollout leaves behind.
 */
export function scalePolicyYaml(services: number, clusters: number, s: ScaleSettings): string {
  const clusterNames = Array.from({ length: clusters }, (_, i) => clusterName(i));
  const lines = [
    'clusters:',
    ...clusterNames.map((c) => `  ${c}: {}`),
    'defaults:',
    `  stages: [${s.stages.join(', ')}]`,
    `  bake: ${s.bakeMs}ms`,
    '  gate:',
    `    interval: ${s.gateIntervalMs}ms`,
    '    minRequests: 20',
    '    failureLimit: 2',
    '    checks:',
    '      - { metric: error_rate, mode: absolute, max: 0.05 }',
    '      - { metric: latency_p99, mode: relative, max: 1.5 }',
    'services:',
  ];
  for (let i = 0; i < services; i++) {
    lines.push(
      `  ${serviceName(i)}:`,
      `    channel: ${channelOf(i)}`,
      `    clusters: [${clusterNames.join(', ')}]`,
      '    stableVersion: 1.0.0',
    );
  }
  lines.push(
    'retention:',
    `  finishedRollouts: ${s.retentionMs}ms`,
    `  samples: ${s.retentionMs}ms`,
    'simulation:',
    '  seed: 7',
    '  traffic:',
    `    requestsPerSecond: ${Math.max(1_000, Math.ceil(5_000_000 / s.samplingIntervalMs))}`,
    '  faults: []',
    '',
  );
  return lines.join('\n');
}
