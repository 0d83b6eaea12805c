import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aReleasePolicy } from '../../test/support/release-builders.js';
import { planRelease } from './plan.js';
import { nextToStart, type MemberStatus } from './schedule.js';

/** The stage weights every simulated member passes, one per step it is chosen to advance. */
const STAGES = [5, 25, 50, 100];

/**
 * A random DAG over s0…s(n-1) (each service may depend on any with a lower index, so there is no
 * cycle), a random subset of it as the release's members in random order, a random
 * `maxParallel` and `consumerStartsAt`, and the order in which running members advance.
 */
const releaseArb = fc.integer({ min: 2, max: 8 }).chain((n) =>
  fc.record({
    graph: fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        fc.subarray(Array.from({ length: i }, (_, j) => `s${j}`)),
      ),
    ),
    members: fc.shuffledSubarray(
      Array.from({ length: n }, (_, i) => `s${i}`),
      { minLength: 2 },
    ),
    maxParallel: fc.integer({ min: 1, max: 4 }),
    consumerStartsAt: fc.option(fc.constantFrom(5, 25, 50, 100), { nil: undefined }),
    picks: fc.array(fc.nat(), { minLength: 1, maxLength: 50 }),
  }),
);

/** Every service `service` depends on, directly or not, in the whole policy graph. */
function dependenciesOf(graph: string[][], service: string): Set<string> {
  const found = new Set<string>();
  const walk = (name: string) => {
    for (const p of graph[Number(name.slice(1))] ?? []) {
      if (!found.has(p)) {
        found.add(p);
        walk(p);
      }
    }
  };
  walk(service);
  return found;
}

describe('nextToStart over random dependency graphs', () => {
  it('never starts a consumer before its providers are done, never exceeds maxParallel, and starts every member when all succeed', () => {
    fc.assert(
      fc.property(releaseArb, ({ graph, members, maxParallel, consumerStartsAt, picks }) => {
        const policy = aReleasePolicy(Object.fromEntries(graph.map((deps, i) => [`s${i}`, deps])), {
          release: consumerStartsAt === undefined ? {} : { consumerStartsAt },
        });
        const plan = planRelease(
          policy,
          members.map((service) => ({ service, version: '1.0.0' })),
        );
        const statuses: Record<string, MemberStatus> = {};
        const providerDone = (p: string): boolean => {
          const s = statuses[p];
          if (s?.state === 'succeeded') return true;
          return (
            s?.state === 'running' &&
            consumerStartsAt !== undefined &&
            s.passedWeight >= consumerStartsAt
          );
        };
        // Each step starts what may start, then advances one running member by one stage.
        for (let step = 0; step < members.length * (STAGES.length + 1) + 1; step++) {
          const starting = nextToStart(plan, statuses, maxParallel);
          expect(new Set(starting).size).toBe(starting.length);
          for (const service of starting) {
            expect(statuses[service]).toBeUndefined();
            for (const dependency of dependenciesOf(graph, service)) {
              if (members.includes(dependency)) expect(providerDone(dependency)).toBe(true);
            }
            statuses[service] = { state: 'running', passedWeight: 0 };
          }
          const running = members.filter((s) => statuses[s]?.state === 'running');
          expect(running.length).toBeLessThanOrEqual(maxParallel);
          if (running.length === 0) break;
          const chosen = running[picks[step % picks.length]! % running.length]!;
          const status = statuses[chosen] as { passedWeight: number };
          const next = STAGES.find((w) => w > status.passedWeight);
          statuses[chosen] =
            next === undefined ? { state: 'succeeded' } : { state: 'running', passedWeight: next };
        }
        expect(members.filter((s) => statuses[s]?.state !== 'succeeded')).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('starts nothing once any member has failed', () => {
    fc.assert(
      fc.property(releaseArb, fc.nat(), ({ graph, members, maxParallel }, which) => {
        const policy = aReleasePolicy(Object.fromEntries(graph.map((deps, i) => [`s${i}`, deps])));
        const plan = planRelease(
          policy,
          members.map((service) => ({ service, version: '1.0.0' })),
        );
        const failed = members[which % members.length]!;
        expect(nextToStart(plan, { [failed]: { state: 'failed' } }, maxParallel)).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('orders the plan topologically: every member after each member it depends on', () => {
    fc.assert(
      fc.property(releaseArb, ({ graph, members }) => {
        const policy = aReleasePolicy(Object.fromEntries(graph.map((deps, i) => [`s${i}`, deps])));
        const order = planRelease(
          policy,
          members.map((service) => ({ service, version: '1.0.0' })),
        ).members.map((m) => m.service);
        expect([...order].sort()).toEqual([...members].sort());
        order.forEach((service, i) => {
          for (const dependency of dependenciesOf(graph, service)) {
            if (members.includes(dependency)) expect(order.indexOf(dependency)).toBeLessThan(i);
          }
        });
      }),
      { numRuns: 200 },
    );
  });
});
