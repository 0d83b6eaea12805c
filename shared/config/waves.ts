import { z } from 'zod';
import { ClusterName } from '../rollout/plan.js';

/**
 * Cluster waves: a rollout runs its stages in the first wave's clusters, then the next wave's,
 * so a bad change meets as few users as possible (`[[staging], [eu-west], [us-east, ap-south]]`).
 * `defaults.waves` lists the fleet's clusters; a service without its own `waves` takes those
 * waves restricted to its clusters. Absent everywhere: one wave of all the service's clusters.
 */
export const Waves = z
  .array(z.array(ClusterName).min(1, 'a wave needs at least one cluster'))
  .min(1);
export type Waves = z.infer<typeof Waves>;

export interface WaveProblem {
  path: (string | number)[];
  message: string;
}

/** The part of a policy waves are read from. */
interface WavesInput {
  clusters: Record<string, unknown>;
  defaults: { waves?: readonly (readonly string[])[] | undefined };
  services: Record<
    string,
    { clusters: readonly string[]; waves?: readonly (readonly string[])[] | undefined }
  >;
}

/**
 * Every cluster named twice or unknown in `defaults.waves` and in each service's `waves`, and
 * every cluster of a service that no wave of it holds (each must be in exactly one).
 */
export function waveProblems(policy: WavesInput): WaveProblem[] {
  const declared = Object.keys(policy.clusters);
  const problems: WaveProblem[] = [];
  const fleet = policy.defaults.waves;
  if (fleet) {
    problems.push(
      ...placementProblems(fleet, declared, ['defaults', 'waves'], 'declared clusters'),
    );
  }
  for (const [name, service] of Object.entries(policy.services)) {
    const own = service.waves;
    if (own) {
      problems.push(
        ...placementProblems(
          own,
          service.clusters,
          ['services', name, 'waves'],
          `${name}'s clusters`,
        ),
      );
    }
    const waves = own ?? fleet;
    if (!waves) continue;
    const placed = new Set(waves.flat());
    const missing = service.clusters.filter((c) => !placed.has(c));
    if (missing.length > 0) {
      problems.push({
        path: own ? ['services', name, 'waves'] : ['defaults', 'waves'],
        message:
          `${name} runs in ${missing.join(', ')} but no wave ${own ? 'of it' : 'in defaults.waves'} holds ` +
          `${missing.length === 1 ? 'it' : 'them'}: every cluster of a service must be in exactly one wave`,
      });
    }
  }
  return problems;
}

/** Clusters named twice, or not among `allowed`, at the path of each offending entry. */
function placementProblems(
  waves: readonly (readonly string[])[],
  allowed: readonly string[],
  at: (string | number)[],
  allowedName: string,
): WaveProblem[] {
  const problems: WaveProblem[] = [];
  const firstWave = new Map<string, number>();
  waves.forEach((wave, w) =>
    wave.forEach((cluster, c) => {
      const path = [...at, w, c];
      const earlier = firstWave.get(cluster);
      if (earlier !== undefined) {
        problems.push({
          path,
          message: `cluster "${cluster}" is already in wave ${earlier + 1}; a cluster belongs to exactly one wave`,
        });
        return;
      }
      firstWave.set(cluster, w);
      if (!allowed.includes(cluster)) {
        problems.push({
          path,
          message: `unknown cluster "${cluster}" (${allowedName}: ${allowed.join(', ') || 'none'})`,
        });
      }
    }),
  );
  return problems;
}

/**
 * The waves a rollout of `service` runs in, first to last: its own `waves`, else
 * `defaults.waves` restricted to its clusters (waves left empty dropped), else one wave of all
 * its clusters. Assumes a policy that passed `waveProblems`.
 */
export function wavesOf(policy: WavesInput, service: string): string[][] {
  const servicePolicy = policy.services[service];
  if (!servicePolicy) return [];
  const own = servicePolicy.waves;
  if (own) return own.map((wave) => [...wave]);
  const fleet = policy.defaults.waves;
  if (!fleet) return [[...servicePolicy.clusters]];
  return fleet
    .map((wave) => wave.filter((c) => servicePolicy.clusters.includes(c)))
    .filter((wave) => wave.length > 0);
}
