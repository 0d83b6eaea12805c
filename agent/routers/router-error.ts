import { RolloutError } from '../../shared/errors.js';
import type { AppliedMark } from './traffic-router.js';

/** A router could not apply or confirm a change; `message` is what the operator must fix. */
export class RouterError extends RolloutError {
  constructor(
    code:
      | 'route_not_found'
      | 'backend_not_found'
      | 'invalid_route'
      | 'forbidden'
      | 'conflict'
      | 'unconfirmed'
      | 'router_unavailable'
      | 'injected_fault'
      | 'fenced',
    message: string,
  ) {
    super(code, message);
  }
}

/** Every router refuses a weight that is not a whole percentage before touching the route. */
export function assertCanaryWeight(service: string, canaryWeight: number): void {
  if (!Number.isInteger(canaryWeight) || canaryWeight < 0 || canaryWeight > 100) {
    throw new RouterError(
      'invalid_route',
      `canary weight for ${service} must be a whole percentage 0..100, got ${canaryWeight}`,
    );
  }
}

/**
 * Refuses a write whose mark belongs to an older rollout of the service than the mark the route
 * holds: its fence is lower. Equal fences are the same rollout (its own seq rules apply); a route
 * or command without a fence (written before fencing) counts as fence 0.
 */
export function assertNotFenced(
  service: string,
  current: AppliedMark | undefined,
  next: AppliedMark,
): void {
  const held = current?.fence ?? 0;
  const asked = next.fence ?? 0;
  if (asked < held) {
    throw new RouterError(
      'fenced',
      `refusing ${next.rolloutId} seq ${next.seq} on the route of ${service}: fence ${asked} is older than the route's (${held}, rollout ${current?.rolloutId}); a command of an earlier rollout never changes a newer one's route`,
    );
  }
}
