import { z } from 'zod';

/**
 * A service's PagerDuty integration in the policy. The policy file is committed and widely read,
 * so it names the environment variable that holds the routing key rather than the key itself.
 */
export const ServicePagerDuty = z.strictObject({
  /** An environment variable holding the service's Events API v2 routing (integration) key. */
  routingKeyEnv: z
    .string()
    .regex(
      /^[A-Z_][A-Z0-9_]*$/,
      'an environment variable name, e.g. PAGERDUTY_ROUTING_KEY_CHECKOUT',
    ),
});
export type ServicePagerDuty = z.infer<typeof ServicePagerDuty>;
