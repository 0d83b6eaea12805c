import type { ServiceRouting } from '../../shared/config/routing.js';
import type { Strategy } from '../../shared/rollout/plan.js';
import { RouterError } from './router-error.js';
import type { AppliedMark, RouteState } from './traffic-router.js';

/**
 * The parts of a Gateway API `HTTPRoute` (gateway.networking.k8s.io/v1) the router reads and
 * writes, and the pure logic over them: which backends are ours, what split they show, what
 * the rules look like with a new split. Everything not named here is carried through untouched.
 */

export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  /** Proportional, not a percentage; 1 when unset (the Gateway API default). */
  weight?: number;
  [field: string]: unknown;
}

export interface HttpRouteFilter {
  type: string;
  /** Set on `type: RequestMirror`: where copies of the rule's requests go, and what share of them. */
  requestMirror?: {
    backendRef: BackendRef;
    /** Percentage of requests mirrored (Gateway API v1.3+, GEP-3171); all of them when unset. */
    percent?: number;
    fraction?: { numerator: number; denominator?: number };
  };
  [field: string]: unknown;
}

export interface HttpRouteRule {
  backendRefs?: BackendRef[];
  filters?: HttpRouteFilter[];
  [field: string]: unknown;
}

export interface RouteCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

export interface HttpRoute {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  spec?: { rules?: HttpRouteRule[]; [field: string]: unknown };
  status?: { parents?: { conditions?: RouteCondition[]; [field: string]: unknown }[] };
}

/** Annotation holding the last applied mark, as JSON of the whole `AppliedMark` (its shape may grow). */
export const APPLIED_ANNOTATION = 'rollout-chatops.io/applied';
/** Annotation holding which version each Service serves (`RolloutRecord`), as JSON. */
export const ROLLOUT_ANNOTATION = 'rollout-chatops.io/rollout';

/** What the router records on the route about the versions behind its two Services. */
export interface RolloutRecord {
  stableVersion: string;
  /** The Service serving `stableVersion`; a promotion hands this role to the other Service. */
  stableService: string;
  /** Set while a rollout is in progress: the version behind the other Service. */
  canaryVersion?: string;
  /**
   * Set by a promotion: the version that was stable before it, still behind the other Service
   * (until the next rollout deploys there), so a rollback can hand that Service the traffic again.
   */
  previousStableVersion?: string;
  strategy?: Strategy;
}

/** Where one rule's two backends of ours sit in its `backendRefs`. */
interface OwnedRule {
  rule: number;
  stable: number;
  canary: number;
}

export interface RouteView {
  record: RolloutRecord | undefined;
  applied: AppliedMark | undefined;
  /** The Services in their current roles. */
  stableService: string;
  canaryService: string;
  owned: OwnedRule[];
  /** The canary Service's share of the first owned rule, in percent (rounded). */
  canaryWeight: number;
  /** Percentage of the first owned rule's requests mirrored to the canary Service; undefined when none. */
  mirrorPercent: number | undefined;
}

/** `namespace/name`, as operators type it into kubectl. */
export function routeName(routing: ServiceRouting): string {
  return `${routing.namespace}/${routing.httpRoute}`;
}

/**
 * Reads the route: our rollout record and mark, our Services' roles, and where their backendRefs
 * are. Rejects with a `RouterError` naming what to fix when a rule sends traffic to one of the
 * two Services but has no backendRef to the other, or when no rule references them at all.
 */
export function viewRoute(route: HttpRoute, service: string, routing: ServiceRouting): RouteView {
  const annotations = route.metadata.annotations ?? {};
  const record = parseRecord(annotations[ROLLOUT_ANNOTATION], routing);
  const applied = parseMark(annotations[APPLIED_ANNOTATION]);
  const stableService = record?.stableService ?? routing.stableService;
  const canaryService =
    stableService === routing.stableService ? routing.canaryService : routing.stableService;
  const owned: OwnedRule[] = [];
  const rules = route.spec?.rules ?? [];
  rules.forEach((rule, i) => {
    const refs = rule.backendRefs ?? [];
    const stable = indexesOf(refs, stableService, routing);
    const canary = indexesOf(refs, canaryService, routing);
    if (stable.length === 0 && canary.length === 0) return;
    const where = `rule ${i} of HTTPRoute ${routeName(routing)}`;
    for (const [name, found] of [
      [stableService, stable],
      [canaryService, canary],
    ] as const) {
      if (found.length > 1) {
        throw new RouterError(
          'invalid_route',
          `${where} has ${found.length} backendRefs to Service ${name}; set services.${service}.routing.port to the one the rollout shifts`,
        );
      }
    }
    if (stable.length === 0 || canary.length === 0) {
      const missing = stable.length === 0 ? stableService : canaryService;
      throw new RouterError(
        'backend_not_found',
        `${where} has no backendRef to Service ${missing}${routing.port ? ` port ${routing.port}` : ''}: add { name: ${missing}${routing.port ? `, port: ${routing.port}` : ''}, weight: 0 } to it (the router shifts weight between ${stableService} and ${canaryService})`,
      );
    }
    owned.push({ rule: i, stable: stable[0]!, canary: canary[0]! });
  });
  if (owned.length === 0) {
    throw new RouterError(
      'backend_not_found',
      `HTTPRoute ${routeName(routing)} has no rule with backendRefs to Services ${routing.stableService} and ${routing.canaryService}: add both to the rule that serves ${service} (canary at weight 0), or fix services.${service}.routing`,
    );
  }
  return {
    record,
    applied,
    stableService,
    canaryService,
    owned,
    canaryWeight: shareOf(rules, owned[0]!),
    mirrorPercent: mirrorOf(rules[owned[0]!.rule]!, canaryService, routing),
  };
}

/** The route as the port reports it. */
export function routeState(view: RouteView, configuredStableVersion: string): RouteState {
  const canaryVersion = view.record?.canaryVersion;
  const previousStableVersion = view.record?.previousStableVersion;
  return {
    canaryWeight: view.canaryWeight,
    stableVersion: view.record?.stableVersion ?? configuredStableVersion,
    ...(canaryVersion !== undefined && { canaryVersion }),
    ...(view.mirrorPercent !== undefined && { mirrorPercent: view.mirrorPercent }),
    ...(previousStableVersion !== undefined && { previousStableVersion }),
    ...(view.applied !== undefined && { applied: view.applied }),
  };
}

/** The rules with every owned rule's stable and canary weights set; other rules and refs as they were. */
export function withWeights(
  route: HttpRoute,
  owned: readonly OwnedRule[],
  weights: { stable: number; canary: number },
): HttpRouteRule[] {
  const rules = structuredClone(route.spec?.rules ?? []);
  for (const { rule, stable, canary } of owned) {
    const refs = rules[rule]!.backendRefs!;
    refs[stable] = { ...refs[stable]!, weight: weights.stable };
    refs[canary] = { ...refs[canary]!, weight: weights.canary };
  }
  return rules;
}

/**
 * The rules with every owned rule's mirror to the canary Service set to `percent` of its requests
 * (a `RequestMirror` filter), or removed when `percent` is undefined. Only a mirror to one of our two
 * Services is ours: other filters, another team's mirror included, are kept as they were.
 */
export function withMirror(
  rules: readonly HttpRouteRule[],
  owned: readonly OwnedRule[],
  mirror: { canaryService: string; routing: ServiceRouting; percent: number | undefined },
): HttpRouteRule[] {
  const { canaryService, routing, percent } = mirror;
  const next = structuredClone(rules) as HttpRouteRule[];
  for (const { rule, canary } of owned) {
    const current = next[rule]!;
    const kept = (current.filters ?? []).filter((f) => !isOurMirror(f, routing));
    if (percent !== undefined) {
      const canaryRef = current.backendRefs![canary]!;
      // A Service backendRef of a mirror needs its port; the rule's ref to the Service has it.
      const port = canaryRef.port ?? routing.port;
      kept.push({
        type: 'RequestMirror',
        requestMirror: {
          backendRef: { name: canaryService, ...(port !== undefined && { port }) },
          percent,
        },
      });
    }
    if (kept.length > 0) current.filters = kept;
    else delete current.filters;
  }
  return next;
}

/** The percentage a rule mirrors to `service` (unset `percent`: all, 100); undefined when none. */
function mirrorOf(
  rule: HttpRouteRule,
  service: string,
  routing: ServiceRouting,
): number | undefined {
  const mirror = (rule.filters ?? []).find(
    (f) => isOurMirror(f, routing) && f.requestMirror!.backendRef.name === service,
  );
  if (mirror === undefined) return undefined;
  const { percent, fraction } = mirror.requestMirror!;
  if (typeof percent === 'number') return percent;
  if (fraction !== undefined)
    return Math.round((100 * fraction.numerator) / (fraction.denominator ?? 100));
  return 100;
}

function isOurMirror(filter: HttpRouteFilter, routing: ServiceRouting): boolean {
  const ref = filter.requestMirror?.backendRef;
  return (
    filter.type === 'RequestMirror' &&
    ref !== undefined &&
    (ref.kind ?? 'Service') === 'Service' &&
    (ref.group ?? '') === '' &&
    (ref.namespace ?? routing.namespace) === routing.namespace &&
    (ref.name === routing.stableService || ref.name === routing.canaryService)
  );
}

/** True when every owned rule already has exactly these weights. */
export function hasWeights(
  route: HttpRoute,
  owned: readonly OwnedRule[],
  weights: { stable: number; canary: number },
): boolean {
  const rules = route.spec?.rules ?? [];
  return owned.every(({ rule, stable, canary }) => {
    const refs = rules[rule]?.backendRefs ?? [];
    return (
      (refs[stable]?.weight ?? 1) === weights.stable &&
      (refs[canary]?.weight ?? 1) === weights.canary
    );
  });
}

/**
 * A `ResolvedRefs=False` condition the gateway controller reported for the route's current
 * generation (a backend Service that does not exist, a reference not permitted), or undefined.
 */
export function unresolvedRefs(route: HttpRoute): RouteCondition | undefined {
  const generation = route.metadata.generation;
  for (const parent of route.status?.parents ?? []) {
    for (const condition of parent.conditions ?? []) {
      const current =
        condition.observedGeneration === undefined ||
        generation === undefined ||
        condition.observedGeneration === generation;
      if (condition.type === 'ResolvedRefs' && condition.status === 'False' && current) {
        return condition;
      }
    }
  }
  return undefined;
}

export function serializeRecord(record: RolloutRecord): string {
  return JSON.stringify(record);
}

function indexesOf(
  refs: readonly BackendRef[],
  service: string,
  routing: ServiceRouting,
): number[] {
  const found: number[] = [];
  refs.forEach((ref, i) => {
    const isService = (ref.kind ?? 'Service') === 'Service' && (ref.group ?? '') === '';
    const sameNamespace = (ref.namespace ?? routing.namespace) === routing.namespace;
    const port = routing.port === undefined || ref.port === routing.port;
    if (isService && sameNamespace && port && ref.name === service) found.push(i);
  });
  return found;
}

function shareOf(rules: readonly HttpRouteRule[], owned: OwnedRule): number {
  const refs = rules[owned.rule]!.backendRefs!;
  const stable = refs[owned.stable]!.weight ?? 1;
  const canary = refs[owned.canary]!.weight ?? 1;
  // Both at 0 sends this rule's traffic nowhere: certainly not to the canary.
  return stable + canary === 0 ? 0 : Math.round((100 * canary) / (stable + canary));
}

/** Our record, or undefined when absent or unreadable (someone edited it by hand). */
function parseRecord(text: string | undefined, routing: ServiceRouting): RolloutRecord | undefined {
  const value = parseJson(text);
  if (
    typeof value?.stableVersion !== 'string' ||
    (value.stableService !== routing.stableService && value.stableService !== routing.canaryService)
  ) {
    return undefined;
  }
  return {
    stableVersion: value.stableVersion,
    stableService: value.stableService,
    ...(typeof value.canaryVersion === 'string' && { canaryVersion: value.canaryVersion }),
    ...(typeof value.previousStableVersion === 'string' && {
      previousStableVersion: value.previousStableVersion,
    }),
    ...((value.strategy === 'canary' || value.strategy === 'blue-green') && {
      strategy: value.strategy,
    }),
  };
}

/** The stored mark as it was written (so fields added to `AppliedMark` later round-trip). */
function parseMark(text: string | undefined): AppliedMark | undefined {
  const value = parseJson(text);
  if (typeof value?.rolloutId !== 'string' || typeof value.seq !== 'number') return undefined;
  // A fence that is not a number would let any command through: take it as the highest there is.
  if (value.fence !== undefined && typeof value.fence !== 'number') {
    return { ...(value as unknown as AppliedMark), fence: Number.MAX_SAFE_INTEGER };
  }
  return value as unknown as AppliedMark;
}

function parseJson(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
