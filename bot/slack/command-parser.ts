import { formatDuration, parseDuration } from '../../shared/config/duration.js';
import { nearestNames, type RolloutRequest } from '../../shared/config/plan-from-policy.js';
import type { ReleaseRequestMember } from '../../shared/release/plan.js';
import { INPUT_LIMITS, type Strategy } from '../../shared/rollout/plan.js';
import { looksLikeMember, parseReleaseArgs, RELEASE_USAGE } from './release-parser.js';
import { literal } from './slack-text.js';

/**
 * `/rollout …` text → a command, or an error that says what was wrong and what would be right.
 * The error is Slack text; anything it quotes from the input is shown literally.
 * Pure: no policy, no I/O. Every length limit the plan and the messages impose (`INPUT_LIMITS`)
 * is checked here, so it is answered with the limit rather than failing deeper down. What needs
 * the policy (is the service known, is the version well formed, do the stages increase and end
 * at 100) is checked by `planFromPolicy`, once, for both a real start and a dry run; a name of
 * the wrong form is simply not a known one there, answered with the nearest known names.
 */

export const ROLLOUT_ACTIONS = ['approve', 'pause', 'resume', 'abort'] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];

/** A start request as typed; `startedBy` is added by the handler from who sent it. */
export type StartRequest = Omit<RolloutRequest, 'startedBy'>;

export type SlashCommand =
  | { type: 'start'; request: StartRequest; dryRun: boolean }
  /** `start a@1 b@2`: several services as one release, planned by `planRelease`. */
  | { type: 'start_release'; members: ReleaseRequestMember[]; reason?: string; dryRun: boolean }
  /** No target: the channel's service, else every active rollout. */
  | { type: 'status'; target?: string }
  | { type: 'list' }
  | { type: 'act'; action: RolloutAction; rolloutId: string; reason?: string }
  | { type: 'history'; service: string }
  /** Without `confirmed`, only says what it would do and how to confirm (nothing changes). */
  | { type: 'force_finish'; rolloutId: string; reason: string; confirmed: boolean }
  | { type: 'help' };

export type ParseResult = { ok: true; command: SlashCommand } | { ok: false; error: string };

export const SUBCOMMANDS = [
  'start',
  'status',
  'list',
  ...ROLLOUT_ACTIONS,
  'force-finish',
  'history',
  'help',
];

export const USAGE: Record<string, string> = {
  start:
    '/rollout start <service> <version> [--clusters a,b] [--strategy canary|blue-green] ' +
    '[--stages 5,25,50,100] [--bake 5m] [--approve-at 50] [--allow-downgrade] [--dry-run] [reason…]',
  status: '/rollout status [rollout id | service]',
  list: '/rollout list',
  approve: '/rollout approve <rollout id> [reason…]',
  pause: '/rollout pause <rollout id> [reason…]',
  resume: '/rollout resume <rollout id> [reason…]',
  abort: '/rollout abort <rollout id> [reason…]',
  'force-finish': '/rollout force-finish <rollout id> <reason…> [--confirm]',
  history: '/rollout history <service>',
  help: '/rollout help',
  release: RELEASE_USAGE,
};

const START_FLAGS = [
  'clusters',
  'strategy',
  'stages',
  'bake',
  'approve-at',
  'allow-downgrade',
  'dry-run',
] as const;
type StartFlag = (typeof START_FLAGS)[number];
/** Flags that are switches: present or not, no value. */
const SWITCHES: readonly StartFlag[] = ['dry-run', 'allow-downgrade'];
const STRATEGIES: readonly Strategy[] = ['canary', 'blue-green'];
/** The longest bake in whole hours that is still an exact number of milliseconds. */
const MAX_BAKE_MS = Math.floor(Number.MAX_SAFE_INTEGER / 3_600_000) * 3_600_000;

export function parseCommand(text: string): ParseResult {
  const tokens = tokenize(text);
  const [head, ...rest] = tokens;
  if (head === undefined) return { ok: true, command: { type: 'help' } };
  const sub = head.toLowerCase();
  switch (sub) {
    case 'start':
      return parseStart(rest);
    case 'status': {
      if (rest.length > 1) return tooMany('status', rest.slice(1));
      const tooLong =
        rest[0] && overLimit('rollout id or service', rest[0], INPUT_LIMITS.rolloutId);
      if (tooLong) return fail(tooLong);
      return ok(rest[0] ? { type: 'status', target: rest[0].toLowerCase() } : { type: 'status' });
    }
    case 'list':
      return rest.length > 0 ? tooMany('list', rest) : ok({ type: 'list' });
    case 'history': {
      const [service, ...extra] = rest;
      if (!service) return missing('history', 'a service name');
      if (extra.length > 0) return tooMany('history', extra);
      const tooLong = overLimit('service name', service, INPUT_LIMITS.name);
      if (tooLong) return fail(tooLong);
      return ok({ type: 'history', service: service.toLowerCase() });
    }
    case 'help':
      return ok({ type: 'help' });
    case 'force-finish': {
      const confirmed = rest.some((t) => t.toLowerCase() === '--confirm');
      const [rolloutId, ...reason] = rest.filter((t) => t.toLowerCase() !== '--confirm');
      if (!rolloutId || isFlag(rolloutId)) return missing('force-finish', 'a rollout id');
      const tooLong = overLimit('rollout id', rolloutId, INPUT_LIMITS.rolloutId);
      if (tooLong) return fail(tooLong);
      // Leaving clusters unrestored is a decision people must be able to read back: say why.
      if (reason.length === 0)
        return missing('force-finish', 'a reason (why the rollback cannot finish)');
      return ok({
        type: 'force_finish',
        rolloutId: rolloutId.toLowerCase(),
        reason: reason.join(' '),
        confirmed,
      });
    }
    case 'approve':
    case 'pause':
    case 'resume':
    case 'abort': {
      const [rolloutId, ...reason] = rest;
      if (!rolloutId || isFlag(rolloutId)) return missing(sub, 'a rollout id');
      // No limit on the reason: nothing stores it with one, and an abort must never be refused
      // because someone pasted a long explanation.
      const tooLong = overLimit('rollout id', rolloutId, INPUT_LIMITS.rolloutId);
      if (tooLong) return fail(tooLong);
      return ok({
        type: 'act',
        action: sub,
        rolloutId: rolloutId.toLowerCase(),
        ...(reason.length > 0 ? { reason: reason.join(' ') } : {}),
      });
    }
    default: {
      const near = nearestNames(sub, SUBCOMMANDS);
      return fail(
        `unknown subcommand "${literal(head)}"` +
          (near.length > 0 ? `; did you mean ${near.map((n) => `\`${n}\``).join(' or ')}?` : '.') +
          ` Subcommands: ${SUBCOMMANDS.join(', ')}. \`/rollout help\` shows how to use each.`,
      );
    }
  }
}

function parseStart(tokens: string[]): ParseResult {
  const positional: string[] = [];
  const flags = new Map<StartFlag, string | true>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!isFlag(token)) {
      positional.push(token);
      continue;
    }
    const [rawName, inlineValue] = splitFlag(token);
    const name = START_FLAGS.find((f) => f === rawName.toLowerCase());
    if (name === undefined) return unknownFlag(token, rawName);
    if (flags.has(name))
      return fail(`--${name} is given twice; give it once. Usage: ${USAGE.start}`);
    if (SWITCHES.includes(name)) {
      if (inlineValue !== undefined)
        return fail(
          `--${name} takes no value (got "${literal(inlineValue)}"); write just --${name}`,
        );
      flags.set(name, true);
      continue;
    }
    const value = inlineValue ?? tokens[i + 1];
    if (value === undefined || value === '' || (inlineValue === undefined && isFlag(value))) {
      return fail(`--${name} needs a value, e.g. ${FLAG_EXAMPLES[name]}. Usage: ${USAGE.start}`);
    }
    if (inlineValue === undefined) i++;
    flags.set(name, value);
  }
  if (positional[0]?.includes('@')) return parseStartRelease(positional, flags);
  const [service, version, ...reason] = positional;
  if (!service) return missing('start', 'a service and a version');
  // `start payments 2.0.0 checkout@3.1.0` meant a release; as a reason it would be lost.
  const member = [version, ...reason].find((t) => t !== undefined && looksLikeMember(t));
  if (member !== undefined) {
    const typed = version !== undefined && version !== member ? version : '<version>';
    return fail(
      `"${literal(member)}" names a service and a version, but ${literal(service)} does not: ` +
        `for a release write every member as service@version (${literal(service.toLowerCase())}@${literal(typed)} ${literal(member)}); ` +
        `for one rollout leave "${literal(member)}" out. Usage: ${USAGE.start}, or ${RELEASE_USAGE}`,
    );
  }
  if (!version)
    return missing(
      'start',
      `a version after the service, e.g. /rollout start ${literal(service)} 2.4.1`,
    );

  const request: StartRequest = { service: service.toLowerCase(), version };
  if (reason.length > 0) request.reason = reason.join(' ');
  if (flags.has('allow-downgrade')) request.allowDowngrade = true;
  for (const [name, value] of flags) {
    if (value === true) continue;
    const problem = applyFlag(request, name, value);
    if (problem) return fail(problem);
  }
  const tooLong = startOverLimit(request);
  if (tooLong) return fail(tooLong);
  return ok({ type: 'start', request, dryRun: flags.has('dry-run') });
}

/**
 * A release takes each member's plan from the policy: the flags that shape one rollout would be
 * ambiguous across several services, so only `--dry-run` is taken.
 */
function parseStartRelease(
  positional: string[],
  flags: Map<StartFlag, string | true>,
): ParseResult {
  const shaping = [...flags.keys()].filter((f) => f !== 'dry-run');
  if (shaping.length > 0) {
    return fail(
      `${shaping.map((f) => `--${f}`).join(', ')} shapes a single rollout; a release plans each ` +
        `service from its policy (stages, bake, clusters, waves) and takes only --dry-run. Usage: ${RELEASE_USAGE}`,
    );
  }
  const args = parseReleaseArgs(positional);
  if (!args.ok) return fail(args.error);
  const tooLong =
    args.reason === undefined ? undefined : overLimit('reason', args.reason, INPUT_LIMITS.reason);
  if (tooLong) return fail(tooLong);
  return ok({
    type: 'start_release',
    members: args.members,
    ...(args.reason !== undefined ? { reason: args.reason } : {}),
    dryRun: flags.has('dry-run'),
  });
}

/** The first length limit the request breaks, said with the limit; `undefined` when none. */
function startOverLimit(request: StartRequest): string | undefined {
  return (
    overLimit('service name', request.service, INPUT_LIMITS.name) ??
    overLimit('version', request.version, INPUT_LIMITS.version) ??
    (request.reason === undefined
      ? undefined
      : overLimit('reason', request.reason, INPUT_LIMITS.reason)) ??
    (request.clusters ?? [])
      .map((c) => overLimit('cluster name', c, INPUT_LIMITS.name))
      .find((p) => p !== undefined)
  );
}

/** `the version is 300 characters; at most 128`, or `undefined` within the limit. */
function overLimit(what: string, value: string, max: number): string | undefined {
  if (value.length <= max) return undefined;
  return `the ${what} is ${value.length} characters; at most ${max}. Nothing was done.`;
}

const FLAG_EXAMPLES: Record<StartFlag, string> = {
  clusters: '--clusters eu-west,us-east',
  strategy: '--strategy canary',
  stages: '--stages 5,25,50,100',
  bake: '--bake 5m',
  'approve-at': '--approve-at 50',
  'allow-downgrade': '--allow-downgrade',
  'dry-run': '--dry-run',
};

/** Sets one flag on the request; returns what is wrong with its value, if anything. */
function applyFlag(request: StartRequest, name: StartFlag, value: string): string | undefined {
  switch (name) {
    case 'clusters': {
      const clusters = list(value);
      if (clusters.length === 0)
        return `--clusters needs cluster names, e.g. ${FLAG_EXAMPLES.clusters}`;
      request.clusters = clusters.map((c) => c.toLowerCase());
      return undefined;
    }
    case 'strategy': {
      const strategy = STRATEGIES.find((s) => s === value.toLowerCase());
      if (!strategy) return `--strategy is canary or blue-green, got "${literal(value)}"`;
      request.strategy = strategy;
      return undefined;
    }
    case 'stages': {
      const weights = percentages(value);
      if (!weights)
        return `--stages takes whole percentages separated by commas, e.g. 5,25,50,100; got "${literal(value)}"`;
      request.stages = weights;
      return undefined;
    }
    case 'approve-at': {
      const weights = percentages(value);
      if (!weights)
        return `--approve-at takes stage percentages separated by commas, e.g. 50 or 25,50; got "${literal(value)}"`;
      request.approveAt = weights;
      return undefined;
    }
    case 'bake': {
      const ms = parseDuration(value);
      if (ms === undefined)
        return `--bake takes a duration like 30s, 5m or 1h; got "${literal(value)}"`;
      // A plan holds the bake as whole milliseconds the runtime can count exactly.
      if (!Number.isSafeInteger(ms))
        return `--bake is too long; at most ${formatDuration(MAX_BAKE_MS)}`;
      request.bakeMs = ms;
      return undefined;
    }
    case 'dry-run':
    case 'allow-downgrade':
      return undefined;
    default: {
      const never: never = name;
      return `unknown flag ${String(never)}`;
    }
  }
}

/**
 * Slack sends command text with `&`, `<` and `>` escaped as entities; people typed the characters.
 * (`&amp;` last, so `&amp;lt;` reads as the `&lt;` someone typed.)
 */
function unescapeSlack(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/**
 * Splits on whitespace. Slack clients turn `--` into an em or en dash as people type, so a
 * leading dash of either kind reads as `--`.
 */
function tokenize(text: string): string[] {
  return unescapeSlack(text)
    .replace(/\u00a0/g, ' ')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((t) => t.replace(/^[\u2014\u2013]/, '--'));
}

function isFlag(token: string): boolean {
  return /^--[a-z]/i.test(token);
}

function splitFlag(token: string): [string, string | undefined] {
  const body = token.slice(2);
  const eq = body.indexOf('=');
  return eq === -1 ? [body, undefined] : [body.slice(0, eq), body.slice(eq + 1)];
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

function percentages(value: string): number[] | undefined {
  const parts = value.split(',').map((v) => v.trim().replace(/%$/, ''));
  if (parts.length === 0 || parts.some((p) => !/^\d{1,3}$/.test(p))) return undefined;
  const weights = parts.map(Number);
  return weights.every((w) => w <= 100) ? weights : undefined;
}

function unknownFlag(token: string, name: string): ParseResult {
  const near = nearestNames(name.toLowerCase(), [...START_FLAGS]);
  return fail(
    `unknown flag ${literal(token)}` +
      (near.length > 0 ? `; did you mean ${near.map((n) => `--${n}`).join(' or ')}?` : '.') +
      ` start takes ${START_FLAGS.map((f) => `--${f}`).join(', ')}. Usage: ${USAGE.start}`,
  );
}

function missing(sub: string, what: string): ParseResult {
  return fail(`${sub} needs ${what}. Usage: ${USAGE[sub]}`);
}

function tooMany(sub: string, extra: string[]): ParseResult {
  return fail(`${sub} does not take "${literal(extra.join(' '))}". Usage: ${USAGE[sub]}`);
}

function ok(command: SlashCommand): ParseResult {
  return { ok: true, command };
}

function fail(error: string): ParseResult {
  return { ok: false, error };
}
