import { RolloutError } from '../shared/errors.js';
import type { RolloutPlan } from '../shared/rollout/plan.js';
import { compareVersions, sameVersion } from '../shared/rollout/version-order.js';

/**
 * Whether a start's version makes sense against what runs now (the plan's stable version): the
 * same version would shift traffic between two copies of one thing and "promote" nothing, and an
 * older one is a downgrade, which a person must ask for. Pure.
 */

/** The version asked for is the stable one already. */
export class SameAsStableError extends RolloutError {
  constructor(plan: RolloutPlan) {
    super(
      'same_as_stable',
      `${plan.service} already runs ${plan.stableVersion} as its stable version, so a rollout of ` +
        `${plan.version} would change nothing: start a newer version` +
        (compareVersions(plan.version, plan.stableVersion) === undefined
          ? ` (${orderNote(plan)})`
          : ''),
    );
  }
}

/** The version asked for is older than the stable one, and the person did not say they mean it. */
export class DowngradeError extends RolloutError {
  constructor(plan: RolloutPlan) {
    super(
      'downgrade',
      `${plan.version} is older than ${plan.service}'s stable version ${plan.stableVersion}: ` +
        `to go back to it, add --allow-downgrade to the same command`,
    );
  }
}

/** Why this plan's version may not start, or `undefined` when it may. */
export function versionRefusal(
  plan: RolloutPlan,
  allowDowngrade: boolean,
): RolloutError | undefined {
  if (sameVersion(plan.version, plan.stableVersion)) return new SameAsStableError(plan);
  const order = compareVersions(plan.version, plan.stableVersion);
  if (order !== undefined && order < 0 && !allowDowngrade) return new DowngradeError(plan);
  return undefined;
}

/** Said when the two versions cannot be ordered, so only the same version is refused. */
export function versionOrderNote(plan: RolloutPlan): string | undefined {
  return compareVersions(plan.version, plan.stableVersion) === undefined
    ? orderNote(plan)
    : undefined;
}

function orderNote(plan: RolloutPlan): string {
  return (
    `${plan.version} and ${plan.stableVersion} cannot be ordered as versions (numbers with dots, ` +
    `like 2.4.1), so whether this is a downgrade cannot be told: only starting the stable version ` +
    `itself is refused`
  );
}
