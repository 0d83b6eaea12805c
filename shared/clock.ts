/** Time as a port: pure code takes `now` as an argument; adapters and runners take a Clock. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
