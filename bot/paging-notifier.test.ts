import { describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/errors.js';
import { parsePolicy } from '../shared/config/policy-loader.js';
import { pagerRouting } from '../shared/config/pager-routing.js';
import { silentLogger } from '../shared/log.js';
import {
  PagerUnavailableError,
  PageRejectedError,
  type Pager,
  type PageTrigger,
} from '../shared/ports/pager.js';
import { e2ePolicyYaml } from '../test/support/e2e-policy.js';
import { aRolloutState } from '../test/support/state-builders.js';
import { MemoryOnceClaims } from './adapters/memory-once-claims.js';
import { RecordingNotifier } from './adapters/recording-notifier.js';
import { PagingNotifier } from './paging-notifier.js';

const policy = parsePolicy(
  e2ePolicyYaml().replace(
    'stableVersion: 1.0.0',
    'stableVersion: 1.0.0\n    pagerduty: { routingKeyEnv: PAGERDUTY_ROUTING_KEY_PAYMENTS }',
  ),
  'policy.yaml',
);

/** A pager that records what it was asked and fails as told. */
class FakePager implements Pager {
  readonly sent: { action: string; routingKey: string; dedupKey: string; page?: PageTrigger }[] =
    [];
  failWith: Error | undefined;

  async trigger(page: PageTrigger): Promise<void> {
    this.maybeFail();
    this.sent.push({
      action: 'trigger',
      routingKey: page.routingKey,
      dedupKey: page.dedupKey,
      page,
    });
  }

  async resolve(routingKey: string, dedupKey: string): Promise<void> {
    this.maybeFail();
    this.sent.push({ action: 'resolve', routingKey, dedupKey });
  }

  private maybeFail(): void {
    if (this.failWith) throw this.failWith;
  }
}

function setUp(env: Record<string, string> = { PAGERDUTY_ROUTING_KEY_PAYMENTS: 'payments-key' }) {
  const pager = new FakePager();
  const inner = new RecordingNotifier();
  const notifier = new PagingNotifier({
    inner,
    pager,
    routing: pagerRouting(policy, (v) => env[v]),
    claims: new MemoryOnceClaims({ now: () => Date.now() }),
    logger: silentLogger,
  });
  return { pager, inner, notifier };
}

const payments = () => aRolloutState().withId('payments-1').withService('payments');

describe('pagerRouting', () => {
  it('uses a service’s own key, else the default, and pages a cluster with the default', () => {
    const routing = pagerRouting(
      policy,
      (v) =>
        ({ PAGERDUTY_ROUTING_KEY: 'default-key', PAGERDUTY_ROUTING_KEY_PAYMENTS: 'payments-key' })[
          v
        ],
    );
    expect(routing.forService('payments')).toBe('payments-key');
    expect(routing.forService('checkout')).toBe('default-key');
    expect(routing.forCluster('eu-west')).toEqual(['default-key']);
  });

  it('without a default, pages only services with a key, and a cluster through the keys of its services', () => {
    const routing = pagerRouting(
      policy,
      (v) => ({ PAGERDUTY_ROUTING_KEY_PAYMENTS: 'payments-key' })[v],
    );
    expect(routing.forService('checkout')).toBeUndefined();
    expect(routing.forCluster('us-east')).toEqual(['payments-key']);
    expect(routing.enabled).toBe(true);
  });

  it('refuses to start when the variable the policy names is unset, naming it', () => {
    expect(() => pagerRouting(policy, () => undefined)).toThrow(ConfigError);
    expect(() => pagerRouting(policy, () => undefined)).toThrow(/PAGERDUTY_ROUTING_KEY_PAYMENTS/);
  });
});

describe('PagingNotifier', () => {
  it('pages an automatic rollback once, whatever repeats it, and not an approval request', async () => {
    const { pager, inner, notifier } = setUp();
    const state = payments().withStatus('rolling_back').build();
    await notifier.alert(state, 'gate_breached', 'gate breached');
    await notifier.alert(state, 'gate_breached', 'gate breached'); // a replayed effect
    await notifier.alert(state, 'command_failed', 'set_weight failed'); // same rollback, other cause
    await notifier.alert(state, 'approval_needed', 'approve please');
    expect(pager.sent.map((s) => [s.action, s.routingKey, s.dedupKey])).toEqual([
      ['trigger', 'payments-key', 'rollout/payments-1/automatic_rollback'],
    ]);
    expect(inner.alerts()).toHaveLength(4); // people in Slack still see every alert
  });

  it('pages a rollback that cannot finish as critical, apart from the rollback itself', async () => {
    const { pager, notifier } = setUp();
    const state = payments().withStatus('rolling_back').build();
    await notifier.alert(state, 'gate_breached', 'gate breached');
    await notifier.alert(state, 'rollback_failed', 'rollback failed in eu-west');
    expect(pager.sent.map((s) => [s.dedupKey, s.page?.severity])).toEqual([
      ['rollout/payments-1/automatic_rollback', 'error'],
      ['rollout/payments-1/rollback_failed', 'critical'],
    ]);
  });

  it('resolves every open incident of the rollout once it ends on stable, once', async () => {
    const { pager, notifier } = setUp();
    await notifier.alert(payments().withStatus('rolling_back').build(), 'gate_breached', 'breach');
    await notifier.alert(payments().withStatus('rolling_back').build(), 'rollout_stuck', 'stuck');
    const done = payments().withStatus('rolled_back').build();
    await Promise.all([
      notifier.alert(done, 'rolled_back', 'rolled back'),
      notifier.rolloutChanged(done, { actor: 'agent:eu-west', input: 'rolled_back' }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(
      pager.sent
        .filter((s) => s.action === 'resolve')
        .map((s) => s.dedupKey)
        .sort(),
    ).toEqual(['rollout/payments-1/automatic_rollback', 'rollout/payments-1/rollout_stuck']);
  });

  it('does not page a service without a routing key', async () => {
    const { pager, notifier } = setUp();
    const checkout = aRolloutState().withService('checkout').withStatus('rolling_back').build();
    await notifier.alert(checkout, 'gate_breached', 'breach');
    expect(pager.sent).toEqual([]);
  });

  it('leaves the alert undelivered when the pager is down, so the outbox retries it and it pages then', async () => {
    const { pager, notifier } = setUp();
    const state = payments().withStatus('rolling_back').build();
    pager.failWith = new PagerUnavailableError('k', '503');
    await expect(notifier.alert(state, 'gate_breached', 'breach')).rejects.toThrow(
      PagerUnavailableError,
    );
    pager.failWith = undefined;
    await notifier.alert(state, 'gate_breached', 'breach');
    expect(pager.sent.map((s) => s.action)).toEqual(['trigger']);
  });

  it('does not retry an event the pager refused (400): the alert counts as delivered', async () => {
    const { pager, notifier } = setUp();
    pager.failWith = new PageRejectedError('k', ["'payload.summary' is missing"]);
    await expect(
      notifier.alert(payments().withStatus('rolling_back').build(), 'gate_breached', 'x'),
    ).resolves.toBeUndefined();
  });
});
