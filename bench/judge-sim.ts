/**
 * Draws for the judge bench beyond the event counts of `shared/judge/seeded-counts.ts`: the
 * empirical p99 of a window's latencies, without drawing every request.
 *
 * Latency model (stated in the README): log-normal, median 100 ms, σ = 0.5 (p95 ≈ 228 ms,
 * p99 ≈ 320 ms); a latency regression multiplies every request's latency by a factor.
 * The empirical p99 of n requests (nearest rank k = ⌈0.99 n⌉) is the k-th order statistic, whose
 * uniform is Beta(k, n − k + 1), drawn as G_k / (G_k + G_{n−k+1}) from two gamma draws.
 */
import { normalUpperTail } from '../shared/judge/normal-tail.js';
import { standardNormal, type Uniform } from '../shared/judge/seeded-counts.js';

export const LATENCY = { medianMs: 100, sigma: 0.5 } as const;

/** Marsaglia–Tsang gamma draw (shape ≥ 1, scale 1). */
export function gammaDraw(u: Uniform, shape: number): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(u);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const w = u();
    if (w < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(w) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Φ⁻¹, Acklam's rational approximation (relative error < 1.2e-9). */
export function inverseNormal(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - low) return -inverseNormal(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** The latency at quantile q of the model, scaled by `factor`. */
export function latencyQuantile(q: number, factor = 1): number {
  return factor * LATENCY.medianMs * Math.exp(LATENCY.sigma * inverseNormal(q));
}

/** Fraction of requests slower than `boundMs` under the model scaled by `factor`. */
export function slowShare(boundMs: number, factor = 1): number {
  const z = Math.log(boundMs / (factor * LATENCY.medianMs)) / LATENCY.sigma;
  return normalUpperTail(z);
}

/** The empirical p99 (nearest rank) of `n` requests' latencies; 0 with no requests. */
export function empiricalP99(u: Uniform, n: number, factor = 1): number {
  if (n <= 0) return 0;
  const k = Math.max(1, Math.ceil(0.99 * n));
  const g1 = gammaDraw(u, k);
  const g2 = gammaDraw(u, n - k + 1);
  const uniform = g1 / (g1 + g2);
  return latencyQuantile(Math.min(1 - 1e-12, Math.max(1e-12, uniform)), factor);
}

/**
 * One-sided Mann–Whitney U test that `a` tends to be larger than `b`: the p-value from the normal
 * approximation with tie correction and continuity correction (Kayenta's classifier uses the same
 * test on a metric's values over time).
 */
export function mannWhitneyGreater(a: readonly number[], b: readonly number[]): number {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return 1;
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort(
    (x, y) => x.v - y.v,
  );
  const n = n1 + n2;
  let rankSumA = 0;
  let tieTerm = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && all[j + 1]!.v === all[i]!.v) j++;
    const rank = (i + j) / 2 + 1;
    const t = j - i + 1;
    tieTerm += t ** 3 - t;
    for (let k = i; k <= j; k++) if (all[k]!.g === 0) rankSumA += rank;
    i = j + 1;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return 1;
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return normalUpperTail(z);
}
