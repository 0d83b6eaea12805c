import { describe, expect, it } from 'vitest';
import { lineOf, policyRefusal } from '../../test/support/policy-refusals.js';
import { contractEdges, namesContractChecks, pacticipantOf } from './contract-policy.js';
import { parsePolicy } from './policy-loader.js';

const services = (checkout: string, extra = ''): string =>
  'clusters:\n  eu-west: {}\nservices:\n' +
  '  payments:\n    channel: C0PAY\n    clusters: [eu-west]\n' +
  '  search:\n    channel: C0SEARCH\n    clusters: [eu-west]\n' +
  `  checkout:\n    channel: C0CHECKOUT\n    clusters: [eu-west]\n${checkout}${extra}`;

const PACT = 'pact:\n  environment: production\n';

describe('contract checks in the policy', () => {
  it('reads the checked edges, the environment and the broker names', () => {
    const policy = parsePolicy(
      services(
        '    dependsOn: [payments, search]\n    contracts: [payments]\n',
        `${PACT}  pacticipants:\n    payments: payments-api\n`,
      ),
      'p.yaml',
    );
    expect(policy.pact).toEqual({
      environment: 'production',
      pacticipants: { payments: 'payments-api' },
    });
    expect(contractEdges(policy)).toEqual([{ consumer: 'checkout', provider: 'payments' }]);
    expect(namesContractChecks(policy)).toBe(true);
    expect(pacticipantOf(policy, 'payments')).toBe('payments-api');
    expect(pacticipantOf(policy, 'checkout')).toBe('checkout');
  });

  it('names no checks when no service lists contracts, with or without a pact: section', () => {
    expect(namesContractChecks(parsePolicy(services(''), 'p.yaml'))).toBe(false);
    expect(namesContractChecks(parsePolicy(services('', PACT), 'p.yaml'))).toBe(false);
  });

  it('refuses a contract on a service that is not one of dependsOn, on its line', () => {
    const text = services('    dependsOn: [payments]\n    contracts: [payments, search]\n', PACT);
    const err = policyRefusal(text);
    expect(err.problems).toEqual([
      {
        field: 'services.checkout.contracts.1',
        line: lineOf(text, 'contracts:'),
        message: expect.stringContaining(
          '"search" is not in services.checkout.dependsOn: a contract check is asked per dependency edge',
        ),
      },
    ]);
  });

  it('refuses a provider listed twice', () => {
    const text = services('    dependsOn: [payments]\n    contracts: [payments, payments]\n', PACT);
    expect(policyRefusal(text).problems.map((p) => [p.field, p.message])).toEqual([
      ['services.checkout.contracts.1', '"payments" is listed twice; list it once'],
    ]);
  });

  it('refuses contracts without a pact: section, saying to add pact.environment', () => {
    const text = services('    dependsOn: [payments]\n    contracts: [payments]\n');
    const [problem] = policyRefusal(text).problems;
    expect(problem?.field).toBe('services.checkout.contracts');
    expect(problem?.message).toContain('add pact.environment');
  });

  it('refuses bad pact: fields naming them: no environment, an unknown service, a stray key', () => {
    const text = services(
      '',
      'pact:\n  pacticipants:\n    paymnts: payments-api\n  enviroment: production\n',
    );
    const fields = policyRefusal(text).problems.map((p) => [p.field, p.message]);
    expect(fields).toEqual(
      expect.arrayContaining([
        ['pact.environment', expect.stringContaining('is required')],
        ['pact', 'unknown field(s) enviroment'],
      ]),
    );
    const unknown = policyRefusal(
      services('', `${PACT}  pacticipants:\n    paymnts: payments-api\n`),
    ).problems;
    expect(unknown.map((p) => [p.field, p.message])).toEqual([
      ['pact.pacticipants.paymnts', expect.stringContaining('unknown service "paymnts"')],
    ]);
  });

  it('refuses a contract entry that is not a service name', () => {
    const text = services('    dependsOn: [payments]\n    contracts: [Payments!]\n', PACT);
    expect(policyRefusal(text).problems[0]?.field).toBe('services.checkout.contracts.0');
  });
});
