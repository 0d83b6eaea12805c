import type { Measurement } from '../../shared/contracts/events.js';
import type { MetricsEffect } from './faults.js';
import { binomial, normal, poisson, type RandomSource } from './random.js';

export { TrafficProfile } from '../../shared/config/simulation.js';
import type { TrafficProfile } from '../../shared/config/simulation.js';

export const DEFAULT_TRAFFIC: TrafficProfile = {
  requestsPerSecond: 200,
  baseErrorRate: 0.002,
  latencyMs: { p50: 40, p95: 110, p99: 220 },
  latencyJitter: 0.05,
};

/** The part of a route that decides who gets traffic. */
export interface RouteSplit {
  stableVersion: string;
  canaryVersion?: string;
  canaryWeight: number;
  /** Percentage of requests the gateway copies to the canary version (a blue-green preview). */
  mirrorPercent?: number | undefined;
}

/**
 * The share of the service's traffic that `version` receives on `route`: the canary weight for
 * the canary version, the rest for the stable one. Weight 0 receives nothing, as on a real
 * gateway; only a mirror sends a preview requests, and those are copies: the stable version
 * still serves every request it would without the mirror. A version the route does not serve
 * gets 0.
 */
export function trafficShare(route: RouteSplit, version: string): number {
  let share = 0;
  if (route.canaryVersion === version) {
    share += route.canaryWeight / 100 + (route.mirrorPercent ?? 0) / 100;
  }
  if (route.stableVersion === version) share += (100 - route.canaryWeight) / 100;
  return share;
}

/**
 * One window of traffic for one version: a Poisson request count around rate × window × share,
 * binomial errors at base + injected rate, and noisy percentiles plus injected latency, kept in
 * order (p50 ≤ p95 ≤ p99). No requests means zero latencies: there is nothing to measure, and a
 * gate's minimum request count makes that inconclusive.
 */
export function simulateWindow(input: {
  profile: TrafficProfile;
  share: number;
  windowMs: number;
  effect: MetricsEffect;
  random: RandomSource;
}): Measurement {
  const { profile, share, windowMs, effect, random } = input;
  const expected = effect.noTraffic ? 0 : profile.requestsPerSecond * (windowMs / 1000) * share;
  const requests = poisson(random, expected);
  const errorRate = Math.min(1, profile.baseErrorRate + effect.errorRate);
  const errors = binomial(random, requests, errorRate);
  if (requests === 0)
    return { status: 'ok', requests, errors, latencyMs: { p50: 0, p95: 0, p99: 0 } };

  const sd = profile.latencyJitter * Math.min(1, Math.sqrt(100 / requests));
  const noisy = (base: number) =>
    Math.max(0.1, base * (1 + sd * normal(random))) + effect.addedLatencyMs;
  const p50 = noisy(profile.latencyMs.p50);
  const p95 = Math.max(p50, noisy(profile.latencyMs.p95));
  const p99 = Math.max(p95, noisy(profile.latencyMs.p99));
  return {
    status: 'ok',
    requests,
    errors,
    latencyMs: { p50: round(p50), p95: round(p95), p99: round(p99) },
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
