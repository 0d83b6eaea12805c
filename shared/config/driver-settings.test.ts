/** The policy fields of the real drivers: `services.<name>.routing`, `prometheus`, `services.<name>.prometheus`. */
import { describe, expect, it } from 'vitest';
import { parsePolicy, PolicyError } from './policy-loader.js';
import { DEFAULT_QUERIES } from './prometheus-queries.js';

const base = `
clusters: { eu-west: {} }
services:
  checkout:
    channel: C0CHECKOUT
    clusters: [eu-west]
`;

function problems(text: string): string[] {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (err) {
    if (err instanceof PolicyError) return err.problems.map((p) => `${p.field}: ${p.message}`);
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

describe('driver settings in the policy file', () => {
  it('reads routing and per-service PromQL overrides, with the defaults filled in', () => {
    const policy = parsePolicy(
      `${base}    routing: { namespace: shop, httpRoute: checkout, stableService: checkout, canaryService: checkout-canary, port: 8080 }
    prometheus: { latencyUnit: milliseconds }
prometheus:
  minWindow: 1m
  queries:
    selector: 'app="$service",version="$version"'
`,
      'policy.yaml',
    );
    expect(policy.services.checkout?.routing).toEqual({
      namespace: 'shop',
      httpRoute: 'checkout',
      stableService: 'checkout',
      canaryService: 'checkout-canary',
      port: 8080,
    });
    expect(policy.services.checkout?.prometheus).toEqual({ latencyUnit: 'milliseconds' });
    expect(policy.prometheus?.minWindow).toBe(60_000);
    expect(policy.prometheus?.queries).toEqual({
      ...DEFAULT_QUERIES,
      selector: 'app="$service",version="$version"',
    });
  });

  it('refuses the same Service as stable and canary, and names that are not Kubernetes names', () => {
    expect(
      problems(
        `${base}    routing: { namespace: Shop, httpRoute: checkout, stableService: checkout, canaryService: checkout }`,
      ),
    ).toEqual([
      expect.stringMatching(/^services\.checkout\.routing\.namespace: a lowercase RFC 1123 name/),
      'services.checkout.routing.canaryService: stableService and canaryService must be two different Services',
    ]);
  });

  it('refuses routing without the route name', () => {
    expect(
      problems(`${base}    routing: { namespace: shop, stableService: a, canaryService: b }`),
    ).toEqual(['services.checkout.routing.httpRoute: is required (string)']);
  });

  it('refuses unknown placeholders and a latency template without $quantile', () => {
    expect(
      problems(
        `${base}    prometheus: { requests: 'sum(rate(x{$selectr}[$window]))', latency: 'histogram_quantile(0.9, x)' }`,
      ),
    ).toEqual([
      'services.checkout.prometheus.requests: unknown placeholder $selectr; this template may use $service, $version, $role, $selector, $window',
      'services.checkout.prometheus.latency: must use $quantile',
    ]);
  });
});
