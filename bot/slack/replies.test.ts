import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { aPlan } from '../../test/support/plan-builders.js';
import { slackPolicyYaml } from '../../test/support/slack-policy.js';
import { planText } from './replies.js';

describe('planText (a dry run)', () => {
  const service = parsePolicy(slackPolicyYaml(), 'slack-policy.yaml').services.checkout!;
  const requester = { userId: 'U0STARTER', mayStart: true };

  it('shows the waves of a plan of several waves, in order', () => {
    const plan = aPlan().withWaves(['eu-west'], ['us-east']).build();
    expect(planText(plan, service, requester)).toContain(
      '· canary · waves 1: eu-west → 2: us-east',
    );
  });

  it('shows the clusters of a plan of one wave, as before', () => {
    const plan = aPlan().withClusters('eu-west', 'us-east').build();
    expect(planText(plan, service, requester)).toContain('· canary · clusters eu-west, us-east');
  });
});
