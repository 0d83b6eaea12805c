import { afterEach, describe, expect, it } from 'vitest';
import type { WebhookCheck } from '../../shared/rollout/plan.js';
import { startWebhookServer, type WebhookServer } from '../../test/support/webhook-server.js';
import type { TrackedRollout } from '../rollout-table.js';
import { WebhookChecks } from './webhook-checks.js';

function aRollout(webhooks: WebhookCheck[]): TrackedRollout {
  const gate = { checks: [], minRequests: 10, intervalMs: 1_000, failureLimit: 1, webhooks };
  return {
    rolloutId: 'r-1',
    service: 'search',
    target: {
      service: 'search',
      stableVersion: '7.1.0',
      canaryVersion: '7.2.0',
      strategy: 'blue-green',
    },
    stages: [
      { weight: 0, bakeMs: 1_000, gate },
      { weight: 100, bakeMs: 1_000, gate },
    ],
    stageIndex: 0,
    active: true,
    paused: false,
    handledSeq: 0,
    appliedSeq: 0,
  };
}

describe('WebhookChecks', () => {
  let server: WebhookServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('a slow webhook holds a sample no longer than the bound; its result comes with a later sample of the same stage', async () => {
    server = await startWebhookServer({ status: 200, body: { ok: true }, delayMs: 300 });
    const smoke: WebhookCheck = {
      name: 'smoke',
      url: `${server.url}/smoke`,
      timeoutMs: 2_000,
      retries: 0,
      expect: { status: 200 },
    };
    const checks = new WebhookChecks({ cluster: 'eu-west' });
    const rollout = aRollout([smoke]);

    const started = Date.now();
    expect(await checks.resultsFor(rollout, 0, 50)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(250);
    // The round still running is not started again: one call so far.
    expect(await checks.resultsFor(rollout, 0, 1_000)).toMatchObject([
      { name: 'smoke', passed: true },
    ]);
    expect(server.calls()).toHaveLength(1);
    // Results belong to their stage: the next stage starts without them.
    expect(await checks.resultsFor(rollout, 1, 0)).toEqual([]);
  });

  it('runs nothing for a gate without webhooks', async () => {
    const checks = new WebhookChecks({ cluster: 'eu-west' });
    expect(await checks.resultsFor(aRollout([]), 0, 1_000)).toEqual([]);
  });
});
