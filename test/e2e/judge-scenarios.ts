import { expect, it } from 'vitest';
import type { RolloutService } from '../../bot/rollout-service.js';
import { judgePolicyYaml, STARTER } from '../support/e2e-policy.js';
import { waitForStatus, type HarnessFactory, type RolloutHarness } from './rollout-harness.js';

const ENDED = ['succeeded', 'rolled_back', 'failed', 'aborted'] as const;
/** ×5 the baseline error rate of 0.5% on every canary. */
const FIVEFOLD_ERRORS = [{ role: 'canary' as const, errorRate: 0.02 }];

/** Ms from the rollout's start to the transition that began its rollback, by the bot's clock. */
async function msToRollback(service: RolloutService, rolloutId: string): Promise<number> {
  const trail = await service.auditTrail(rolloutId);
  const started = trail.find((h) => h.input === 'start');
  const rollback = trail.find((h) => h.status === 'rolling_back');
  if (!started || !rollback) throw new Error(`rollout ${rolloutId} has no start or no rollback`);
  return rollback.at - started.at;
}

/**
 * The sequential judge end to end (issue 13), in the mode `start` runs, under the example
 * policy's gate and sampling (see `judgePolicyYaml`). Called inside a describe whose afterEach
 * stops `harness`.
 */
export function judgeScenarios(
  start: HarnessFactory,
  keep: (harness: RolloutHarness) => void,
): void {
  it('rolls back a ×5 error canary at 5% by the sequential check, no later than the threshold gate', async () => {
    const harness = await start({ policyYaml: judgePolicyYaml(FIVEFOLD_ERRORS) });
    keep(harness);
    // Both at once, same traffic and fault: `checkout` has today's gate, `orders` adds the judge.
    const [threshold, sequential] = await Promise.all(
      ['checkout', 'orders'].map((service) =>
        harness.service.start({ service, version: '9.9.9', startedBy: STARTER }),
      ),
    );
    const [byThreshold, bySequential] = await Promise.all(
      [threshold!, sequential!].map((r) => waitForStatus(harness, r.id, [...ENDED])),
    );
    expect(byThreshold!.status).toBe('rolled_back');
    expect(bySequential!).toMatchObject({ status: 'rolled_back', stageIndex: 0 });
    expect(bySequential!.outcome).toMatch(/^sequential check breached at stage 1/);
    const thresholdMs = await msToRollback(harness.service, threshold!.id);
    const sequentialMs = await msToRollback(harness.service, sequential!.id);
    console.info(
      `judge e2e: rollback after ${sequentialMs} ms (sequential) vs ${thresholdMs} ms (threshold), ratio ${(sequentialMs / thresholdMs).toFixed(2)}`,
    );
    expect(sequentialMs).toBeLessThanOrEqual(thresholdMs);
    const alert = harness.notifier.alerts(sequential!.id).find((a) => a.kind === 'gate_breached');
    expect(alert?.message).toMatch(/errors \d+ in \d+ canary requests vs [\d.]+ expected.*α 0\.01/);
  });

  it('rolls back the same fault at 1%, where the threshold gate is mostly inconclusive', async () => {
    const harness = await start({ policyYaml: judgePolicyYaml(FIVEFOLD_ERRORS) });
    keep(harness);
    const started = await harness.service.start({
      service: 'ledger',
      version: '9.9.9',
      startedBy: STARTER,
    });
    const done = await waitForStatus(harness, started.id, [...ENDED]);
    expect(done).toMatchObject({ status: 'rolled_back', stageIndex: 0 });
    console.info(`judge e2e at 1%: ${done.outcome}`);
  });

  it('takes a healthy canary under the sequential judge to success', async () => {
    const harness = await start({ policyYaml: judgePolicyYaml() });
    keep(harness);
    const started = await harness.service.start({
      service: 'orders',
      version: '3.1.0',
      startedBy: STARTER,
    });
    const done = await waitForStatus(harness, started.id, [...ENDED]);
    expect(done.status).toBe('succeeded');
    // The evidence was kept with the rollout across its stages.
    expect(done.judge?.checks.errors?.intervals).toBeGreaterThan(10);
  });
}
