import { RolloutError } from '../shared/errors.js';
import { stableVersionIn, type RolloutPlan } from '../shared/rollout/plan.js';
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
  constructor(plan: RolloutPlan, stable = plan.stableVersion, cluster?: string) {
    super(
      'downgrade',
      `${plan.version} is older than ${plan.service}'s stable version ${stable}` +
        (cluster !== undefined && plan.stableVersions !== undefined ? ` in ${cluster}` : '') +
        `: to go back to it, add --allow-downgrade to the same command`,
    );
  }
}

/**
 * Why this plan's version may not start, or `undefined` when it may. Per cluster where they run
 * different stable versions: the same version everywhere is refused (nothing would change), an
 * older one than any cluster runs needs `allowDowngrade`.
 */
export function versionRefusal(
  plan: RolloutPlan,
  allowDowngrade: boolean,
): RolloutError | undefined {
  const stables = plan.clusters.map((cluster) => ({
    cluster,
    stable: stableVersionIn(plan, cluster),
  }));
  if (stables.every(({ stable }) => sameVersion(plan.version, stable))) {
    return new SameAsStableError(plan);
  }
  for (const { cluster, stable } of stables) {
    const order = compareVersions(plan.version, stable);
    if (order !== undefined && order < 0 && !allowDowngrade) {
      return new DowngradeError(plan, stable, cluster);
    }
  }
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
