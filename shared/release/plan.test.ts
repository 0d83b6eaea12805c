import { describe, expect, it } from 'vitest';
import { aReleasePolicy } from '../../test/support/release-builders.js';
import { planRelease, ReleaseError } from './plan.js';

/** checkout calls payments and cart; cart calls payments; search stands alone. */
const SHOP = aReleasePolicy(
  { payments: [], cart: ['payments'], checkout: ['payments', 'cart'], search: [] },
  { release: { maxParallel: 3, consumerStartsAt: 50 } },
);

function refusal(members: { service: string; version: string }[]): ReleaseError {
  try {
    planRelease(SHOP, members);
  } catch (err) {
    if (err instanceof ReleaseError) return err;
    throw err;
  }
  throw new Error('expected the release to be refused');
}

const m = (text: string) => {
  const [service = '', version = ''] = text.split('@');
  return { service, version };
};

describe('planRelease', () => {
  it('orders providers before their consumers and says what each waits for', () => {
    const plan = planRelease(SHOP, [m('checkout@3.1.0'), m('payments@2.0.0')]);
    expect(plan.members).toEqual([
      { service: 'payments', version: '2.0.0', waitsFor: [], group: 0, waves: [['eu-west']] },
      {
        service: 'checkout',
        version: '3.1.0',
        waitsFor: ['payments'],
        group: 1,
        waves: [['eu-west']],
      },
    ]);
    expect(plan.groups).toEqual([['payments'], ['checkout']]);
  });

  it('groups independent members, in the order they were typed', () => {
    const plan = planRelease(SHOP, [
      m('checkout@3.1.0'),
      m('search@7.2.0'),
      m('cart@1.5.0'),
      m('payments@2.0.0'),
    ]);
    expect(plan.groups).toEqual([['search', 'payments'], ['cart'], ['checkout']]);
    expect(plan.members.map((x) => [x.service, x.waitsFor])).toEqual([
      ['search', []],
      ['payments', []],
      ['cart', ['payments']],
      ['checkout', ['cart', 'payments']],
    ]);
  });

  it('waits for a provider reached through a service outside the release', () => {
    const policy = aReleasePolicy({ payments: [], cart: ['payments'], checkout: ['cart'] });
    const plan = planRelease(policy, [m('checkout@3.1.0'), m('payments@2.0.0')]);
    expect(plan.members.map((x) => [x.service, x.waitsFor])).toEqual([
      ['payments', []],
      ['checkout', ['payments']],
    ]);
  });

  it('carries the policy’s release settings and each member’s waves', () => {
    const policy = aReleasePolicy(
      { payments: [], checkout: ['payments'] },
      { waves: { payments: [['staging'], ['eu-west', 'us-east']] } },
    );
    const plan = planRelease(policy, [m('payments@2.0.0'), m('checkout@3.1.0')]);
    expect(plan.policy).toEqual({ maxParallel: 2, onFailure: 'rollback-all' });
    expect(plan.members[0]?.waves).toEqual([['staging'], ['eu-west', 'us-east']]);
    expect(planRelease(SHOP, [m('cart@1'), m('search@2')]).policy.consumerStartsAt).toBe(50);
  });

  it('refuses fewer than two members: that is a rollout, not a release', () => {
    expect(refusal([m('payments@2.0.0')]).message).toContain(
      'a release has at least two services (got 1); for one service, run /rollout start <service> <version>',
    );
  });

  it('refuses a service named twice, naming both versions', () => {
    expect(refusal([m('payments@1'), m('payments@2')]).problems).toContain(
      'payments is named twice (payments@1 and payments@2); a release ships one version of each service',
    );
  });

  it('refuses an unknown service with the nearest known names', () => {
    const err = refusal([m('paymnets@2.0.0'), m('checkout@3.1.0')]);
    expect(err.problems).toEqual([
      'unknown service "paymnets"; did you mean "payments"? Known services: payments, cart, checkout, search',
    ]);
    expect(err.suggestions).toEqual(['payments']);
    expect(err.code).toBe('invalid_release');
  });

  it('refuses a bad version in one member, naming the member and what a version looks like', () => {
    expect(refusal([m('payments@2.0.0'), m('checkout@latest')]).problems).toEqual([
      'checkout@latest: "latest" is not a version; write it like 2.4.1, v2.4.1 or 2.4.1-rc.1',
    ]);
    expect(refusal([m('payments@2.0.0'), m(`checkout@1.0.0-${'a'.repeat(200)}`)]).problems).toEqual(
      ['the version of checkout is 206 characters; at most 128'],
    );
  });

  it('names every problem at once', () => {
    expect(refusal([m('payments@x'), m('serch@1.0.0'), m('payments@2')]).problems).toHaveLength(3);
  });
});
