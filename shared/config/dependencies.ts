import { z } from 'zod';
import { ServiceName } from '../rollout/plan.js';
import { nearestNames } from './nearest-names.js';

/**
 * `services.<name>.dependsOn`: the services this one calls or whose events it consumes (its
 * providers). A release rolls providers out before their consumers and rolls consumers back
 * before their providers, so the graph must be acyclic: a cycle has no first service.
 */
export const DependsOn = z.array(ServiceName);
export type DependsOn = z.infer<typeof DependsOn>;

/** A problem found in the graph, at the path of the `dependsOn` entry that causes it. */
export interface DependencyProblem {
  path: (string | number)[];
  message: string;
}

/** The part of a policy the graph is read from. */
type Services = Record<string, { dependsOn?: readonly string[] | undefined }>;

/**
 * Every unknown provider, provider named twice, and cycle. A cycle is reported once, at the
 * `dependsOn` entry that closes it (the edge back to a service already on the path), so the file
 * line points at a place where it can be broken.
 */
export function dependencyProblems(services: Services): DependencyProblem[] {
  const known = Object.keys(services);
  const problems: DependencyProblem[] = [];
  for (const [name, service] of Object.entries(services)) {
    const seen = new Set<string>();
    (service.dependsOn ?? []).forEach((provider, i) => {
      const path = ['services', name, 'dependsOn', i];
      if (seen.has(provider)) {
        problems.push({ path, message: `"${provider}" is listed twice; list it once` });
      }
      seen.add(provider);
      if (!(provider in services)) {
        const near = nearestNames(provider, known);
        problems.push({
          path,
          message:
            `unknown service "${provider}"` +
            (near.length > 0 ? `; did you mean ${near.map((n) => `"${n}"`).join(' or ')}?` : '') +
            ` Known services: ${known.join(', ') || 'none'}.`,
        });
      }
    });
  }
  return [...problems, ...cycleProblems(services)];
}

/** Depth-first search in file order; each back edge closes one cycle. */
function cycleProblems(services: Services): DependencyProblem[] {
  const problems: DependencyProblem[] = [];
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (name: string): void => {
    onPath.push(name);
    (services[name]?.dependsOn ?? []).forEach((provider, i) => {
      if (!(provider in services) || done.has(provider)) return;
      const start = onPath.indexOf(provider);
      if (start !== -1) {
        const cycle = [...onPath.slice(start), provider].join(' → ');
        problems.push({
          path: ['services', name, 'dependsOn', i],
          message: `dependsOn cycle ${cycle}: a release could not order these services; remove one of these dependencies`,
        });
        return;
      }
      visit(provider);
    });
    onPath.pop();
    done.add(name);
  };
  for (const name of Object.keys(services)) if (!done.has(name)) visit(name);
  return problems;
}

/** Each service's providers as listed (none when `dependsOn` is absent). */
export function providersOf(services: Services, name: string): readonly string[] {
  return services[name]?.dependsOn ?? [];
}

/** The services that list `name` in their `dependsOn` (its consumers), in policy order. */
export function consumersOf(services: Services, name: string): string[] {
  return Object.entries(services)
    .filter(([, service]) => (service.dependsOn ?? []).includes(name))
    .map(([consumer]) => consumer);
}
