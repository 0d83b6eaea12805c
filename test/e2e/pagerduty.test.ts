import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryAgentRegistry } from '../../bot/adapters/memory-agent-registry.js';
import { PagerDutyPager } from '../../bot/adapters/pagerduty-pager.js';
import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import { startLocalMode, type LocalMode } from '../../local/local-mode.js';
import { systemClock } from '../../shared/clock.js';
import { pagerRouting } from '../../shared/config/pager-routing.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import type { Fault } from '../../shared/config/simulation.js';
import { silentLogger } from '../../shared/log.js';
import { e2ePolicyYaml, STARTER } from '../support/e2e-policy.js';
import { PagerDutyDouble } from '../support/pagerduty-double.js';
import { waitFor } from '../support/wait-for.js';

const KEY = 'E2EDEFAULTR0UT1NGKEY0000000000AB';
const ENDED = ['succeeded', 'rolled_back', 'aborted', 'failed'] as const;

describe('on-call is paged through PagerDuty (local mode, Events API v2 double)', () => {
  let double: PagerDutyDouble;
  let local: LocalMode | undefined;
  const agents = new MemoryAgentRegistry();

  beforeEach(async () => {
    double = await new PagerDutyDouble().start();
  });
  afterEach(async () => {
    await local?.stop();
    local = undefined;
    await double.stop();
  });

  async function start(faults: Fault[] = [], sweeps = {}): Promise<LocalMode> {
    const policy = parsePolicy(e2ePolicyYaml(faults), 'e2e-policy.yaml');
    local = await startLocalMode({
      policy,
      notifier: new RecordingNotifier(),
      clock: systemClock,
      logger: silentLogger,
      samplingIntervalMs: 50,
      heartbeatIntervalMs: 50,
      sweepTimer: false,
      sweeps,
      adapters: { agents },
      paging: {
        routing: pagerRouting(policy, (v) => (v === 'PAGERDUTY_ROUTING_KEY' ? KEY : undefined)),
        pager: new PagerDutyPager({ eventsUrl: double.url, logger: silentLogger, baseDelayMs: 20 }),
      },
    });
    return local;
  }

  const ended = (l: LocalMode, id: string) =>
    waitFor(
      async () => {
        const s = await l.bot.service.get(id);
        return s && (ENDED as readonly string[]).includes(s.status) ? s : undefined;
      },
      { what: `rollout ${id} to end`, timeoutMs: 30_000, intervalMs: 20 },
    );

  it('an automatic rollback triggers one incident per rollout and cause, resolved once back on stable', async () => {
    const l = await start([
      { cluster: 'us-east', service: 'checkout', role: 'canary', fromStage: 1, errorRate: 0.3 },
    ]);
    // PagerDuty's rate limit on the first try: the trigger is retried, not lost.
    double.rateLimit(1, 0);
    const r = await l.bot.service.start({
      service: 'checkout',
      version: '2.5.0',
      startedBy: STARTER,
    });
    expect((await ended(l, r.id)).status).toBe('rolled_back');
    const dedupKey = `rollout/${r.id}/automatic_rollback`;
    await waitFor(() => double.accepted('resolve', dedupKey).length > 0, { what: 'the resolve' });
    await l.bot.effects.idle();

    expect(double.accepted('trigger')).toHaveLength(1);
    const [trigger] = double.accepted('trigger');
    expect(trigger).toMatchObject({
      routing_key: KEY,
      dedup_key: dedupKey,
      payload: { source: 'checkout', severity: 'error', class: 'automatic_rollback' },
    });
    expect(trigger!.payload!.summary).toContain('gate breached');
    expect(double.accepted('resolve')).toEqual([
      { routing_key: KEY, event_action: 'resolve', dedup_key: dedupKey },
    ]);
    // The order PagerDuty needs: a resolve that arrives first is dropped.
    const actions = double.requests
      .filter((q) => q.status === 202)
      .map((q) => (q.body as { event_action: string }).event_action);
    expect(actions).toEqual(['trigger', 'resolve']);
    expect(double.requests.map((q) => q.status)).toEqual([429, 202, 202]);
  });

  it('a healthy rollout pages nobody', async () => {
    const l = await start();
    const r = await l.bot.service.start({
      service: 'checkout',
      version: '2.5.0',
      startedBy: STARTER,
    });
    expect((await ended(l, r.id)).status).toBe('succeeded');
    await l.bot.effects.idle();
    expect(double.requests).toEqual([]);
  });

  it('a silent agent pages once per episode and resolves when its heartbeats return', async () => {
    const l = await start([], { intervalMs: 5, agentSilenceMs: 300 });
    await waitFor(async () => (await agents.lastSeen()).length === 2, { what: 'both agents' });
    await l.agents.get('eu-west')!.stop();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const tick = async () => {
      await new Promise((resolve) => setTimeout(resolve, 10)); // a new sweep slot
      return l.bot.sweeps.tick();
    };
    expect(await tick()).toHaveLength(1);
    await tick(); // still silent: no second page
    expect(double.accepted('trigger')).toEqual([
      expect.objectContaining({ dedup_key: 'cluster/eu-west/agent_silent', routing_key: KEY }),
    ]);
    expect(double.accepted('resolve')).toEqual([]);
    await agents.beat('eu-west', 'local-eu-west', Date.now());
    await tick();
    await tick();
    expect(double.accepted('resolve')).toEqual([
      { routing_key: KEY, event_action: 'resolve', dedup_key: 'cluster/eu-west/agent_silent' },
    ]);
  });
});
