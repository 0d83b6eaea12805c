import type { ReleaseRequestMember } from '../../shared/release/plan.js';
import { INPUT_LIMITS } from '../../shared/rollout/plan.js';
import { literal } from './slack-text.js';

/**
 * The members and reason of `/rollout start payments@2.0.0 checkout@3.1.0 [reason…]`, or what
 * is wrong with them and what would be right. Pure and policy-free like the rest of the parser:
 * whether each service is known, named once and given a real version is `planRelease`'s to say.
 */

export const RELEASE_USAGE =
  '/rollout start <service>@<version> <service>@<version>… [--dry-run] [reason…]';

export type ReleaseArgs =
  { ok: true; members: ReleaseRequestMember[]; reason?: string } | { ok: false; error: string };

/** `checkout@3.1.0`: how a member is written (a mention `<@U…>` or `a@b.com` is not one). */
const MEMBER_LIKE = /^[a-z0-9][a-z0-9-]*@v?\d/i;
/** A version with nothing before it: `3.1.0`, `v3.1`. */
const BARE_VERSION = /^v?\d+(\.\d+){1,2}([-+]\S*)?$|^v\d+$/i;

/** A token someone may have meant as a release member. */
export function looksLikeMember(token: string): boolean {
  return MEMBER_LIKE.test(token);
}

/** `positional`: the start's words other than flags; the first contains `@`. */
export function parseReleaseArgs(positional: readonly string[]): ReleaseArgs {
  const members: ReleaseRequestMember[] = [];
  let i = 0;
  for (; i < positional.length && positional[i]!.includes('@'); i++) {
    const member = parseMember(positional[i]!);
    if (typeof member === 'string') return { ok: false, error: member };
    members.push(member);
  }
  const rest = positional.slice(i);
  const last = members[members.length - 1]!;
  const example = `${last.service}@${last.version}`;
  if (rest[0] !== undefined && BARE_VERSION.test(rest[0])) {
    return fail(
      `"${literal(rest[0])}" after ${literal(example)} is a version without a service: a release names every member as service@version, e.g. ${literal(example)} checkout@${literal(rest[0])}`,
    );
  }
  if (rest[0] !== undefined && rest[1] !== undefined && BARE_VERSION.test(rest[1])) {
    return fail(
      `"${literal(rest[0])} ${literal(rest[1])}" mixes the two forms: in a release write it ${literal(rest[0].toLowerCase())}@${literal(rest[1])}, like ${literal(example)}. (A reason may not start with a word and a version.)`,
    );
  }
  const late = rest.find(looksLikeMember);
  if (late !== undefined) {
    return fail(
      `"${literal(late)}" comes after the reason "${literal(rest.slice(0, rest.indexOf(late)).join(' '))}": put every service@version first, then the reason`,
    );
  }
  if (members.length < 2) {
    return fail(
      `a release needs at least two services (got only ${literal(example)}); to roll out one service, write /rollout start ${literal(last.service)} ${literal(last.version)}`,
    );
  }
  return { ok: true, members, ...(rest.length > 0 ? { reason: rest.join(' ') } : {}) };
}

/** One `service@version`, or what is wrong with it. */
function parseMember(token: string): ReleaseRequestMember | string {
  const parts = token.split('@');
  if (parts.length > 2) {
    return `"${literal(token)}" has more than one @: write each member as service@version, e.g. payments@2.0.0. Usage: ${RELEASE_USAGE}`;
  }
  const [rawService = '', version = ''] = parts;
  const service = rawService.toLowerCase();
  if (service === '') {
    return `"${literal(token)}" has no service before the @: write it service@version, e.g. payments${literal(token)}`;
  }
  if (version === '') {
    return `"${literal(token)}" has no version after the @: write it service@version, e.g. ${literal(service)}@2.0.0`;
  }
  if (service.length > INPUT_LIMITS.name) {
    return `the service name ${literal(service.slice(0, 20))}… is ${service.length} characters; at most ${INPUT_LIMITS.name}. Nothing was done.`;
  }
  if (version.length > INPUT_LIMITS.version) {
    return `the version of ${literal(service)} is ${version.length} characters; at most ${INPUT_LIMITS.version}. Nothing was done.`;
  }
  return { service, version };
}

function fail(error: string): ReleaseArgs {
  return { ok: false, error };
}
