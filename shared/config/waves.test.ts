import { describe, expect, it } from 'vitest';
import { parsePolicy } from './policy-loader.js';
import { wavesOf } from './waves.js';
import { lineOf, policyRefusal } from '../../test/support/policy-refusals.js';

/**
 * Four clusters; checkout runs in all of them, search in two. `defaults` and the two services'
 * extra lines are appended where they belong.
 */
function policyYaml(parts: { defaults?: string; checkout?: string; search?: string }): string {
  return [
    'clusters:',
    '  staging: {}',
    '  eu-west: {}',
    '  us-east: {}',
    '  ap-south: {}',
    ...(parts.defaults ? ['defaults:', `  ${parts.defaults}`] : []),
    'services:',
    '  checkout:',
    '    channel: C0CHECKOUT',
    '    clusters: [staging, eu-west, us-east, ap-south]',
    ...(parts.checkout ? [`    ${parts.checkout}`] : []),
    '  search:',
    '    channel: C0SEARCH',
    '    clusters: [eu-west, us-east]',
    ...(parts.search ? [`    ${parts.search}`] : []),
    '',
  ].join('\n');
}

describe('cluster waves', () => {
  it('absent everywhere: one wave of all the service’s clusters (today’s behaviour)', () => {
    const policy = parsePolicy(policyYaml({}), 'p.yaml');
    expect(wavesOf(policy, 'checkout')).toEqual([['staging', 'eu-west', 'us-east', 'ap-south']]);
    expect(wavesOf(policy, 'search')).toEqual([['eu-west', 'us-east']]);
  });

  it('a service’s own waves, in order', () => {
    const policy = parsePolicy(
      policyYaml({ checkout: 'waves: [[staging], [eu-west], [us-east, ap-south]]' }),
      'p.yaml',
    );
    expect(wavesOf(policy, 'checkout')).toEqual([
      ['staging'],
      ['eu-west'],
      ['us-east', 'ap-south'],
    ]);
  });

  it('defaults.waves restricted to each service’s clusters, waves left empty dropped', () => {
    const policy = parsePolicy(
      policyYaml({ defaults: 'waves: [[staging], [eu-west], [us-east, ap-south]]' }),
      'p.yaml',
    );
    expect(wavesOf(policy, 'checkout')).toEqual([
      ['staging'],
      ['eu-west'],
      ['us-east', 'ap-south'],
    ]);
    expect(wavesOf(policy, 'search')).toEqual([['eu-west'], ['us-east']]);
  });

  it('refuses a service’s cluster that no wave holds, naming it', () => {
    const text = policyYaml({ checkout: 'waves: [[staging], [eu-west, us-east]]' });
    const err = policyRefusal(text);
    expect(err.problems).toEqual([
      {
        line: lineOf(text, 'waves:'),
        field: 'services.checkout.waves',
        message:
          'checkout runs in ap-south but no wave of it holds it: every cluster of a service must be in exactly one wave',
      },
    ]);
  });

  it('refuses a cluster in two waves, naming it and its first wave, on its line', () => {
    const text = policyYaml({ search: 'waves: [[eu-west], [us-east, eu-west]]' });
    const err = policyRefusal(text);
    expect(err.problems).toEqual([
      {
        line: lineOf(text, 'waves:'),
        field: 'services.search.waves.1.1',
        message: 'cluster "eu-west" is already in wave 1; a cluster belongs to exactly one wave',
      },
    ]);
  });

  it('refuses a cluster the service does not run in, naming the service’s clusters', () => {
    const err = policyRefusal(policyYaml({ search: 'waves: [[eu-west], [us-east], [staging]]' }));
    expect(err.message).toContain(
      'services.search.waves.2.0: unknown cluster "staging" (search\'s clusters: eu-west, us-east)',
    );
  });

  it('refuses in defaults.waves an undeclared cluster, and a service cluster left out', () => {
    const text = policyYaml({ defaults: 'waves: [[staging], [eu-west, us-east], [mars]]' });
    const err = policyRefusal(text);
    expect(err.problems.map((p) => [p.field, p.message])).toEqual([
      [
        'defaults.waves.2.0',
        'unknown cluster "mars" (declared clusters: staging, eu-west, us-east, ap-south)',
      ],
      [
        'defaults.waves',
        'checkout runs in ap-south but no wave in defaults.waves holds it: every cluster of a service must be in exactly one wave',
      ],
    ]);
    expect(err.problems[0]?.line).toBe(lineOf(text, 'waves:'));
  });

  it('refuses an empty wave and an empty list of waves', () => {
    expect(
      policyRefusal(policyYaml({ search: 'waves: [[eu-west], [], [us-east]]' })).message,
    ).toContain('services.search.waves.1: a wave needs at least one cluster');
    expect(policyRefusal(policyYaml({ search: 'waves: []' })).message).toContain(
      'services.search.waves:',
    );
  });

  it('a service’s own waves win over defaults.waves', () => {
    const policy = parsePolicy(
      policyYaml({
        defaults: 'waves: [[staging, eu-west, us-east, ap-south]]',
        search: 'waves: [[us-east], [eu-west]]',
      }),
      'p.yaml',
    );
    expect(wavesOf(policy, 'search')).toEqual([['us-east'], ['eu-west']]);
    expect(wavesOf(policy, 'checkout')).toEqual([['staging', 'eu-west', 'us-east', 'ap-south']]);
  });
});
