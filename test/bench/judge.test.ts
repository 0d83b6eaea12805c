import { describe, expect, it } from 'vitest';
import { exampleGate, runJudgeBench } from '../../bench/judge.js';

// A small cell of the judge bench: its figures are for `npm run bench`, these are its promises.
describe('judge bench', () => {
  it('reads the example policy gate', () => {
    expect(exampleGate()).toMatchObject({ intervalMs: 5_000, minRequests: 50, failureLimit: 2 });
  });

  it('at 1,000 req/s and 5%: no more false alarms than α, and a ×5 error canary is caught', () => {
    const bench = runJudgeBench({
      runs: 300,
      trafficRps: [1_000],
      canaryWeights: [0.05],
      scenarios: ['healthy', 'errors ×5'],
    });
    const [healthy, regressed] = bench.cells;
    expect(healthy!.scenario).toBe('healthy');
    expect(healthy!.methods.sequential.rolledBack).toBeLessThanOrEqual(bench.settings.alpha);
    expect(regressed!.methods.sequential.rolledBack).toBe(1);
    // Caught within the example policy's 30 s bake in half the runs, no later than today's gate.
    expect(regressed!.methods.sequential.p50S!).toBeLessThanOrEqual(30);
    expect(regressed!.methods.sequential.p50S!).toBeLessThanOrEqual(
      regressed!.methods.threshold.p50S!,
    );
  });
});
