import { RolloutError } from '../../shared/errors.js';

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
      | 'injected_fault',
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
