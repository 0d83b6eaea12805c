import { describe, expect, it } from 'vitest';
import { APPROVER, aPlan, STARTER } from '../../test/support/plan-builders.js';
import { commandsIn, effectsOf, rolloutIn } from '../../test/support/rollout-driver.js';
import type { ApprovalRule } from './plan.js';

/** Approval is asked after a stage's bake and gate pass, before traffic moves on. */

const planWithApproval = (rule: Partial<ApprovalRule> = {}, atStage = 0) =>
  aPlan().withStages(5, 25, 100).withClusters('eu', 'us').withApproval(rule, { atStage }).build();

describe('asking for approval', () => {
  it('waits for approval once the stage gate passes, and says who may approve', () => {
    const d = rolloutIn('baking', planWithApproval({ approvers: ['U-lead', 'S-sre'] }));
    const effects = d.passGate();
    expect(d.state).toMatchObject({ status: 'awaiting_approval', stageIndex: 0, approvals: [] });
    expect(commandsIn(effects)).toEqual([]);
    const [ask] = effectsOf(effects, 'notify');
    expect(ask!.kind).toBe('approval_needed');
    expect(ask!.message).toMatch(
      /stage 1\/3 \(5%\).*before stage 2\/3 \(25%\) from U-lead, S-sre \(not U-starter/,
    );
  });

  it('moves every cluster to the next stage once approved', () => {
    const d = rolloutIn('awaiting_approval', planWithApproval());
    const effects = d.accept({ type: 'approve', actor: APPROVER });
    expect(d.state).toMatchObject({ status: 'progressing', stageIndex: 1, approvals: [] });
    expect(commandsIn(effects)).toEqual(['eu:set_weight 25', 'us:set_weight 25']);
  });

  it('gates promotion when the last stage asks for approval', () => {
    const d = rolloutIn('awaiting_approval', planWithApproval({}, 2), { stage: 2 });
    expect(effectsOf(d.effects, 'notify')[0]!.message).toMatch(/before promotion/);
    const effects = d.accept({ type: 'approve', actor: APPROVER });
    expect(d.state.status).toBe('promoting');
    expect(commandsIn(effects)).toEqual(['eu:promote', 'us:promote']);
  });

  it('does not ask at stages without an approval rule', () => {
    const d = rolloutIn('baking', planWithApproval({}, 1));
    d.passGate();
    expect(d.state).toMatchObject({ status: 'progressing', stageIndex: 1 });
  });
});

describe('approve', () => {
  it('accepts an approver acting through a listed group', () => {
    const d = rolloutIn('awaiting_approval', planWithApproval({ approvers: ['S-sre'] }));
    d.accept({ type: 'approve', actor: 'U-someone', groups: ['S-other', 'S-sre'] });
    expect(d.state.status).toBe('progressing');
  });

  it('waits for the required number of distinct approvers', () => {
    const d = rolloutIn(
      'awaiting_approval',
      planWithApproval({ approvers: ['U-a', 'U-b'], required: 2 }),
    );
    d.accept({ type: 'approve', actor: 'U-a' });
    expect(d.state).toMatchObject({ status: 'awaiting_approval', approvals: ['U-a'] });
    d.accept({ type: 'approve', actor: 'U-b' });
    expect(d.state).toMatchObject({ status: 'progressing', stageIndex: 1 });
  });

  it('refuses someone not listed, naming who may approve', () => {
    const d = rolloutIn('awaiting_approval', planWithApproval({ approvers: ['U-lead', 'S-sre'] }));
    const result = d.send({ type: 'approve', actor: 'U-intern', groups: ['S-interns'] });
    expect(result).toMatchObject({ ok: false, code: 'not_permitted' });
    expect(!result.ok && result.reason).toMatch(
      /U-intern may not approve stage 1\/3 .*approvers are U-lead, S-sre/,
    );
  });

  it('with an empty approver list, lets anyone approve but the starter (four-eyes)', () => {
    const d = rolloutIn('awaiting_approval', planWithApproval({ approvers: [] }));
    expect(effectsOf(d.effects, 'notify').at(-1)?.message ?? '').not.toMatch(/from \(not/);
    const starter = d.send({ type: 'approve', actor: STARTER });
    expect(starter).toMatchObject({ ok: false, code: 'four_eyes' });
    expect(!starter.ok && starter.reason).toMatch(/ask another approver: anyone else/);
    d.accept({ type: 'approve', actor: 'U-anyone' });
    expect(d.state.status).toBe('progressing');
  });

  it('refuses the starter under four-eyes', () => {
    const d = rolloutIn('awaiting_approval', planWithApproval({ approvers: [STARTER, APPROVER] }));
    const result = d.send({ type: 'approve', actor: STARTER });
    expect(result).toMatchObject({ ok: false, code: 'four_eyes' });
    expect(!result.ok && result.reason).toMatch(/started .* cannot approve it \(four-eyes\)/);
  });

  it('lets the starter approve when self-approval is allowed', () => {
    const d = rolloutIn(
      'awaiting_approval',
      planWithApproval({ approvers: [STARTER], allowSelfApproval: true }),
    );
    d.accept({ type: 'approve', actor: STARTER });
    expect(d.state.status).toBe('progressing');
  });

  it('refuses the same approver twice', () => {
    const d = rolloutIn(
      'awaiting_approval',
      planWithApproval({ approvers: ['U-a', 'U-b'], required: 2 }),
    );
    d.accept({ type: 'approve', actor: 'U-a' });
    const result = d.send({ type: 'approve', actor: 'U-a' });
    expect(result).toMatchObject({ ok: false, code: 'already_approved' });
    expect(!result.ok && result.reason).toMatch(/1 of 2 approvals/);
  });

  it.each(['progressing', 'baking', 'paused'] as const)(
    'is refused while %s, saying where the rollout is',
    (status) => {
      const d = rolloutIn(status, planWithApproval(), { pausedFrom: 'awaiting_approval' });
      const result = d.send({ type: 'approve', actor: APPROVER });
      expect(result).toMatchObject({ ok: false, code: 'invalid_transition' });
      expect(!result.ok && result.reason).toMatch(
        new RegExp(
          `cannot approve: checkout 2.4.1 \\(r-1\\) is ${status === 'progressing' ? 'applying' : status}`,
        ),
      );
    },
  );

  it('starts each stage with no approvals', () => {
    const plan = aPlan()
      .withStages(5, 25, 100)
      .withApproval({ approvers: ['U-a', 'U-b'] }, { atStage: 0 })
      .withApproval({ approvers: ['U-a', 'U-b'] }, { atStage: 1 })
      .build();
    const d = rolloutIn('awaiting_approval', plan, { stage: 1 });
    expect(d.state.approvals).toEqual([]);
    d.accept({ type: 'approve', actor: 'U-a' });
    expect(d.state.status).toBe('progressing');
  });
});
