import type { Clock } from '../shared/clock.js';
import type { Policy } from '../shared/config/policy.js';
import { isRolloutError, RolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { ContractChecks } from '../shared/ports/contract-checks.js';
import type { OnceClaims } from '../shared/ports/once-claims.js';
import type { ReleaseNotifier } from '../shared/ports/release-notifier.js';
import type { PendingReleaseEffect, ReleaseStore } from '../shared/ports/release-store.js';
import type { ServiceLocks } from '../shared/ports/service-locks.js';
import {
  askContractChecks,
  contractChecksBefore,
  contractChecksFor,
  decideContracts,
} from '../shared/release/contract-gate.js';
import type { ReleaseEffect, ReleaseState } from '../shared/release/state.js';
import { isTerminal, type RolloutState } from '../shared/rollout/state.js';
import { CoalescingPass } from './coalescing-pass.js';
import type { ReleaseService } from './release-service.js';
import type { RolloutService } from './rollout-service.js';

export interface ReleaseRunnerDeps {
  store: ReleaseStore;
  releases: ReleaseService;
  rollouts: RolloutService;
  locks: ServiceLocks;
  notifier: ReleaseNotifier;
  /** can-i-deploy, asked before each member starts and before a provider widens. */
  contracts: ContractChecks;
  policy: () => Policy;
  /** Keeps two bot replicas from carrying out the same effect at once. */
  claims: OnceClaims;
  clock: Clock;
  logger: Logger;
}

const BATCH = 100;
/** A replica that claimed an effect and died: another may take it over after this long. */
const CLAIM_TTL_MS = 15_000;
const ACTOR = 'system:release';
/**
 * A release held for unanswered contract checks pages once: long enough that the retries every
 * few seconds (and other replicas) do not page again for the same hold.
 */
const HOLD_ALERT_TTL_MS = 24 * 60 * 60_000;

/**
 * A member's contract checks could not be answered (the broker is down, a pact is not verified
 * yet): its start stays in the outbox and is asked again at the next drain (every few seconds).
 */
export class ContractChecksHeldError extends RolloutError {
  constructor(reason: string) {
    super(
      'contract_checks_held',
      `${reason}; the release waits and asks again (abort it with /rollout abort to stop waiting)`,
    );
  }
}

/**
 * Carries out stored release effects, oldest first, each release's in order (one that fails
 * keeps that release's later effects waiting; other releases go on), and marks each done. Run at
 * least once: each effect is safe to repeat. A member's start is idempotent by its deterministic
 * rollout id, so a bot killed between starting a member and marking the effect done finds the
 * rollout there on the replay and does not start it twice.
 */
export class ReleaseRunner {
  private readonly passes = new CoalescingPass(() => this.pass());

  constructor(private readonly deps: ReleaseRunnerDeps) {}

  /** Runs every pending effect. Concurrent calls coalesce into one more pass. */
  drain(): Promise<void> {
    return this.passes.run();
  }

  async idle(): Promise<void> {
    await this.passes.idle();
  }

  private async pass(): Promise<void> {
    const blocked = new Set<string>();
    for (const item of await this.deps.store.pendingEffects(BATCH)) {
      if (blocked.has(item.releaseId)) continue;
      if (!(await this.runOne(item))) blocked.add(item.releaseId);
    }
  }

  private async runOne(item: PendingReleaseEffect): Promise<boolean> {
    const claim = `release-effect:${item.id}`;
    if (!(await this.deps.claims.claim(claim, CLAIM_TTL_MS))) return false;
    try {
      await this.execute(item);
      await this.deps.store.markEffectDone(item.id);
      return true;
    } catch (err) {
      this.deps.logger.warn(
        { err, releaseId: item.releaseId, effect: item.effect.type },
        'release effect failed; it stays in the outbox and is retried',
      );
      await this.deps.claims.release(claim).catch(() => undefined);
      return false;
    }
  }

  private async execute({ id, releaseId, effect }: PendingReleaseEffect): Promise<void> {
    switch (effect.type) {
      case 'start_member':
        return this.startMember(releaseId, effect);
      case 'promote_member':
        await this.onMember(effect.rolloutId, { type: 'promote_held', actor: ACTOR });
        return;
      case 'check_widening':
        return this.checkWidening(releaseId, effect);
      case 'widen_member':
        await this.onMember(effect.rolloutId, { type: 'widen_held', actor: ACTOR });
        return;
      case 'rollback_member':
        return this.rollBackMember(releaseId, effect);
      case 'pause_member':
      case 'resume_member':
        await this.onMember(effect.rolloutId, {
          type: effect.type === 'pause_member' ? 'pause' : 'resume',
          actor: ACTOR,
        });
        return;
      case 'release_member_lock':
        await this.deps.locks.release(effect.service, effect.rolloutId);
        return;
      case 'release_card': {
        const state = await this.deps.store.get(releaseId);
        if (state) await this.deps.notifier.releaseChanged(state);
        return;
      }
      case 'release_thread_line':
        return this.withRelease(releaseId, (s) =>
          this.deps.notifier.releaseLine(s, effect.text, id),
        );
      case 'page':
        return this.withRelease(releaseId, (s) =>
          this.deps.notifier.releasePage(s, effect.services, effect.message),
        );
      default: {
        const never: never = effect;
        throw new Error(`unknown release effect ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Creates and starts the member's rollout (hold before promotion, the release's id), then tells
   * the release it started. A start the rollout service refuses (the version became the stable
   * one, the lock was lost) is the member failing: the release hears it ended and goes back.
   *
   * Before the start, its contract checks are asked (`contractsAllow`): a "no" cancels the member
   * and the release goes back; an unanswered one holds the start in the outbox.
   */
  private async startMember(
    releaseId: string,
    effect: Extract<ReleaseEffect, { type: 'start_member' }>,
  ): Promise<void> {
    const release = await this.deps.store.get(releaseId);
    // Only a member still starting is started: one the release already sends back (a failure
    // came before this effect ran) moves no traffic; its rollback effect frees its lock.
    if (release?.members[effect.service]?.state !== 'starting') return;
    if (!(await this.contractsAllow(release, effect.service))) return;
    try {
      await this.deps.rollouts.start(
        {
          service: effect.service,
          version: effect.version,
          startedBy: release.startedBy,
          ...(release.reason !== undefined && { reason: release.reason }),
        },
        { id: ACTOR },
        {
          id: effect.rolloutId,
          releaseId,
          // A provider's before_widening checks are asked again once its first stage passed.
          ...(contractChecksBefore(
            release.plan,
            this.deps.policy(),
            effect.service,
            'before_widening',
          ).length > 0 && { holdBeforeWidening: true }),
        },
      );
    } catch (err) {
      if (!isRolloutError(err)) throw err;
      // No rollout holds the lock the release took for it (freed only if still the member's).
      if ((await this.deps.rollouts.get(effect.rolloutId)) === undefined) {
        await this.deps.locks.release(effect.service, effect.rolloutId);
      }
      await this.deps.releases.applyIfAccepted(releaseId, {
        type: 'member_ended',
        service: effect.service,
        status: 'failed',
        outcome: `its rollout could not start: ${err.message}`,
      });
      return;
    }
    await this.deps.releases.applyIfAccepted(releaseId, {
      type: 'member_started',
      service: effect.service,
    });
  }

  /**
   * Asks can-i-deploy for `service` before it starts and answers the release with
   * `contract_verdict`. Until some member has started, every check of the release is asked, not
   * only this member's: a release stored while the broker could not answer (see
   * `ReleaseService.start`) must start nothing before they are answered. Afterwards only the
   * member's `before_start` checks. True when it may start; false when the release was told no;
   * throws `ContractChecksHeldError` (after paging once) while a check is unanswered, so the start
   * is retried and never passes on silence.
   */
  private async contractsAllow(release: ReleaseState, service: string): Promise<boolean> {
    const policy = this.deps.policy();
    const nothingStarted = Object.values(release.members).every(
      (m) => m.state === 'waiting' || m.state === 'starting',
    );
    const checks = nothingStarted
      ? contractChecksFor(release.plan, policy)
      : contractChecksBefore(release.plan, policy, service, 'before_start');
    if (checks.length === 0) return true;
    const decision = decideContracts(await askContractChecks(this.deps.contracts, checks));
    switch (decision.outcome) {
      case 'proceed':
        await this.deps.releases.applyIfAccepted(release.id, {
          type: 'contract_verdict',
          service,
          ok: true,
          detail: `can-i-deploy says yes to ${checks.length} check(s)`,
        });
        return true;
      case 'refuse':
        await this.deps.releases.applyIfAccepted(release.id, {
          type: 'contract_verdict',
          service,
          ok: false,
          detail: decision.reason,
        });
        return false;
      case 'hold': {
        const services = [...new Set(checks.map((c) => c.member))];
        await this.pageHoldOnce(release, '', services, decision.alert);
        throw new ContractChecksHeldError(decision.reason);
      }
      default: {
        const never: never = decision;
        throw new Error(`unknown contract decision ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Asks a provider's `before_widening` checks again now that its first stage passed (a consumer's
   * pact may have been published since the release started). Yes: the release hears it and lets
   * the member widen (`widen_member`) unless it is paused. No: the release hears the broker's reason and goes back. Unanswered:
   * pages once and throws `ContractChecksHeldError`, so the effect is retried while the member holds
   * at its first stage, still judged by its gate: silence never widens it. A member the release no
   * longer runs (it went back meanwhile) is left to the rollback.
   */
  private async checkWidening(
    releaseId: string,
    effect: Extract<ReleaseEffect, { type: 'check_widening' }>,
  ): Promise<void> {
    const release = await this.deps.store.get(releaseId);
    const member = release?.members[effect.service];
    // Gone back meanwhile, or already widened (a replayed check): nothing to ask.
    if (release === undefined || member?.state !== 'running' || !member.awaitingWidening) return;
    // Paused: nothing widens, so nothing to ask; the resume asks again (`awaitingWidening` stays).
    // Asking now could hold the pause itself behind an unanswering broker.
    if (release.status !== 'running') return;
    const checks = contractChecksBefore(
      release.plan,
      this.deps.policy(),
      effect.service,
      'before_widening',
    );
    const decision =
      checks.length === 0
        ? ({ outcome: 'proceed' } as const)
        : decideContracts(await askContractChecks(this.deps.contracts, checks));
    switch (decision.outcome) {
      case 'proceed':
        // The release decides whether it widens now (`widen_member`) or after a pause ends.
        await this.deps.releases.applyIfAccepted(releaseId, {
          type: 'contract_verdict',
          service: effect.service,
          ok: true,
          detail: `can-i-deploy says yes to ${checks.length} check(s)`,
        });
        return;
      case 'refuse':
        await this.deps.releases.applyIfAccepted(releaseId, {
          type: 'contract_verdict',
          service: effect.service,
          ok: false,
          detail: decision.reason,
        });
        return;
      case 'hold':
        await this.pageHoldOnce(
          release,
          `widening:${effect.service}`,
          [effect.service],
          decision.alert,
        );
        throw new ContractChecksHeldError(decision.reason);
      default: {
        const never: never = decision;
        throw new Error(`unknown contract decision ${JSON.stringify(never)}`);
      }
    }
  }

  /** Pages a contract hold once per release and `what` (every replica and retry share the claim). */
  private async pageHoldOnce(
    release: ReleaseState,
    what: string,
    services: string[],
    alert: string,
  ): Promise<void> {
    const key = `release-contract-hold:${release.id}${what === '' ? '' : `:${what}`}`;
    if (!(await this.deps.claims.claim(key, HOLD_ALERT_TTL_MS))) return;
    try {
      await this.deps.notifier.releasePage(release, services, alert);
    } catch (err) {
      // Not paged: the next retry claims and pages again.
      await this.deps.claims.release(key).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Aborts the member's rollout (it goes back to 0% and reports its end through its own outbox).
   * One that already ended is reported now instead, so the cascade never waits on it.
   */
  private async rollBackMember(
    releaseId: string,
    effect: Extract<ReleaseEffect, { type: 'rollback_member' }>,
  ): Promise<void> {
    const rollout = await this.deps.rollouts.get(effect.rolloutId);
    if (rollout === undefined) {
      // Never created (its start failed and was reported): nothing moved, the lock is freed.
      await this.deps.locks.release(effect.service, effect.rolloutId);
      await this.ended(releaseId, effect.service, undefined);
      return;
    }
    if (isTerminal(rollout.status)) {
      await this.ended(releaseId, effect.service, rollout);
      return;
    }
    const after = await this.onMember(effect.rolloutId, {
      type: 'abort',
      actor: ACTOR,
      reason: effect.reason,
    });
    if (after === undefined) {
      // Refused: it ended meanwhile, or is already rolling back (its end will be reported).
      const now = await this.deps.rollouts.get(effect.rolloutId);
      if (now && isTerminal(now.status)) await this.ended(releaseId, effect.service, now);
    }
  }

  private async ended(
    releaseId: string,
    service: string,
    rollout: RolloutState | undefined,
  ): Promise<void> {
    const status = rollout?.status ?? 'aborted';
    await this.deps.releases.applyIfAccepted(releaseId, {
      type: 'member_ended',
      service,
      status:
        status === 'succeeded' || status === 'rolled_back' || status === 'failed'
          ? status
          : 'aborted',
      ...(rollout?.outcome !== undefined && { outcome: rollout.outcome }),
    });
  }

  /** Applies an input to a member rollout; a refusal (not possible in its state now) is dropped. */
  private async onMember(
    rolloutId: string,
    input: Parameters<RolloutService['apply']>[1],
  ): Promise<RolloutState | undefined> {
    try {
      return await this.deps.rollouts.apply(rolloutId, input, ACTOR);
    } catch (err) {
      if (isRolloutError(err) && err.code !== 'version_conflict') {
        this.deps.logger.info(
          { rolloutId, input: input.type, reason: err.message },
          'member refused',
        );
        return undefined;
      }
      throw err;
    }
  }

  private async withRelease(
    releaseId: string,
    run: (state: ReleaseState) => Promise<void>,
  ): Promise<void> {
    const state = await this.deps.store.get(releaseId);
    if (state) await run(state);
  }
}
