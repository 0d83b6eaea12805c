import { metricValue } from '../../shared/gate/evaluate.js';
import type { types } from '@slack/bolt';
import { formatDuration } from '../../shared/config/duration.js';
import type { StoredSample } from '../../shared/ports/health-samples.js';
import {
  stableVersionIn,
  type GateCheck,
  type RolloutPlan,
  type Stage,
} from '../../shared/rollout/plan.js';
import { isTerminal, type RolloutState } from '../../shared/rollout/state.js';
import { holdsBeforeWidening, startedClusters, waveClusters } from '../../shared/rollout/draft.js';
import {
  actorLabel,
  clip,
  escapeText,
  literal,
  mention,
  percent,
  slackify,
  slackTime,
} from './slack-text.js';
import { outcomeText } from './rollout-text.js';
import { evidenceLines, sequentialTerms } from './evidence-lines.js';

type Block = types.KnownBlock;

/** Button action ids; each button's value is the rollout id. */
export const CARD_ACTIONS = {
  approve: 'rollout_approve',
  pause: 'rollout_pause',
  resume: 'rollout_resume',
  abort: 'rollout_abort',
} as const;
export type CardAction = keyof typeof CARD_ACTIONS;

export interface CardView {
  /** The notification and screen-reader text; Slack shows it where blocks cannot be shown. */
  text: string;
  blocks: Block[];
}

export interface CardOptions {
  /**
   * The latest health sample per cluster for the current stage (and, past the first wave, for the
   * last stage, which earlier waves report from: see `cardSamples`).
   */
  samples?: readonly StoredSample[];
  /** Show the action buttons (the posted card does; a `/rollout status` reply does not). */
  buttons?: boolean;
}

/**
 * The rollout card: one message per rollout, updated in place. Pure: the same state and samples
 * always render the same card, so repeating an update is harmless.
 */
export function renderCard(state: RolloutState, options: CardOptions = {}): CardView {
  const ended = isTerminal(state.status);
  const blocks: Block[] = [
    section(headline(state)),
    section(ended ? endingLine(state) : statusLine(state)),
    context(progressLine(state)),
    section(clusterLines(state)),
  ];
  const health = healthLines(state, options.samples ?? []);
  if (health) blocks.push(section(health));
  const approval = approvalLine(state);
  if (approval) blocks.push(section(approval));
  if (!ended && options.buttons !== false) {
    const buttons = buttonsFor(state);
    if (buttons.length > 0)
      blocks.push({ type: 'actions', block_id: 'rollout_actions', elements: buttons });
  }
  blocks.push(context(`\`${state.id}\` · updated ${slackTime(state.updatedAt)}`));
  return { text: cardText(state), blocks };
}

/** The one-line summary: the card's `text` fallback and what `/rollout list` shows per rollout. */
export function cardText(state: RolloutState): string {
  return `${state.plan.service} ${state.plan.version}: ${describeStatus(state)}`;
}

export function describeStatus(state: RolloutState): string {
  const { plan } = state;
  const stage = `stage ${state.stageIndex + 1} of ${plan.stages.length} (${weightAt(state, state.stageIndex)}%)`;
  switch (state.status) {
    case 'pending':
      return 'starting';
    case 'progressing':
      return `shifting traffic, ${stage}`;
    case 'baking':
      return `baking ${stage}`;
    case 'awaiting_approval':
      return `waiting for approval after ${stage}`;
    case 'paused':
      return `paused at ${stage}`;
    case 'promoting':
      return `promoting ${plan.version} to stable`;
    case 'held':
      return holdsBeforeWidening(state)
        ? `holding at ${stage} until release ${plan.releaseId ?? ''}'s contract check lets it widen`
        : `holding at 100% of ${plan.version} until release ${plan.releaseId ?? ''} promotes it`;
    case 'rolling_back':
      return `rolling back to ${plan.stableVersion}`;
    case 'succeeded':
      return `succeeded: ${plan.version} is stable in ${plan.clusters.join(', ')}`;
    case 'rolled_back':
      return `rolled back to ${plan.stableVersion}`;
    case 'aborted':
      return `aborted, back on ${plan.stableVersion}`;
    case 'failed':
      return 'failed: a person must restore traffic';
    default: {
      const never: never = state.status;
      return String(never);
    }
  }
}

/** Which buttons make sense now; the state machine still decides, these only spare people a refusal. */
export function actionsFor(state: RolloutState): CardAction[] {
  switch (state.status) {
    case 'pending':
    case 'promoting':
    case 'held':
      return ['abort'];
    case 'progressing':
    case 'baking':
      return ['pause', 'abort'];
    case 'awaiting_approval':
      return ['approve', 'pause', 'abort'];
    case 'paused':
      return ['resume', 'abort'];
    default:
      return [];
  }
}

const STATUS_ICON: Record<RolloutState['status'], string> = {
  pending: ':hourglass_flowing_sand:',
  progressing: ':arrows_counterclockwise:',
  baking: ':stopwatch:',
  awaiting_approval: ':raised_hand:',
  paused: ':double_vertical_bar:',
  promoting: ':rocket:',
  held: ':pause_button:',
  rolling_back: ':rewind:',
  succeeded: ':white_check_mark:',
  rolled_back: ':leftwards_arrow_with_hook:',
  aborted: ':no_entry:',
  failed: ':x:',
};

function headline(state: RolloutState): string {
  const { plan } = state;
  const reason = plan.reason ? `\n> ${clip(literal(plan.reason), 400)}` : '';
  // A member card names its release, whose own card shows the members together.
  const release = plan.releaseId
    ? `\n:link: part of release \`${escapeText(plan.releaseId)}\``
    : '';
  return (
    `*${escapeText(plan.service)}* \`${escapeText(plan.version)}\` (from ${stableVersionsText(plan)}) · ` +
    `${plan.strategy} · started by ${mention(plan.startedBy)}${reason}${release}`
  );
}

function statusLine(state: RolloutState): string {
  let line = `${STATUS_ICON[state.status]} *${capitalize(describeStatus(state))}*`;
  const stage = state.plan.stages[state.stageIndex];
  if (state.status === 'baking' && stage && state.bakeStartedAt !== undefined) {
    line += ` · since ${slackTime(state.bakeStartedAt)}, bake ${formatDuration(stage.bakeMs)}`;
  }
  if (state.status === 'paused' && state.pausedFrom) {
    line += ` · was ${state.pausedFrom.replace('_', ' ')}`;
  }
  if (state.status === 'rolling_back' && state.outcome) {
    line += `\n${clip(outcomeText(state), 1500)}`;
  }
  return line;
}

/** `5% ✓ → 25% ● → 50% → 100%`: done, current, to come. */
function progressLine(state: RolloutState): string {
  const ended = isTerminal(state.status);
  return state.plan.stages
    .map((stage, i) => {
      const label = `${stage.weight}%`;
      if (state.status === 'succeeded' || i < state.stageIndex)
        return `~${label}~ :heavy_check_mark:`;
      if (i === state.stageIndex && !ended) return `*${label}* :large_blue_circle:`;
      return label;
    })
    .join('  →  ');
}

function clusterLines(state: RolloutState): string {
  if (state.plan.waves !== undefined) return waveLines(state, state.plan.waves);
  return state.plan.clusters.map((name) => clusterLine(state, name)).join('\n');
}

function clusterLine(state: RolloutState, name: string): string {
  const cluster = state.clusters[name];
  if (!cluster) return `*${escapeText(name)}* · unknown`;
  const failure = cluster.failure ? ` · ${clip(slackify(cluster.failure), 300)}` : '';
  return `*${escapeText(name)}* · ${cluster.weight}% on \`${escapeText(state.plan.version)}\` · ${cluster.status.replace('_', ' ')}${failure}`;
}

/**
 * One row per wave (waiting, in progress with its stage, done, or how its rollback goes) with
 * each of its clusters' weight under it.
 */
function waveLines(state: RolloutState, waves: readonly (readonly string[])[]): string {
  const current = state.waveIndex ?? 0;
  return waves
    .map((wave, i) => {
      const clusters = wave.map((name) => `    ${clusterLine(state, name)}`).join('\n');
      return `*Wave ${i + 1}/${waves.length}* · ${waveStatus(state, i, current)}\n${clusters}`;
    })
    .join('\n');
}

function waveStatus(state: RolloutState, wave: number, current: number): string {
  const rollingBack = state.status === 'rolling_back' || state.rollback !== undefined;
  if (wave > current || state.status === 'pending') {
    return rollingBack || isTerminal(state.status) ? 'never started' : 'waiting';
  }
  if (state.status === 'rolling_back') return 'rolling back';
  if (rollingBack) return 'rolled back';
  if (state.status === 'succeeded') return 'done, promoted';
  if (state.status === 'promoting') return 'done, promoting';
  if (wave < current) return 'done, at 100% until the last wave passes';
  const stage = state.plan.stages[state.stageIndex];
  const weight = stage === undefined ? '' : ` (${stage.weight}%)`;
  return `in progress · stage ${state.stageIndex + 1}/${state.plan.stages.length}${weight}`;
}

function healthLines(state: RolloutState, samples: readonly StoredSample[]): string | undefined {
  if (isTerminal(state.status) && state.status !== 'rolled_back') return undefined;
  const stage = state.plan.stages[state.stageIndex];
  if (!stage || state.status === 'pending') return undefined;
  const checks = stage.gate.checks;
  const lines = [`*Health* (canary vs stable) · gate: ${gateTerms(stage)}`];
  // Several waves: the started ones report, the earlier ones from their last stage (100%).
  const reporting = state.plan.waves === undefined ? state.plan.clusters : startedClusters(state);
  const current = new Set(waveClusters(state));
  const last = state.plan.stages.length - 1;
  for (const name of reporting) {
    const reportsFrom = current.has(name) ? state.stageIndex : last;
    const stored = samples.find((s) => s.cluster === name && s.sample.stageIndex === reportsFrom);
    lines.push(
      `• *${escapeText(name)}* ${stored ? sampleLine(stored, checks) : '_no sample yet_'}`,
    );
  }
  const verdict = state.gate.lastVerdict;
  if (verdict) {
    const streak =
      verdict.outcome === 'failing'
        ? ` (${verdict.consecutiveFailures} of ${stage.gate.failureLimit} allowed failures)`
        : '';
    lines.push(
      `Last gate evaluation: *${verdict.outcome}*${streak} · ${clip(slackify(verdict.summary), 600)}`,
    );
  }
  lines.push(...evidenceLines(state, stage));
  return lines.join('\n');
}

function sampleLine(stored: StoredSample, checks: readonly GateCheck[]): string {
  return `${metricsLine(stored, checks)}${webhooksLine(stored)}${consumersLine(stored)}`;
}

/**
 * ` · consumer checkout 2.4.0 errors 0.4%, p99 210ms`, one per consumer the gate watches (see
 * `RolloutPlan.dependents`), so a rollback for a consumer's health reads from the card too.
 */
function consumersLine(stored: StoredSample): string {
  return (stored.sample.dependents ?? [])
    .map((d) => {
      const who = `consumer ${escapeText(d.service)} ${escapeText(d.version)}`;
      if (d.changing === true) return ` · ${who} _mid-rollout itself, not judged_`;
      const m = d.measurement;
      if (m.status !== 'ok')
        return ` · ${who} metrics unavailable: ${escapeText(clip(m.reason, 200))}`;
      return ` · ${who} errors ${formatMetric('error_rate', metricValue('error_rate', m))}, p99 ${formatMetric('latency_p99', m.latencyMs.p99)}`;
    })
    .join('');
}

/** ` · webhook smoke passed (status 200 in 35ms)`, one per webhook check the sample carries. */
function webhooksLine(stored: StoredSample): string {
  return (stored.sample.webhooks ?? [])
    .map(
      (w) =>
        ` · webhook ${escapeText(w.name)} ${w.passed ? 'passed' : '*failed*'} (${escapeText(clip(w.detail, 200))})`,
    )
    .join('');
}

function metricsLine(stored: StoredSample, checks: readonly GateCheck[]): string {
  const { canary, stable, windowMs } = stored.sample;
  if (canary.status !== 'ok') return `canary metrics unavailable: ${escapeText(canary.reason)}`;
  const shown: { metric: GateCheck['metric']; check?: GateCheck }[] =
    checks.length > 0
      ? checks.map((check) => ({ metric: check.metric, check }))
      : [{ metric: 'error_rate' }, { metric: 'latency_p99' }];
  const parts = shown.map(({ metric, check }) => {
    const canaryValue = metricValue(metric, canary);
    const stableValue = stable.status === 'ok' ? metricValue(metric, stable) : undefined;
    let limit = '';
    if (check?.mode === 'absolute') limit = ` (limit ${formatMetric(metric, check.max)})`;
    if (check?.mode === 'relative') {
      limit =
        stableValue === undefined
          ? ` (limit ${check.max}× stable)`
          : ` (limit ${formatMetric(metric, stableValue * check.max)} = ${check.max}× stable)`;
    }
    const vs = stableValue === undefined ? 'stable n/a' : formatMetric(metric, stableValue);
    return `${METRIC_LABEL[metric]} ${formatMetric(metric, canaryValue)} vs ${vs}${limit}`;
  });
  return `${parts.join(' · ')} · ${canary.requests.toLocaleString('en-US')} canary requests in ${formatDuration(windowMs)}`;
}

const METRIC_LABEL: Record<GateCheck['metric'], string> = {
  error_rate: 'errors',
  latency_p95: 'p95',
  latency_p99: 'p99',
};

function formatMetric(metric: GateCheck['metric'], value: number): string {
  return metric === 'error_rate'
    ? percent(value, value < 0.001 && value > 0 ? 2 : 1)
    : `${Math.round(value)}ms`;
}

export function gateTerms(stage: Stage): string {
  const { gate } = stage;
  const checks = gate.checks.map((c) =>
    c.mode === 'absolute'
      ? `${METRIC_LABEL[c.metric]} ≤ ${formatMetric(c.metric, c.max)}`
      : `${METRIC_LABEL[c.metric]} ≤ ${c.max}× stable`,
  );
  const webhooks = (gate.webhooks ?? []).map((w) => `webhook ${escapeText(w.name)}`);
  return [
    ...checks,
    ...webhooks,
    ...sequentialTerms(stage),
    // At 0% the preview gets live traffic only through a mirror; passing webhooks are enough then.
    `≥ ${gate.minRequests} canary requests${stage.weight === 0 && webhooks.length > 0 ? ' (or webhooks alone at 0%)' : ''}`,
    `every ${formatDuration(gate.intervalMs)}`,
  ].join(', ');
}

function approvalLine(state: RolloutState): string | undefined {
  const stage = state.plan.stages[state.stageIndex];
  const rule = stage?.gate.approval;
  if (!rule || isTerminal(state.status)) return undefined;
  if (
    state.status !== 'awaiting_approval' &&
    !(state.status === 'paused' && state.pausedFrom === 'awaiting_approval')
  )
    return undefined;
  const who = rule.approvers.length > 0 ? rule.approvers.map(mention).join(', ') : 'anyone';
  const fourEyes = rule.allowSelfApproval
    ? ''
    : ` (not ${mention(state.plan.startedBy)}, who started it)`;
  const given =
    state.approvals.length > 0
      ? ` · approved so far by ${state.approvals.map(mention).join(', ')}`
      : '';
  return `:raised_hand: ${rule.required} approval(s) needed from ${who}${fourEyes}${given}`;
}

function endingLine(state: RolloutState): string {
  const icon = STATUS_ICON[state.status];
  const outcome = state.outcome ? `\n${clip(outcomeText(state), 1500)}` : '';
  switch (state.status) {
    case 'succeeded':
      return `${icon} *Succeeded* · \`${escapeText(state.plan.version)}\` is stable in ${state.plan.clusters.join(', ')}`;
    case 'rolled_back':
      return `${icon} *Rolled back* to ${stableVersionsText(state.plan, true)}${outcome}`;
    case 'aborted':
      return `${icon} *Aborted*${state.rollback?.actor ? ` by ${actorLabel(state.rollback.actor)}` : ''}, back on ${stableVersionsText(state.plan)}${outcome}`;
    default:
      return `${icon} *Failed*: a person must restore \`${escapeText(state.plan.stableVersion)}\` by hand${outcome}`;
  }
}

function buttonsFor(state: RolloutState): types.Button[] {
  return actionsFor(state).map((action) => {
    const button: types.Button = {
      type: 'button',
      action_id: CARD_ACTIONS[action],
      value: state.id,
      text: { type: 'plain_text', text: capitalize(action) },
    };
    if (action === 'approve') button.style = 'primary';
    if (action === 'abort') {
      button.style = 'danger';
      button.confirm = {
        title: { type: 'plain_text', text: 'Abort this rollout?' },
        text: {
          type: 'mrkdwn',
          text: `Every cluster goes back to \`${escapeText(state.plan.stableVersion)}\` for ${escapeText(state.plan.service)}.`,
        },
        confirm: { type: 'plain_text', text: 'Abort and roll back' },
        deny: { type: 'plain_text', text: 'Keep going' },
        style: 'danger',
      };
    }
    return button;
  });
}

function weightAt(state: RolloutState, index: number): number {
  return state.plan.stages[index]?.weight ?? 0;
}

function section(text: string): Block {
  return { type: 'section', text: { type: 'mrkdwn', text: clip(text, 3000) } };
}

function context(text: string): Block {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: clip(text, 2000) }] };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The stable version(s) a plan starts from and returns to: one version, or each cluster's when
 * they differ (an earlier rollout reached only some clusters). `inClusters` names the clusters
 * for a single version too.
 */
export function stableVersionsText(plan: RolloutPlan, inClusters = false): string {
  if (plan.stableVersions === undefined) {
    const version = `\`${escapeText(plan.stableVersion)}\``;
    return inClusters ? `${version} in ${plan.clusters.join(', ')}` : version;
  }
  return plan.clusters
    .map((cluster) => `\`${escapeText(stableVersionIn(plan, cluster))}\` in ${cluster}`)
    .join(', ');
}
