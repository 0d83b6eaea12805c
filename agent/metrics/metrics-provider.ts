import type { Measurement } from '../../shared/contracts/events.js';

export interface MeasureQuery {
  service: string;
  version: string;
  /** Which side of the split the version is on; providers may select series by it. */
  role: 'canary' | 'stable';
  windowMs: number;
  /**
   * Asks for `counts` too (non-overlapping counter increments, for the sequential judge), with
   * the requests slower than each of `slowBoundsMs`. A provider that cannot count leaves them out.
   */
  counts?: { slowBoundsMs: readonly number[] };
}

/**
 * Health of one version over a window. Never rejects: a provider that cannot measure (backend
 * down, empty result, NaN) resolves with `{ status: 'unavailable', reason }`, so a gate sees
 * `inconclusive` and never a fake zero.
 */
export interface MetricsProvider {
  measure(query: MeasureQuery): Promise<Measurement>;
  /**
   * `measure` for every query of one sampling round, at one instant, with as few backend calls
   * as the backend allows (Prometheus: one per metric for the whole round, not per query). One
   * measurement per query, in the order given; never rejects, and one query that cannot be
   * measured leaves the others' measurements as they are.
   */
  measureAll(queries: readonly MeasureQuery[]): Promise<Measurement[]>;
}
