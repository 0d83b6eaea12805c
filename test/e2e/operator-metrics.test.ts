import { afterEach, describe, expect, it } from 'vitest';
import { MemoryRolloutStore } from '../../bot/adapters/memory-rollout-store.js';
import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import { OperatorMetrics } from '../../bot/operator-metrics.js';
import { startHealthServer } from '../../bot/slack/health-routes.js';
import { SurfaceMetrics } from '../../bot/slack/metrics.js';
import { startLocalMode, type LocalMode } from '../../local/local-mode.js';
import { systemClock } from '../../shared/clock.js';
import { EVENTS_TOPIC } from '../../shared/contracts/topics.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { silentLogger } from '../../shared/log.js';
import { e2ePolicyYaml, STARTER } from '../support/e2e-policy.js';
import { aCommit, aRolloutState } from '../support/state-builders.js';
import { waitFor } from '../support/wait-for.js';

/** One sample's value from Prometheus text, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics shows what an operator alerts on', () => {
  let local: LocalMode | undefined;
  let http: { port: number; close(): Promise<void> } | undefined;
  afterEach(async () => {
    await http?.close();
    await local?.stop();
    local = http = undefined;
  });

  it('active rollouts by state, outbox depth, gate lag, event ingest lag and dead letters', async () => {
    local = await startLocalMode({
      policy: parsePolicy(e2ePolicyYaml(), 'e2e-policy.yaml'),
      notifier: new RecordingNotifier(),
      clock: systemClock,
      logger: silentLogger,
      samplingIntervalMs: 50,
      heartbeatIntervalMs: 50,
      sweepTimer: false,
    });
    const metrics = new SurfaceMetrics({ processMetrics: false });
    metrics.include(local.bot.metrics.registry);
    http = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      metrics,
      readiness: () => [],
      logger: silentLogger,
    });
    const scrape = async () => (await fetch(`http://127.0.0.1:${http!.port}/metrics`)).text();

    // payments waits for a person's approval after its 50% stage: it stays active.
    const l = local;
    const r = await l.bot.service.start({
      service: 'payments',
      version: '1.1.0',
      startedBy: STARTER,
    });
    await waitFor(async () => (await l.bot.service.get(r.id))?.status === 'awaiting_approval', {
      what: 'the rollout to await approval',
      timeoutMs: 30_000,
    });
    await l.bot.effects.idle();
    // A record that is no event at all: dead-lettered by the bot's events consumer.
    await l.broker.produce(EVENTS_TOPIC, r.id, 'not json');

    const text = await waitFor(
      async () => {
        const t = await scrape();
        return (
          sample(t, 'rollout_dead_letters_total{topic="rollout.events",kind="invalid"}') === 1 && t
        );
      },
      { what: 'the dead letter to be counted' },
    );
    expect(sample(text, 'rollout_rollouts_active{status="awaiting_approval"}')).toBe(1);
    expect(sample(text, 'rollout_rollouts_active{status="baking"}')).toBe(0);
    expect(sample(text, 'rollout_outbox_depth')).toBe(0);
    expect(sample(text, 'rollout_gate_lag_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(
      sample(text, 'rollout_event_ingest_lag_seconds_count{type="stage_applied"}'),
    ).toBeGreaterThanOrEqual(4);
    // The Slack surface's own series are still there beside them (429s among them, once one happens).
    expect(text).toContain('# TYPE rollout_slack_api_rate_limited_total counter');
  });

  it('counts the effects still waiting in the outbox', async () => {
    const store = new MemoryRolloutStore();
    const state = aRolloutState().build();
    await store.create(aCommit(state, [{ type: 'update_card' }, { type: 'cancel_gates' }]));
    const metrics = new OperatorMetrics();
    metrics.observe(store);
    const text = await metrics.registry.metrics();
    expect(sample(text, 'rollout_outbox_depth')).toBe(2);
    expect(sample(text, 'rollout_rollouts_active{status="pending"}')).toBe(1);
  });
});
