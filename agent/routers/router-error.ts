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
