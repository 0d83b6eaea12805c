import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from './policy-loader.js';
import { policyRefusal } from '../../test/support/policy-refusals.js';

const example = readFileSync(new URL('../../config/policy.yaml', import.meta.url), 'utf8');

describe('parsePolicy', () => {
  it('reads the commented example with its durations in milliseconds and defaults filled in', () => {
    const policy = parsePolicy(example, 'config/policy.yaml');
    expect(Object.keys(policy.clusters)).toEqual(['eu-west', 'us-east']);
    expect(policy.defaults.bake).toBe(30_000);
    expect(policy.defaults.gate.interval).toBe(5_000);
    expect(policy.services.checkout?.permissions.approve).toContain('U0LEAD1');
    expect(policy.services.search?.strategy).toBe('blue-green');
  });

  it('reads retention, with defaults (30 days for finished rollouts, an hour for samples)', () => {
    const minimal = 'clusters: { eu: {} }\nservices: {}\n';
    expect(parsePolicy(minimal, 'p.yaml').retention).toEqual({
      finishedRollouts: 30 * 86_400_000,
      samples: 3_600_000,
    });
    const set = `${minimal}retention: { finishedRollouts: 7d, samples: 10m }\n`;
    expect(parsePolicy(set, 'p.yaml').retention).toEqual({
      finishedRollouts: 7 * 86_400_000,
      samples: 600_000,
    });
    expect(() =>
      parsePolicy(`${minimal}retention: { finishedRollouts: forever }\n`, 'p.yaml'),
    ).toThrow(/retention\.finishedRollouts/);
    expect(() => parsePolicy(`${minimal}retention: { samples: soon }\n`, 'p.yaml')).toThrow(
      /retention\.samples/,
    );
    expect(() => parsePolicy(`${minimal}retention: { samples: 0s }\n`, 'p.yaml')).toThrow(
      /retention\.samples/,
    );
  });

  it('reads the commented retention example once uncommented', () => {
    const uncommented = example.replace(
      /^# retention:\n((?:# {3}.*\n)+)/m,
      (_m, body: string) => `retention:\n${body.replace(/^# /gm, '')}`,
    );
    expect(uncommented).not.toBe(example);
    expect(parsePolicy(uncommented, 'config/policy.yaml').retention).toEqual({
      finishedRollouts: 30 * 86_400_000,
      samples: 3_600_000,
    });
  });

  it('names the file, line and field of a bad value', () => {
    const err = policyRefusal(example.replace('bake: 30s', 'bake: two minutes'));
    const line = example.split('\n').findIndex((l) => l.includes('bake: 30s')) + 1;
    expect(err.message).toContain(
      `policy.yaml:${line}: defaults.bake: "two minutes" is not a duration`,
    );
  });

  it('refuses a service in a cluster that is not declared, on the line of that cluster', () => {
    const err = policyRefusal(example.replace('clusters: [eu-west]', 'clusters: [ap-south]'));
    expect(err.problems).toEqual([
      expect.objectContaining({
        field: 'services.search.clusters.0',
        message: expect.stringContaining('unknown cluster "ap-south"'),
      }),
    ]);
    expect(err.problems[0]?.line).toBe(
      example.split('\n').findIndex((l) => l.includes('clusters: [eu-west]')) + 1,
    );
  });

  it('refuses a misspelt field instead of ignoring it', () => {
    const err = policyRefusal(
      example.replace(
        '    stages: [5, 25, 50, 100]\n    approveAt',
        '    stagse: [5, 25, 50, 100]\n    approveAt',
      ),
    );
    expect(err.message).toMatch(/services\.checkout: unknown field\(s\) stagse/);
  });

  it('reports broken YAML with its line', () => {
    const err = policyRefusal('clusters:\n  eu-west: {\nservices: {}\n');
    expect(err.problems[0]?.message).toMatch(/^YAML: /);
    expect(err.problems[0]?.line).toBeGreaterThan(0);
  });

  it('requires the fields a service cannot do without', () => {
    const err = policyRefusal(
      'clusters: { eu-west: {} }\nservices:\n  pay:\n    clusters: [eu-west]\n',
    );
    expect(err.message).toContain('policy.yaml:4: services.pay.channel: is required (string)');
  });

  it('refuses stages that would not make a valid rollout, saying what would be right', () => {
    const err = policyRefusal(
      example.replace(
        '    stages: [5, 25, 50, 100]\n    approveAt',
        '    stages: [5, 50, 25]\n    approveAt',
      ),
    );
    expect(err.message).toContain(
      'services.checkout.stages: the last stage must be 100, got 5,50,25',
    );
    expect(err.message).toContain(
      'canary stages must increase, got 5,50,25 (for example 5,25,50,100)',
    );
  });

  it('refuses an approval point that is not a stage', () => {
    const err = policyRefusal(example.replace('approveAt: [50]', 'approveAt: [75]'));
    expect(err.message).toContain(
      'services.checkout.approveAt: approveAt 75 is not one of the stages 5,25,50,100',
    );
  });

  it('refuses a blue-green service whose preview no traffic and no webhook can judge, naming the field', () => {
    const blind = example.replace(/ {4}blueGreen:\n {6}mirrorPercent: 10\n/, '');
    expect(blind).not.toBe(example);
    const err = policyRefusal(blind);
    expect(err.problems).toEqual([
      expect.objectContaining({
        field: 'services.search.blueGreen.mirrorPercent',
        message: expect.stringMatching(
          /error_rate, latency_p99\) can never pass: set services\.search\.blueGreen\.mirrorPercent .* or add services\.search\.gate\.webhooks/,
        ),
      }),
    ]);
    // At the service's block (its first line): the field to add is not there yet.
    expect(err.problems[0]?.line).toBe(
      example.split('\n').findIndex((l) => l.startsWith('  search:')) + 2,
    );
  });

  it('accepts a blue-green service judged by a webhook instead of a mirror', () => {
    const judged = example.replace(
      / {4}blueGreen:\n {6}mirrorPercent: 10\n/,
      '    gate:\n      webhooks:\n        - { name: smoke, url: "http://smoke.test/run", timeout: 5s, expect: { body: { ok: true } } }\n',
    );
    const policy = parsePolicy(judged, 'policy.yaml');
    expect(policy.services.search?.gate?.webhooks).toEqual([
      {
        name: 'smoke',
        url: 'http://smoke.test/run',
        timeout: 5_000,
        retries: 2,
        expect: { status: 200, body: { ok: true } },
      },
    ]);
  });

  it('refuses a webhook with an unbounded timeout or a duplicate name', () => {
    const hooks = (list: string) =>
      example.replace(
        '    approveAt: [50]',
        `    approveAt: [50]\n    gate:\n      webhooks: ${list}`,
      );
    expect(
      policyRefusal(hooks('[{ name: load, url: "http://l.test", timeout: 5m }]')).message,
    ).toContain('services.checkout.gate.webhooks.0.timeout: at most 60s');
    expect(
      policyRefusal(hooks('[{ name: a, url: "http://a.test" }, { name: a, url: "http://b.test" }]'))
        .message,
    ).toContain('webhook names must differ');
    expect(
      policyRefusal(hooks('[{ name: smoke, url: "https://ci:s3cret@smoke.test/run" }]')).message,
    ).toContain('services.checkout.gate.webhooks.0.url: a URL without a user or password');
    expect(policyRefusal(hooks('[{ name: a, url: "ftp://a.test" }]')).message).toContain(
      'services.checkout.gate.webhooks.0.url: an http:// or https:// URL',
    );
  });

  it('refuses more approvals required than people listed could ever give', () => {
    const err = policyRefusal(
      example
        .replace('approve: [U0LEAD1, U0LEAD2, S0CHECKOUTLEADS]', 'approve: [U0LEAD1, U0LEAD2]')
        .replace('approvalsRequired: 1', 'approvalsRequired: 3'),
    );
    expect(err.message).toContain(
      'services.checkout.permissions.approvalsRequired: 3 approvals required but only 2 approver(s) listed',
    );
  });

  it('refuses an escalation that would come before the reminder', () => {
    const err = policyRefusal(
      example.replace(
        /approvalTimeout: 1h.*\n/,
        'approvalTimeout: 30m\n      approvalEscalateAfter: 10m\n',
      ),
    );
    expect(err.message).toContain(
      'services.checkout.permissions.approvalEscalateAfter: must be longer than approvalTimeout',
    );
  });
});
