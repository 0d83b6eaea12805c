import { afterEach, describe, expect, it } from 'vitest';
import type { Fault } from '../../shared/config/simulation.js';
import type { ReleaseState } from '../../shared/release/state.js';
import { STARTER } from '../support/e2e-policy.js';
import { waitFor } from '../support/wait-for.js';
import { releasePolicyYaml, type ReleaseHarness } from './release-scenarios.js';

const MEMBERS = [
  { service: 'payments', version: '2.0.0' },
  { service: 'checkout', version: '3.1.0' },
  { service: 'search', version: '7.2.0' },
];
const ENDED: ReleaseState['status'][] = ['succeeded', 'rolled_back', 'aborted'];
const actor = { id: `user:${STARTER}`, userId: STARTER };

/**
 * Every member's canary a little worse than its stable version, far under the gate's 5% error-rate
 * limit, so each passes its own gate: payments and search 0.12 points more errors on the
 * simulation's 0.2% (1.6×), checkout 0.4 points (3×: it runs last, after payments holds, and
 * would otherwise have little time to spend its share before the others spent the budget). Not
 * more: at the first stage's few requests a gate window of a 1%-error canary can read over 5%.
 */
const SMALL_REGRESSION: Fault[] = MEMBERS.map(({ service }) => ({
  service,
  role: 'canary',
  errorRate: service === 'checkout' ? 0.004 : 0.0012,
}));
/**
 * Small enough to be spent well before the last member could hold (a larger one raced the end of
 * the release on a busy machine), so checkout may be stopped before or after it started.
 */
const BUDGET = 100;

function policyWith(errorBudget: number | undefined): string {
  const yaml = releasePolicyYaml(SMALL_REGRESSION);
  if (errorBudget === undefined) return yaml;
  return yaml.replace('release:\n', `release:\n  errorBudget: ${errorBudget}\n`);
}

async function waitForEnd(h: ReleaseHarness, id: string): Promise<ReleaseState> {
  return waitFor(
    async () => {
      const state = await h.releases.get(id);
      return state && ENDED.includes(state.status) ? state : undefined;
    },
    { what: `release ${id} to end`, timeoutMs: 90_000, intervalMs: 20 },
  );
}

/** Issue 12, item 7: the release's failure budget, spent by members that each pass their gates. */
export function describeReleaseBudgetScenarios(
  mode: string,
  start: (options: { policyYaml: string }) => Promise<ReleaseHarness>,
): void {
  describe(`release failure budget (${mode})`, () => {
    let harness: ReleaseHarness | undefined;
    afterEach(async () => {
      await harness?.stop();
      harness = undefined;
    });

    it('without release.errorBudget, three members each a little worse than stable all pass', async () => {
      harness = await start({ policyYaml: policyWith(undefined) });
      const release = await harness.releases.start(MEMBERS, actor);
      const done = await waitForEnd(harness, release.id);
      expect(done.status, JSON.stringify(done.failure)).toBe('succeeded');
      expect(done.errorBudget).toBeUndefined();
    });

    it('the same release with a small release.errorBudget goes back, every member, with the numbers', async () => {
      harness = await start({ policyYaml: policyWith(BUDGET) });
      const h = harness;
      const release = await h.releases.start(MEMBERS, actor);
      const done = await waitForEnd(h, release.id);
      expect(done.status).toBe('rolled_back');
      // The budget, not a gate: no member failed on its own first.
      expect(done.failure?.cause).toBe('budget_exhausted');
      expect(done.failure?.affected.sort()).toEqual(['checkout', 'payments', 'search']);
      expect(done.failure?.detail).toMatch(
        new RegExp(
          `^error budget spent: [\\d.]+ extra errors of ${BUDGET} \\(release\\.errorBudget\\) across the canaries \\(.*payments [\\d.]+`,
        ),
      );
      const spent = Number(/spent: ([\d.]+)/.exec(done.failure!.detail)![1]);
      expect(spent).toBeGreaterThanOrEqual(BUDGET);
      // The members that ran spent it together (payments and search at least, checkout too if it
      // had started); each alone stayed under its gate.
      const tallied = Object.keys(done.errorBudget?.tallies ?? {});
      expect(tallied).toEqual(expect.arrayContaining(['payments', 'search']));
      for (const m of MEMBERS) {
        // Back at 0%, or never started (checkout waits for payments and may not have begun).
        const expected =
          m.service === 'checkout' && !tallied.includes('checkout') ? 'cancelled' : 'rolled_back';
        expect(done.members[m.service]?.state, m.service).toBe(expected);
        for (const cluster of ['eu-west', 'us-east']) {
          const writes = await h.routeWrites(cluster, m.service);
          expect(
            writes.some((w) => w.operation === 'promote'),
            `${m.service} in ${cluster}`,
          ).toBe(false);
          if (writes.length > 0) expect(writes.at(-1)?.canaryWeight, m.service).toBe(0);
        }
      }
      // The card showed the budget as it was spent.
      await waitFor(
        async () =>
          h.releaseNotifier.cards.some(
            (c) => c.id === release.id && c.failure?.cause === 'budget_exhausted',
          ) || undefined,
        { what: 'the final card', timeoutMs: 10_000, intervalMs: 20 },
      );
    });
  });
}
