import { describe, expect, it } from 'vitest';
import { aReleasePolicy } from '../../test/support/release-builders.js';
import { planRelease } from './plan.js';
import { nextToStart, type MemberStatus } from './schedule.js';

const members = ['payments@2.0.0', 'checkout@3.1.0', 'search@7.2.0', 'ads@1.0.0'].map((t) => {
  const [service = '', version = ''] = t.split('@');
  return { service, version };
});

function planWith(consumerStartsAt?: number) {
  const policy = aReleasePolicy(
    { payments: [], checkout: ['payments'], search: [], ads: [] },
    { release: consumerStartsAt === undefined ? {} : { consumerStartsAt } },
  );
  return planRelease(policy, members);
}

const running = (passedWeight = 0): MemberStatus => ({ state: 'running', passedWeight });
const succeeded: MemberStatus = { state: 'succeeded' };

describe('nextToStart', () => {
  it('starts members that wait for nothing, at most maxParallel of them, in plan order', () => {
    expect(nextToStart(planWith(), {}, 2)).toEqual(['payments', 'search']);
    expect(nextToStart(planWith(), {}, 5)).toEqual(['payments', 'search', 'ads']);
  });

  it('queues members while maxParallel are running', () => {
    expect(nextToStart(planWith(), { payments: running(), search: running() }, 2)).toEqual([]);
    expect(nextToStart(planWith(), { payments: running(), search: succeeded }, 2)).toEqual(['ads']);
  });

  it('starts a consumer only once its provider has succeeded', () => {
    const plan = planWith();
    const base = { search: succeeded, ads: succeeded };
    expect(nextToStart(plan, { ...base, payments: running(100) }, 2)).toEqual([]);
    expect(nextToStart(plan, { ...base, payments: succeeded }, 2)).toEqual(['checkout']);
  });

  it('with consumerStartsAt, starts a consumer once its provider passed that stage', () => {
    const plan = planWith(50);
    const base = { search: succeeded, ads: succeeded };
    expect(nextToStart(plan, { ...base, payments: running(25) }, 2)).toEqual([]);
    expect(nextToStart(plan, { ...base, payments: running(50) }, 2)).toEqual(['checkout']);
  });

  it('starts nothing more once a member has failed', () => {
    expect(nextToStart(planWith(), { payments: { state: 'failed' } }, 4)).toEqual([]);
  });

  it('never starts a member twice', () => {
    const statuses = {
      payments: succeeded,
      checkout: running(),
      search: running(),
      ads: running(),
    };
    expect(nextToStart(planWith(), statuses, 10)).toEqual([]);
  });
});
