import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from './policy-loader.js';
import { policyRefusal } from '../../test/support/policy-refusals.js';

const BASE =
  'clusters:\n  eu-west: {}\nservices:\n  checkout:\n    channel: C0CHECKOUT\n    clusters: [eu-west]\n';

describe('release: (top level)', () => {
  it('defaults to two members at once and rolling everything back, without a budget', () => {
    expect(parsePolicy(BASE, 'p.yaml').release).toEqual({
      maxParallel: 2,
      onFailure: 'rollback-all',
    });
  });

  it('reads every field', () => {
    const policy = parsePolicy(
      `${BASE}release:\n  maxParallel: 3\n  consumerStartsAt: 50\n  onFailure: rollback-dependents\n  errorBudget: 500\n`,
      'p.yaml',
    );
    expect(policy.release).toEqual({
      maxParallel: 3,
      consumerStartsAt: 50,
      onFailure: 'rollback-dependents',
      errorBudget: 500,
    });
  });

  it('refuses bad values on their lines, naming the field', () => {
    const text = `${BASE}release:\n  maxParallel: 0\n  consumerStartsAt: 150\n  onFailure: rollback-some\n  errorBudget: -1\n  maxParalel: 2\n`;
    const err = policyRefusal(text);
    const fields = err.problems.map((p) => [p.field, p.line]);
    const line = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
    expect(fields).toEqual([
      ['release.maxParallel', line('maxParallel: 0')],
      ['release.consumerStartsAt', line('consumerStartsAt')],
      ['release.onFailure', line('onFailure')],
      ['release.errorBudget', line('errorBudget')],
      // An unknown key is placed where the section's fields begin.
      ['release', line('maxParallel: 0')],
    ]);
    expect(err.message).toContain('release: unknown field(s) maxParalel');
    expect(err.message).toContain(
      'release.onFailure: Invalid option: expected one of "rollback-all"|"rollback-dependents"',
    );
  });
});

describe('the commented release example in config/policy.yaml', () => {
  it('is a valid policy once uncommented', () => {
    const example = readFileSync(new URL('../../config/policy.yaml', import.meta.url), 'utf8');
    const uncommented = example
      .replace('    # dependsOn: [search]', '    dependsOn: [search]')
      .replace('    # waves: [[eu-west], [us-east]]', '    waves: [[eu-west], [us-east]]')
      .replace(
        /^# release:\n((?:# {3}.*\n)+)/m,
        (_m, body: string) => `release:\n${body.replace(/^# /gm, '')}`,
      );
    expect(uncommented).not.toBe(example);
    const policy = parsePolicy(uncommented, 'config/policy.yaml');
    expect(policy.services.checkout?.dependsOn).toEqual(['search']);
    expect(policy.services.checkout?.waves).toEqual([['eu-west'], ['us-east']]);
    expect(policy.release).toEqual({
      maxParallel: 2,
      consumerStartsAt: 50,
      onFailure: 'rollback-all',
      errorBudget: 200,
    });
  });
});
