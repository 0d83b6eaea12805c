import { describe, expect, it } from 'vitest';
import { RELEASE_SETTINGS, releaseTable, runReleaseBench } from '../../bench/release.js';
import { BenchUsageError } from '../../bench/scale/options.js';
import { parseOnly } from '../../bench/sections.js';

const SERVICES = ['ledger', 'payments', 'fraud', 'checkout', 'search'];
const CLUSTERS = RELEASE_SETTINGS.waves.flat();

// The release section at its smallest size: its figures are for `npm run bench`; these are its
// promises (every release ends as it should, and the report has the shape the README describes).
describe('release bench', () => {
  it('runs a 5-service, 3-wave release to success, and a breach in checkout back to 0% everywhere', async () => {
    const r = await runReleaseBench({ overheadRuns: 1, breachRuns: 1 });

    expect(r.overhead.runs).toBe(1);
    expect(r.overhead.statuses).toEqual(['succeeded']);
    // 3 members on the critical path × 3 stages × 3 waves × 300 ms.
    expect(r.overhead.criticalPathBakeMs).toBe(3 * 3 * 3 * RELEASE_SETTINGS.bakeMs);
    // Not a speed check: a release that ended before its critical path's bakes skipped some, or
    // started checkout before its providers held.
    expect(r.overhead.wallP50Ms).toBeGreaterThanOrEqual(r.overhead.criticalPathBakeMs);
    expect(r.overhead.overheadP50Ms).toBe(r.overhead.wallP50Ms - r.overhead.criticalPathBakeMs);
    expect(Number.isFinite(r.overhead.p50RatioToBakes)).toBe(true);

    const b = r.breachToZeroWeight;
    expect(b.runs).toBe(1);
    expect(b.statuses).toEqual(['rolled_back']);
    expect(b.failedMembers).toEqual(['checkout']);
    expect(b.memberStates).toEqual(Object.fromEntries(SERVICES.map((s) => [s, 'rolled_back'])));
    // Every member (search too, under rollback-all) at weight 0 in every cluster of every wave.
    expect(b.weights).toEqual(
      Object.fromEntries(SERVICES.map((s) => [s, Object.fromEntries(CLUSTERS.map((c) => [c, 0]))])),
    );
    // The rollback follows the injection: a write before it would be another run's, or no breach.
    expect(b.p50Ms).toBeGreaterThan(0);
    expect(b.gateIntervalMs).toBe(RELEASE_SETTINGS.gateIntervalMs);
    expect(b.p50RatioToGateInterval).toBe(Math.round((b.p50Ms / b.gateIntervalMs) * 100) / 100);

    const table = releaseTable(r);
    expect(table).toContain('critical path ledger → payments → checkout');
    expect(table).toContain(`${r.overhead.overheadP50Ms} ms`);
    expect(table).toContain(`${b.p50Ms} ms`);
  }, 240_000);

  it('refuses a run count that would leave nothing to take a median of', async () => {
    await expect(runReleaseBench({ overheadRuns: 0 })).rejects.toThrow(
      'overheadRuns must be a whole number ≥ 1 (got 0)',
    );
    await expect(runReleaseBench({ breachRuns: 1.5 })).rejects.toThrow(
      'breachRuns must be a whole number ≥ 1 (got 1.5)',
    );
  });
});

describe('--only', () => {
  it('selects the release or judge section, or the full run without the flag', () => {
    expect(parseOnly(['--only', 'release', '--json'])).toBe('release');
    expect(parseOnly(['--json', '--only', 'judge'])).toBe('judge');
    expect(parseOnly(['--json'])).toBeUndefined();
  });

  it('names the sections for an unknown or missing name', () => {
    expect(() => parseOnly(['--only', 'releases'])).toThrow(BenchUsageError);
    expect(() => parseOnly(['--only', 'releases'])).toThrow(
      '--only: got "releases"; want one of judge, release',
    );
    expect(() => parseOnly(['--only'])).toThrow('--only: got nothing; want one of judge, release');
  });
});
