import { describe, expect, it } from 'vitest';
import { dependencyProblems } from './dependencies.js';
import { parsePolicy } from './policy-loader.js';
import { lineOf, policyRefusal } from '../../test/support/policy-refusals.js';

/** A policy of three services in one cluster; `extra` is appended under each named service. */
function policyYaml(extra: Partial<Record<'checkout' | 'payments' | 'search', string>>): string {
  const service = (name: 'checkout' | 'payments' | 'search', channel: string) =>
    `  ${name}:\n    channel: ${channel}\n    clusters: [eu-west]\n` +
    (extra[name] ? `    ${extra[name]}\n` : '');
  return (
    'clusters:\n  eu-west: {}\nservices:\n' +
    service('checkout', 'C0CHECKOUT') +
    service('payments', 'C0PAYMENTS') +
    service('search', 'C0SEARCH')
  );
}

describe('services.<name>.dependsOn', () => {
  it('reads the providers a service depends on', () => {
    const policy = parsePolicy(policyYaml({ checkout: 'dependsOn: [payments, search]' }), 'p.yaml');
    expect(policy.services.checkout?.dependsOn).toEqual(['payments', 'search']);
    expect(policy.services.payments?.dependsOn).toBeUndefined();
  });

  it('refuses an unknown provider, naming it and the nearest service, on its line', () => {
    const text = policyYaml({ checkout: 'dependsOn: [paymnets]' });
    const err = policyRefusal(text);
    expect(err.problems).toEqual([
      {
        line: lineOf(text, 'dependsOn'),
        field: 'services.checkout.dependsOn.0',
        message:
          'unknown service "paymnets"; did you mean "payments"? Known services: checkout, payments, search.',
      },
    ]);
  });

  it('refuses a cycle at load, naming the cycle, on the line of the dependsOn that closes it', () => {
    const text = policyYaml({
      checkout: 'dependsOn: [payments]',
      payments: 'dependsOn: [checkout]',
    });
    const err = policyRefusal(text);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatchObject({
      line: lineOf(text, 'dependsOn: [checkout]'),
      field: 'services.payments.dependsOn.0',
    });
    expect(err.message).toContain(
      `policy.yaml:${lineOf(text, 'dependsOn: [checkout]')}: services.payments.dependsOn.0: dependsOn cycle checkout → payments → checkout`,
    );
  });

  it('refuses a longer cycle and a service that depends on itself', () => {
    const long = policyRefusal(
      policyYaml({
        checkout: 'dependsOn: [payments]',
        payments: 'dependsOn: [search]',
        search: 'dependsOn: [checkout]',
      }),
    );
    expect(long.message).toContain('dependsOn cycle checkout → payments → search → checkout');
    const self = policyRefusal(policyYaml({ search: 'dependsOn: [search]' }));
    expect(self.message).toContain('services.search.dependsOn.0: dependsOn cycle search → search');
  });

  it('refuses a provider listed twice', () => {
    const err = policyRefusal(policyYaml({ checkout: 'dependsOn: [payments, payments]' }));
    expect(err.message).toContain('services.checkout.dependsOn.1: "payments" is listed twice');
  });

  it('accepts a diamond (two consumers of one provider, one consumer of both): no cycle', () => {
    expect(
      dependencyProblems({
        web: { dependsOn: ['checkout', 'search'] },
        checkout: { dependsOn: ['payments'] },
        search: { dependsOn: ['payments'] },
        payments: {},
      }),
    ).toEqual([]);
  });

  it('reports each cycle of the graph once', () => {
    const problems = dependencyProblems({
      a: { dependsOn: ['b'] },
      b: { dependsOn: ['a'] },
      c: { dependsOn: ['d', 'a'] },
      d: { dependsOn: ['c'] },
    });
    expect(problems.map((p) => p.message.split(':')[0])).toEqual([
      'dependsOn cycle a → b → a',
      'dependsOn cycle c → d → c',
    ]);
  });
});
