import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../shared/config/policy-loader.js';
import type { Policy } from '../shared/config/policy.js';
import { createLogger } from '../shared/log.js';
import { e2ePolicyYaml, LEAD, OUTSIDER, STARTER } from '../test/support/e2e-policy.js';
import { aVerdict } from '../test/support/plan-builders.js';
import { MemoryRolloutStore } from './adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from './adapters/memory-service-locks.js';
import { RolloutService } from './rollout-service.js';

const policy = parsePolicy(e2ePolicyYaml(), 'e2e-policy.yaml');

interface AuditLine {
  audit: true;
  event: string;
  rolloutId: string;
  service: string;
  actor: string;
  outcome: string;
}

/** A rollout service whose log is read back as JSON lines. */
function setUp(rules: Policy = policy) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  let now = Date.parse('2026-11-22T03:00:00Z');
  const clock = { now: () => now };
  const service = new RolloutService({
    store: new MemoryRolloutStore(),
    locks: new MemoryServiceLocks(clock),
    policy: () => rules,
    clock,
    logger: createLogger('bot', 'info', sink),
    onCommitted: () => undefined,
  });
  const audit = () =>
    lines.filter((l): l is AuditLine & Record<string, unknown> => l.audit === true);
  return { service, audit, advance: (ms: number) => (now += ms) };
}

describe('audit log: one structured line per decision that moves or stops traffic', () => {
  it('logs a gate breach and the rollback it caused, with rollout, service, actor and outcome', async () => {
    const { service, audit } = setUp();
    const r = await service.start({ service: 'checkout', version: '2.5.0', startedBy: STARTER });
    for (const cluster of ['eu-west', 'us-east'])
      await service.apply(
        r.id,
        { type: 'stage_applied', cluster, stageIndex: 0, weight: 5 },
        `agent:${cluster}`,
      );
    const baking = (await service.get(r.id))!;
    await service.apply(
      r.id,
      {
        type: 'gate_result',
        stageIndex: 0,
        tick: baking.gate.tick,
        verdict: aVerdict('fail', { consecutiveFailures: 2 }),
      },
      'system:gate',
    );
    for (const cluster of ['eu-west', 'us-east'])
      await service.apply(r.id, { type: 'rolled_back', cluster }, `agent:${cluster}`);

    expect(audit().map((l) => [l.event, l.actor])).toEqual([
      ['start', `user:${STARTER}`],
      ['gate_breach', 'system:gate'],
      ['rolled_back', 'agent:us-east'],
    ]);
    const breach = audit()[1]!;
    expect(breach).toMatchObject({ rolloutId: r.id, service: 'checkout' });
    expect(breach.outcome).toMatch(/^rolling_back: gate breached at stage 1/);
    expect(audit()[2]!.outcome).toMatch(/^rolled_back: gate breached/);
  });

  it('logs approvals, a denied approval and an abort', async () => {
    const { service, audit, advance } = setUp();
    const r = await service.start({ service: 'payments', version: '1.1.0', startedBy: STARTER });
    // payments: stages 10, 50, 100 with an approval after the 50% bake.
    for (const [stageIndex, weight] of [
      [0, 10],
      [1, 50],
    ] as const) {
      for (const cluster of ['eu-west', 'us-east'])
        await service.apply(
          r.id,
          { type: 'stage_applied', cluster, stageIndex, weight },
          `agent:${cluster}`,
        );
      advance(1_000);
      const state = (await service.get(r.id))!;
      await service.apply(
        r.id,
        { type: 'gate_result', stageIndex, tick: state.gate.tick, verdict: aVerdict('pass') },
        'system:gate',
      );
    }
    expect((await service.get(r.id))!.status).toBe('awaiting_approval');
    await expect(
      service.act(r.id, { type: 'abort', reason: 'no' }, { id: `user:${OUTSIDER}` }),
    ).rejects.toThrow();
    await service.act(r.id, { type: 'approve' }, { id: `user:${LEAD}` });
    await service.act(r.id, { type: 'abort', reason: 'customer freeze' }, { id: `user:${LEAD}` });

    const lines = audit().filter((l) => l.event !== 'start');
    expect(lines.map((l) => [l.event, l.actor])).toEqual([
      ['denied', `user:${OUTSIDER}`],
      ['approval', `user:${LEAD}`],
      ['abort', `user:${LEAD}`],
    ]);
    expect(lines[1]!.outcome).toBe('progressing');
    expect(lines[2]!.outcome).toBe('rolling_back: customer freeze');
    for (const line of lines) expect(line).toMatchObject({ rolloutId: r.id, service: 'payments' });
  });

  it('logs a refused start, which has no rollout to record it', async () => {
    const restricted = {
      ...policy,
      services: {
        ...policy.services,
        checkout: {
          ...policy.services.checkout!,
          permissions: { ...policy.services.checkout!.permissions, start: [LEAD] },
        },
      },
    };
    const { service: denying, audit } = setUp(restricted);
    await expect(
      denying.start({ service: 'checkout', version: '2.5.0', startedBy: OUTSIDER }),
    ).rejects.toThrow(/may not start/);
    expect(audit()).toEqual([
      expect.objectContaining({
        event: 'denied',
        service: 'checkout',
        actor: `user:${OUTSIDER}`,
        outcome: expect.stringMatching(/^start refused \(not_permitted\)/) as unknown,
      }),
    ]);
  });

  it('logs a promotion when the rollout succeeds', async () => {
    const { service, audit, advance } = setUp();
    // search: blue-green in eu-west, stages 0 then 100.
    const r = await service.start({ service: 'search', version: '7.2.0', startedBy: STARTER });
    for (const [stageIndex, weight] of [
      [0, 0],
      [1, 100],
    ] as const) {
      await service.apply(
        r.id,
        { type: 'stage_applied', cluster: 'eu-west', stageIndex, weight },
        'agent:eu-west',
      );
      advance(1_000);
      const state = (await service.get(r.id))!;
      await service.apply(
        r.id,
        { type: 'gate_result', stageIndex, tick: state.gate.tick, verdict: aVerdict('pass') },
        'system:gate',
      );
    }
    await service.apply(r.id, { type: 'promoted', cluster: 'eu-west' }, 'agent:eu-west');
    expect((await service.get(r.id))!.status).toBe('succeeded');
    expect(audit().at(-1)).toMatchObject({
      event: 'promotion',
      rolloutId: r.id,
      service: 'search',
      actor: 'agent:eu-west',
      outcome: 'succeeded',
    });
  });
});
