import { z } from 'zod';

/**
 * `services.<name>.routing`: where the `gateway-api` router finds a service's traffic split in
 * its cluster. The HTTPRoute must already send the service's traffic to `stableService` and have
 * a backendRef to `canaryService` (weight 0 is fine) in every rule that serves it; the router
 * only changes those two backends' weights and the route's `rollout-chatops.io/*` annotations.
 */

/** RFC 1123 label, what Kubernetes accepts for namespace and Service names. */
const DnsLabel = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a lowercase RFC 1123 name, e.g. checkout-canary');

/** RFC 1123 subdomain, what Kubernetes accepts for most object names (HTTPRoute included). */
const DnsSubdomain = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'a lowercase RFC 1123 name, e.g. checkout',
  );

export const ServiceRouting = z
  .strictObject({
    /** Namespace of the HTTPRoute and of both Services. */
    namespace: DnsLabel,
    /** Name of the HTTPRoute (`gateway.networking.k8s.io/v1`) that carries the service's traffic. */
    httpRoute: DnsSubdomain,
    /** Service serving the stable version while the route has no rollout history. */
    stableService: DnsLabel,
    /** The other Service: where a new version is deployed before `/rollout start`. */
    canaryService: DnsLabel,
    /** Only backendRefs with this port are the service's (when one Service is referenced on several ports). */
    port: z.number().int().min(1).max(65535).optional(),
  })
  .refine((r) => r.stableService !== r.canaryService, {
    message: 'stableService and canaryService must be two different Services',
    path: ['canaryService'],
  });
export type ServiceRouting = z.infer<typeof ServiceRouting>;
