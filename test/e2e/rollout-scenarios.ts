import { afterEach, describe, expect, it } from 'vitest';
import { ServiceBusyError } from '../../bot/rollout-service.js';
import { isRolloutError } from '../../shared/errors.js';
import { LEAD, OUTSIDER, STARTER } from '../support/e2e-policy.js';
import { waitFor } from '../support/wait-for.js';
import { judgeScenarios } from './judge-scenarios.js';
import { waitForStatus, type HarnessFactory, type RolloutHarness } from './rollout-harness.js';

const user = (id: string) => ({ id: `user:${id}` });

/**
 * The end-to-end behaviour of issue 3, written once and run against each way of running the
 * product (local: one process on memory adapters; distributed: Kafka, Redis, agent processes).
 */
export function describeRolloutScenarios(mode: string, start: HarnessFactory): void {
  describe(`end to end (${mode})`, () => {
    let harness: RolloutHarness | undefined;
    afterEach(async () => {
      await harness?.stop();
      harness = undefined;
    });

    judgeScenarios(start, (h) => {
      harness = h;
    });

    it('takes a healthy canary across two clusters through every stage to success', async () => {
      harness = await start({});
      const started = await harness.service.start({
        service: 'checkout',
        version: '2.5.0',
        startedBy: STARTER,
      });
      const done = await waitForStatus(harness, started.id, [
        'succeeded',
        'rolled_back',
        'failed',
        'aborted',
      ]);
      expect(done.status).toBe('succeeded');
      expect(Object.values(done.clusters).map((c) => [c.status, c.weight])).toEqual([
        ['promoted', 100],
        ['promoted', 100],
      ]);
      const trail = await harness.service.auditTrail(started.id);
      const applied = trail.filter((h) => h.input === 'stage_applied').map((h) => h.detail);
      // Each stage applied once in each cluster, in order: nothing applied twice, nothing skipped.
      expect(applied).toHaveLength(8);
      expect(
        trail.filter((h) => h.input === 'gate_result' && h.detail?.startsWith('pass')).length,
      ).toBeGreaterThanOrEqual(4);
      // The lock is released by an effect of the final commit: in distributed mode it follows
      // the state by a Redis round trip or two.
      const h = harness;
      await waitFor(async () => (await h.service.activeRolloutOf('checkout')) === undefined, {
        what: 'the lock of checkout to be released',
      });
    });

    it('switches a blue-green rollout only after the preview’s gate passes', async () => {
      harness = await start({});
      const started = await harness.service.start({
        service: 'search',
        version: '7.2.0',
        startedBy: STARTER,
      });
      const done = await waitForStatus(harness, started.id, [
        'succeeded',
        'rolled_back',
        'failed',
        'aborted',
      ]);
      expect(done.status).toBe('succeeded');
      const trail = await harness.service.auditTrail(started.id);
      const firstPass = trail.findIndex(
        (h) => h.input === 'gate_result' && h.detail?.startsWith('pass'),
      );
      const switched = trail.findIndex(
        (h) => h.input === 'stage_applied' && h.detail?.includes('at 100%'),
      );
      expect(firstPass).toBeGreaterThan(-1);
      expect(switched).toBeGreaterThan(firstPass);
    });

    it('rolls back both clusters when one breaches its gate at the second stage, and says why', async () => {
      harness = await start({
        faults: [
          { cluster: 'us-east', service: 'checkout', role: 'canary', fromStage: 1, errorRate: 0.3 },
        ],
      });
      const started = await harness.service.start({
        service: 'checkout',
        version: '2.5.0',
        startedBy: STARTER,
      });
      const done = await waitForStatus(harness, started.id, [
        'succeeded',
        'rolled_back',
        'failed',
        'aborted',
      ]);
      expect(done.status).toBe('rolled_back');
      expect(done.stageIndex).toBe(1);
      expect(Object.values(done.clusters).map((c) => c.weight)).toEqual([0, 0]);
      expect(await harness.routerWeight('eu-west', 'checkout')).toBe(0);
      expect(await harness.routerWeight('us-east', 'checkout')).toBe(0);
      // Alerts are effects of the commit that raised them: they follow the state shortly.
      const notifier = harness.notifier;
      const breach = await waitFor(
        () => notifier.alerts(started.id).find((a) => a.kind === 'gate_breached'),
        { what: 'the gate_breached alert' },
      );
      expect(breach?.message).toMatch(/error_rate \d+(\.\d+)?% > 5(\.0)?%/);
      expect(breach?.message).toContain('us-east');
      await waitFor(() => notifier.alerts(started.id).some((a) => a.kind === 'rolled_back'), {
        what: 'the rolled_back alert',
      });
    });

    it('waits for approval; refuses the starter (four-eyes) and an outsider; a lead’s approval advances it', async () => {
      harness = await start({});
      const h = harness;
      const started = await h.service.start({
        service: 'payments',
        version: '1.1.0',
        startedBy: STARTER,
      });
      await waitForStatus(h, started.id, ['awaiting_approval']);
      await waitFor(() => h.notifier.alerts(started.id).some((a) => a.kind === 'approval_needed'), {
        what: 'the approval_needed alert',
      });

      await expect(
        h.service.act(started.id, { type: 'approve' }, user(STARTER)),
      ).rejects.toMatchObject({
        code: 'four_eyes',
      });
      await expect(
        h.service.act(started.id, { type: 'approve' }, user(OUTSIDER)),
      ).rejects.toMatchObject({
        code: 'not_permitted',
      });
      const denied = (await h.service.auditTrail(started.id)).filter((e) => e.input === 'denied');
      expect(denied.map((d) => d.actor)).toEqual([`user:${STARTER}`, `user:${OUTSIDER}`]);

      await h.service.act(started.id, { type: 'approve' }, user(LEAD));
      const done = await waitForStatus(h, started.id, [
        'succeeded',
        'rolled_back',
        'failed',
        'aborted',
      ]);
      expect(done.status).toBe('succeeded');
    });

    it('aborts a rollout: every cluster back to weight 0, state aborted', async () => {
      harness = await start({});
      const started = await harness.service.start({
        service: 'payments',
        version: '1.1.0',
        startedBy: STARTER,
      });
      await waitForStatus(harness, started.id, ['awaiting_approval']);
      await harness.service.act(started.id, { type: 'abort', reason: 'wrong build' }, user(LEAD));
      const done = await waitForStatus(harness, started.id, ['aborted', 'rolled_back', 'failed']);
      expect(done.status).toBe('aborted');
      expect(await harness.routerWeight('eu-west', 'payments')).toBe(0);
      expect(await harness.routerWeight('us-east', 'payments')).toBe(0);
    });

    it('refuses a second start for a service with an active rollout, naming the active one', async () => {
      harness = await start({});
      const first = await harness.service.start({
        service: 'payments',
        version: '1.1.0',
        startedBy: STARTER,
      });
      const second = await harness.service
        .start({ service: 'payments', version: '1.2.0', startedBy: LEAD })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(second).toBeInstanceOf(ServiceBusyError);
      expect(isRolloutError(second) && second.message).toContain(first.id);
      expect((await harness.service.status('payments'))?.id).toBe(first.id);
    });
  });
}
