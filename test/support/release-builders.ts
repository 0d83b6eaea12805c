import { Policy } from '../../shared/config/policy.js';
import type { ReleasePolicy } from '../../shared/config/release-policy.js';
import { planRelease } from '../../shared/release/plan.js';
import type { ReleaseState } from '../../shared/release/state.js';
import { createRelease } from '../../shared/release/transition.js';

/**
 * A policy for release tests: each service of `graph` with the providers it depends on, all in
 * one cluster `eu-west` unless `waves` gives a service its own; `release` as given.
 */
export function aReleasePolicy(
  graph: Record<string, string[]>,
  options: { release?: Partial<ReleasePolicy>; waves?: Record<string, string[][]> } = {},
): Policy {
  const clusters = new Set(['eu-west', ...Object.values(options.waves ?? {}).flat(2)]);
  return Policy.parse({
    clusters: Object.fromEntries([...clusters].map((c) => [c, {}])),
    services: Object.fromEntries(
      Object.entries(graph).map(([name, dependsOn]) => {
        const waves = options.waves?.[name];
        return [
          name,
          {
            channel: 'C0RELEASE',
            clusters: waves ? waves.flat() : ['eu-west'],
            ...(dependsOn.length > 0 ? { dependsOn } : {}),
            ...(waves ? { waves } : {}),
          },
        ];
      }),
    ),
    release: options.release ?? {},
  });
}

/**
 * A stored-looking release of `payments`, `checkout` (depends on payments) and `search`, with
 * id `id`, started at `createdAt` (status pending, version 0).
 */
export function aReleaseState(id = 'rel-1', createdAt = 1_000): ReleaseState {
  const policy = aReleasePolicy({ payments: [], checkout: ['payments'], search: [] });
  const plan = planRelease(policy, [
    { service: 'payments', version: '2.0.0' },
    { service: 'checkout', version: '3.1.0' },
    { service: 'search', version: '1.2.0' },
  ]);
  return createRelease(id, plan, 'U1', createdAt);
}
