import type { DependentSample, Measurement, WebhookResult } from '../contracts/events.js';
import type { DependentWatch, Gate, GateCheck } from '../rollout/plan.js';
import { formatChecks } from './format.js';
import { metricValue } from './metric-value.js';
import { judgeDependents } from './dependents.js';

// Read by the card as well; it lives in its own file so `dependents.ts` can use it too.
export { metricValue };
import type { CheckResult, GateOutcome, GateVerdict } from './verdict.js';

/** One cluster's health over the evaluation window: the new version and the stable one. */
export interface GateSample {
  cluster: string;
  canary: Measurement;
  stable: Measurement;
  /** The gate's webhook checks as the cluster's agent ran them for this sample. */
  webhooks?: readonly WebhookResult[] | undefined;
  /** The rollout's consumers' stable traffic in this cluster (`RolloutPlan.dependents`). */
  dependents?: readonly DependentSample[] | undefined;
}

export interface EvaluateOptions {
  /**
   * The version gets no live traffic at this stage (a blue-green preview at weight 0): too few
   * canary requests is then no reason to wait, when webhook checks judge it instead. They must
   * all pass; traffic that does arrive (a mirror) is still held to the checks.
   */
  webhooksSuffice?: boolean;
  /**
   * Clusters judged by another gate than `gate`: those of a rollout's earlier waves, which stay at
   * 100% of the new version while a later wave runs its stages (their own gate and options; the
   * streak and `failureLimit` stay the evaluation's).
   */
  otherGates?: ReadonlyMap<string, { gate: Gate; options: Omit<EvaluateOptions, 'otherGates'> }>;
  /**
   * The rollout's consumers, held to their own checks in every cluster (earlier waves too): a
   * breach of theirs fails the evaluation like the canary's own (see `judgeDependents`).
   */
  dependents?: readonly DependentWatch[];
}

type Measured = Extract<Measurement, { status: 'ok' }>;

/**
 * Judges one cluster: the check results it produced, and why it is inconclusive if it is.
 * Absolute checks are still judged when a relative check lacks its baseline, so a breach is
 * never hidden behind missing stable metrics.
 */
function evaluateCluster(
  gate: Gate,
  sample: GateSample,
  options: EvaluateOptions,
): { checks: CheckResult[]; inconclusive?: string } {
  const { cluster, canary, stable } = sample;
  const hooks = judgeWebhooks(gate, sample);
  const checks: CheckResult[] = [...hooks.checks];
  const withoutTraffic = options.webhooksSuffice === true && (gate.webhooks ?? []).length > 0;
  const tooLittle = (reason: string) =>
    withoutTraffic
      ? hooks.inconclusive === undefined
        ? { checks }
        : { checks, inconclusive: hooks.inconclusive }
      : { checks, inconclusive: hooks.inconclusive ?? reason };
  if (canary.status === 'unavailable') {
    return tooLittle(`canary metrics unavailable: ${canary.reason}`);
  }
  // Zero requests is never enough, even with minRequests 0: an error rate over nothing is no evidence.
  if (canary.requests === 0) return tooLittle('no canary requests in the window');
  if (canary.requests < gate.minRequests) {
    return tooLittle(`${canary.requests} requests < ${gate.minRequests} minimum`);
  }
  let inconclusive: string | undefined = hooks.inconclusive;
  for (const check of gate.checks) {
    const result = judge(check, cluster, canary, stable);
    if (typeof result === 'string') inconclusive ??= result;
    else checks.push(result);
  }
  return inconclusive === undefined ? { checks } : { checks, inconclusive };
}

/** Each webhook check of the gate by the sample's result for it; one that has not reported is unknown. */
function judgeWebhooks(
  gate: Gate,
  sample: GateSample,
): { checks: CheckResult[]; inconclusive?: string } {
  const checks: CheckResult[] = [];
  const missing: string[] = [];
  for (const hook of gate.webhooks ?? []) {
    const result = sample.webhooks?.find((r) => r.name === hook.name);
    if (result === undefined) missing.push(hook.name);
    else
      checks.push({
        kind: 'webhook',
        cluster: sample.cluster,
        webhook: hook.name,
        passed: result.passed,
        detail: result.detail,
      });
  }
  return missing.length === 0
    ? { checks }
    : { checks, inconclusive: `webhook ${missing.join(', ')} not reported yet` };
}

function judge(
  check: GateCheck,
  cluster: string,
  canary: Measured,
  stable: Measurement,
): CheckResult | string {
  const measured = metricValue(check.metric, canary);
  if (check.mode === 'absolute') {
    const threshold = check.max;
    return {
      cluster,
      metric: check.metric,
      mode: 'absolute',
      measured,
      threshold,
      passed: measured <= threshold,
    };
  }
  // A relative check without a baseline is unknown, never a pass.
  if (stable.status === 'unavailable') {
    return `stable metrics unavailable (${stable.reason}); relative checks need a baseline`;
  }
  if (stable.requests === 0) return 'stable had 0 requests; relative checks need a baseline';
  const baseline = metricValue(check.metric, stable);
  const threshold = baseline * check.max;
  return {
    cluster,
    metric: check.metric,
    mode: 'relative',
    measured,
    threshold,
    baseline,
    passed: measured <= threshold,
  };
}

/**
 * Decides one gate evaluation from each target cluster's health. Pure: the caller fetches the
 * samples and passes the prior streak of failed evaluations.
 *
 * - A cluster is inconclusive when its canary metrics are unavailable, it served fewer than
 *   `minRequests` (or zero) requests, a relative check has no stable baseline, a webhook check
 *   has not reported, or it sent no sample at all (only detectable when `clusters` lists the
 *   targets). With `webhooksSuffice` (no live traffic at this stage) and webhook checks, missing
 *   traffic is not a reason: the webhooks judge.
 * - A failed webhook check is a failed check like a metric's, with its name and reason.
 * - Any failed check in any cluster makes the evaluation failed: the streak grows by one and the
 *   outcome is `fail` once it reaches `failureLimit`, `failing` before.
 * - Otherwise any inconclusive cluster makes it `inconclusive`, and the streak is left as it was:
 *   missing data neither excuses earlier failures nor counts as a new one. Only `pass` resets it.
 *
 * When a cluster has several samples the last one counts.
 */
export function evaluateGate(
  gate: Gate,
  samples: readonly GateSample[],
  priorConsecutiveFailures: number,
  clusters?: readonly string[],
  options: EvaluateOptions = {},
): GateVerdict {
  const byCluster = new Map(samples.map((s) => [s.cluster, s]));
  const targets = clusters ?? [...byCluster.keys()];
  const checks: CheckResult[] = [];
  const inconclusive: { cluster: string; reason: string }[] = [];
  if (targets.length === 0) inconclusive.push({ cluster: '*', reason: 'no health samples' });
  for (const cluster of targets) {
    const sample = byCluster.get(cluster);
    if (sample === undefined) {
      inconclusive.push({ cluster, reason: 'no health sample received' });
      continue;
    }
    const other = options.otherGates?.get(cluster);
    const result = other
      ? evaluateCluster(other.gate, sample, other.options)
      : evaluateCluster(gate, sample, options);
    checks.push(...result.checks);
    if (result.inconclusive !== undefined)
      inconclusive.push({ cluster, reason: result.inconclusive });
    const consumers = judgeDependents(options.dependents ?? [], cluster, sample.dependents);
    checks.push(...consumers.checks);
    if (consumers.inconclusive !== undefined)
      inconclusive.push({ cluster, reason: consumers.inconclusive });
  }

  const failed = checks.filter((c) => !c.passed);
  let outcome: GateOutcome;
  let consecutiveFailures: number;
  if (failed.length > 0) {
    consecutiveFailures = priorConsecutiveFailures + 1;
    outcome = consecutiveFailures >= gate.failureLimit ? 'fail' : 'failing';
  } else if (inconclusive.length > 0) {
    consecutiveFailures = priorConsecutiveFailures;
    outcome = 'inconclusive';
  } else {
    consecutiveFailures = 0;
    outcome = 'pass';
  }
  const summary = summarize({
    outcome,
    failed,
    inconclusive,
    checks,
    targets,
    consecutiveFailures,
    gate,
  });
  return { outcome, consecutiveFailures, checks, inconclusive, summary };
}

function summarize(v: {
  outcome: GateOutcome;
  failed: CheckResult[];
  inconclusive: { cluster: string; reason: string }[];
  checks: CheckResult[];
  targets: readonly string[];
  consecutiveFailures: number;
  gate: Gate;
}): string {
  const unsure = v.inconclusive
    .map((i) => (i.cluster === '*' ? i.reason : `${i.cluster}: ${i.reason}`))
    .join('; ');
  switch (v.outcome) {
    case 'fail':
    case 'failing': {
      const streak = `failed ${v.consecutiveFailures} of ${v.gate.failureLimit} evaluations in a row`;
      const also = unsure === '' ? '' : `; inconclusive in ${unsure}`;
      return `${formatChecks(v.failed)} (${streak})${also}`;
    }
    case 'inconclusive':
      return `inconclusive: ${unsure}`;
    case 'pass':
      return v.checks.length === 0
        ? `enough traffic in ${v.targets.join(', ')}; no checks configured`
        : `all ${v.checks.length} checks passed in ${v.targets.join(', ')}`;
  }
}
