import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aReleasePolicy } from '../../test/support/release-builders.js';
import { planRelease, type ReleasePlan } from './plan.js';
import {
  isReleaseTerminal,
  type ReleaseEffect,
  type ReleaseInput,
  type ReleaseState,
} from './state.js';
import { createRelease, releaseTransition } from './transition.js';

/**
 * The coordinator against a simulated world of member rollouts, over random dependency graphs,
 * random member order and random failure points (a member that fails on its own, an abort, a
 * pause, reports delivered twice). The world does what each effect says, at a random later step.
 */

const STAGES = [25, 50, 100];

/** What one member's rollout is doing in the simulated world. */
interface World {
  status: 'none' | 'running' | 'held' | 'promoting' | 'rolling_back' | 'promoted' | 'zero';
  weight: number;
  paused: boolean;
  starts: number;
  lockFreed: number;
  /** Told to roll back by the release (not failed on its own). */
  toldBack: boolean;
}

const releaseArb = fc.integer({ min: 2, max: 7 }).chain((n) =>
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
    maxParallel: fc.integer({ min: 1, max: 3 }),
    consumerStartsAt: fc.option(fc.constantFrom(25, 50), { nil: undefined }),
    onFailure: fc.constantFrom('rollback-all' as const, 'rollback-dependents' as const),
    /** Each step: which action, on which member; failures are rarer than progress. */
    steps: fc.array(fc.tuple(fc.integer({ min: 0, max: 99 }), fc.nat()), {
      minLength: 1,
      maxLength: 120,
    }),
  }),
);

/** Every member that depends on `service` in the release, directly or not. */
function consumersOf(plan: ReleasePlan, service: string): string[] {
  const found = new Set<string>();
  const walk = (s: string): void => {
    for (const m of plan.members) {
      if (m.waitsFor.includes(s) && !found.has(m.service)) {
        found.add(m.service);
        walk(m.service);
      }
    }
  };
  walk(service);
  return [...found];
}

describe('releaseTransition over random graphs and failure points', () => {
  it('never rolls a provider back under a consumer still on its new version, ends every member at 100% or 0%, frees every lock, starts nothing after a failure', () => {
    fc.assert(
      fc.property(
        releaseArb,
        ({ graph, members, maxParallel, consumerStartsAt, onFailure, steps }) => {
          const policy = aReleasePolicy(
            Object.fromEntries(graph.map((deps, i) => [`s${i}`, deps])),
            {
              release: {
                maxParallel,
                onFailure,
                ...(consumerStartsAt === undefined ? {} : { consumerStartsAt }),
              },
            },
          );
          const plan = planRelease(
            policy,
            members.map((service) => ({ service, version: '1.0.0' })),
          );
          let state: ReleaseState = createRelease('rel-1', plan, 'U1', 0);
          const world: Record<string, World> = Object.fromEntries(
            members.map((s) => [
              s,
              {
                status: 'none',
                weight: 0,
                paused: false,
                starts: 0,
                lockFreed: 0,
                toldBack: false,
              },
            ]),
          );
          const reports: ReleaseInput[] = [];
          let failedAt: number | undefined;
          let now = 0;

          const run = (effects: ReleaseEffect[], after: ReleaseState): void => {
            for (const effect of effects) {
              switch (effect.type) {
                case 'start_member': {
                  expect(failedAt).toBeUndefined();
                  const w = world[effect.service]!;
                  w.starts += 1;
                  w.status = 'running';
                  reports.push({ type: 'member_started', service: effect.service });
                  break;
                }
                case 'rollback_member': {
                  // The invariant: every consumer of it is back at 0 (or never moved).
                  for (const c of consumersOf(plan, effect.service)) {
                    const wc = world[c]!;
                    expect(wc.weight, `${c} consumer of ${effect.service}`).toBe(0);
                  }
                  const w = world[effect.service]!;
                  w.toldBack = true;
                  if (w.status !== 'promoted' && w.status !== 'zero') w.status = 'rolling_back';
                  break;
                }
                case 'promote_member': {
                  // A member the failure sends back is never made final.
                  expect(after.failure?.affected ?? []).not.toContain(effect.service);
                  const w = world[effect.service]!;
                  // Held, or already back at 0 on its own with that report still on its way.
                  expect(['held', 'zero']).toContain(w.status);
                  for (const p of plan.members.find((m) => m.service === effect.service)!
                    .waitsFor) {
                    expect(world[p]!.status).toBe('promoted');
                  }
                  if (w.status === 'held') w.status = 'promoting';
                  break;
                }
                case 'pause_member':
                  world[effect.service]!.paused = true;
                  break;
                case 'resume_member':
                  world[effect.service]!.paused = false;
                  break;
                case 'release_member_lock': {
                  const w = world[effect.service]!;
                  expect(w.starts).toBe(0);
                  w.lockFreed += 1;
                  break;
                }
                default:
                  break;
              }
            }
          };
          const feed = (input: ReleaseInput): void => {
            now += 1000;
            const result = releaseTransition(state, input, now);
            if (!result.ok) return;
            expect(result.state.version).toBe(state.version + 1);
            if (result.state.failure !== undefined && failedAt === undefined) failedAt = now;
            state = result.state;
            run(result.effects, result.state);
          };
          /** The member's rollout ends: it frees its own lock, at 100% or at 0. */
          const end = (service: string, status: 'succeeded' | 'rolled_back' | 'aborted'): void => {
            const w = world[service]!;
            w.status = status === 'succeeded' ? 'promoted' : 'zero';
            w.weight = status === 'succeeded' ? 100 : 0;
            w.lockFreed += 1;
            reports.push({ type: 'member_ended', service, status });
          };

          feed({ type: 'start', actor: 'U1' });
          const act = (roll: number, pick: number): void => {
            if (reports.length > 0 && roll < 40) {
              // One member's reports arrive in order (its rollout's outbox); members interleave.
              const service = (reports[pick % reports.length] as { service: string }).service;
              const index = reports.findIndex((r) => 'service' in r && r.service === service);
              const report = reports.splice(index, 1)[0]!;
              feed(report);
              // A replayed outbox delivers it again: refused or harmless.
              if (roll < 5) feed(report);
              return;
            }
            const active = members.filter((s) =>
              ['running', 'held', 'promoting', 'rolling_back'].includes(world[s]!.status),
            );
            if (roll >= 97) feed({ type: 'abort', actor: 'U2', reason: 'stop' });
            else if (roll >= 95)
              feed({ type: state.status === 'paused' ? 'resume' : 'pause', actor: 'U2' });
            if (active.length === 0) return;
            const service = active[pick % active.length]!;
            const w = world[service]!;
            if (w.status === 'rolling_back') end(service, 'aborted');
            else if (w.status === 'promoting') end(service, 'succeeded');
            else if (roll >= 90 && roll < 93)
              end(service, 'rolled_back'); // fails on its own
            else if (w.status === 'running' && !w.paused) {
              const next = STAGES.find((x) => x > w.weight)!;
              w.weight = next;
              if (next === 100) {
                w.status = 'held';
                reports.push({ type: 'member_held', service });
              } else reports.push({ type: 'member_progress', service, passedWeight: next });
            }
          };
          for (const [roll, pick] of steps) act(roll, pick);
          // Then let the world settle: deliver everything, finish every rollout, resume if paused.
          for (let i = 0; i < 500 && !isReleaseTerminal(state.status); i++) {
            if (state.status === 'paused') feed({ type: 'resume', actor: 'U2' });
            else act(reports.length > 0 ? 0 : 50, i);
          }
          expect(isReleaseTerminal(state.status)).toBe(true);
          for (const s of members) {
            const w = world[s]!;
            const m = state.members[s]!;
            expect(['succeeded', 'rolled_back', 'cancelled']).toContain(m.state);
            expect(w.weight === 0 || w.status === 'promoted').toBe(true);
            expect(w.starts).toBeLessThanOrEqual(1);
            // Every lock taken for the release is freed exactly once.
            expect(w.lockFreed).toBe(1);
            if (m.state === 'succeeded') expect(w.status).toBe('promoted');
          }
          if (state.failure === undefined) expect(state.status).toBe('succeeded');
          else expect(state.status).not.toBe('succeeded');
        },
      ),
      { numRuns: 300 },
    );
  });
});
