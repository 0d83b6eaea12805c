/**
 * A seeded random source and the few distributions the traffic model draws from. Injected
 * everywhere the simulation needs chance, so a test with a seed sees the same numbers every run.
 */

import { seededUniform, standardNormal } from '../../shared/judge/seeded-counts.js';

/** Returns a number in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/** mulberry32 (the judge's simulations use the same generator): not for anything secret. */
export function seededRandom(seed: number): RandomSource {
  return seededUniform(seed);
}

/** Standard normal (mean 0, sd 1), Box–Muller. */
export function normal(random: RandomSource): number {
  return standardNormal(random);
}

/** A Poisson count with the given mean: exact for small means, normal approximation above 30. */
export function poisson(random: RandomSource, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(random)));
  const limit = Math.exp(-mean);
  let count = 0;
  let product = random();
  while (product > limit) {
    count += 1;
    product *= random();
  }
  return count;
}

/** How many of `trials` succeed with probability `p`, always within 0..trials. */
export function binomial(random: RandomSource, trials: number, p: number): number {
  if (trials <= 0 || p <= 0) return 0;
  if (p >= 1) return trials;
  const mean = trials * p;
  let drawn: number;
  if (trials <= 50) {
    drawn = 0;
    for (let i = 0; i < trials; i += 1) if (random() < p) drawn += 1;
  } else if (mean < 30) {
    drawn = poisson(random, mean);
  } else {
    drawn = Math.round(mean + Math.sqrt(mean * (1 - p)) * normal(random));
  }
  return Math.min(trials, Math.max(0, drawn));
}
