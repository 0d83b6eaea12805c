import { z } from 'zod';
import type { ReleasePlan } from './plan.js';

/**
 * Where one member's rollout is, as the release coordinator sees it. `passedWeight` is the
 * highest stage weight its rollout has passed in every wave (0 before the first): what
 * `release.consumerStartsAt` is compared with.
 */
export const MemberStatus = z.discriminatedUnion('state', [
  z.strictObject({ state: z.literal('waiting') }),
  z.strictObject({
    state: z.literal('running'),
    passedWeight: z.number().int().min(0).max(100),
  }),
  z.strictObject({ state: z.literal('succeeded') }),
  z.strictObject({ state: z.literal('failed') }),
  z.strictObject({ state: z.literal('cancelled') }),
]);
export type MemberStatus = z.infer<typeof MemberStatus>;

/**
 * The waiting members that may start now, in plan order: each one whose providers in the release
 * have all succeeded (or, with `release.consumerStartsAt`, are running and have passed that
 * stage), as many as keep at most `maxParallel` members running. Members without a status are
 * waiting. Once a member has failed nothing more starts: the release is going back, not forward.
 */
export function nextToStart(
  plan: ReleasePlan,
  statuses: Readonly<Record<string, MemberStatus>>,
  maxParallel: number,
): string[] {
  const status = (service: string): MemberStatus => statuses[service] ?? { state: 'waiting' };
  const all = plan.members.map((m) => status(m.service));
  if (all.some((s) => s.state === 'failed')) return [];
  let free = maxParallel - all.filter((s) => s.state === 'running').length;
  const startsAt = plan.policy.consumerStartsAt;
  const providerLetsGo = (provider: string): boolean => {
    const s = status(provider);
    if (s.state === 'succeeded') return true;
    return s.state === 'running' && startsAt !== undefined && s.passedWeight >= startsAt;
  };
  const starting: string[] = [];
  for (const member of plan.members) {
    if (free <= 0) break;
    if (status(member.service).state !== 'waiting') continue;
    if (!member.waitsFor.every(providerLetsGo)) continue;
    starting.push(member.service);
    free--;
  }
  return starting;
}
