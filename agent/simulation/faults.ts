import { z } from 'zod';

/**
 * The simulated cluster's fault model. A fault says where it applies (cluster, service, version
 * or role, from which stage on) and what goes wrong there. Faults come from configuration (the
 * policy file, validated with `Fault`) and can be injected or cleared at runtime.
 */

export const RouterOperation = z.enum(['setWeight', 'promote', 'rollback']);
export type RouterOperation = z.infer<typeof RouterOperation>;

export const Fault = z
  .strictObject({
    /** Only in this cluster; every cluster when absent (one fault list can serve many agents). */
    cluster: z.string().min(1).optional(),
    /** Only for this service; every service when absent. */
    service: z.string().min(1).optional(),
    /**
     * Only for this version. For router failures the version is the one being rolled out (the
     * target's canary version).
     */
    version: z.string().min(1).optional(),
    /** Only for this side of the split (metrics faults; router failures ignore it). */
    role: z.enum(['canary', 'stable']).optional(),
    /**
     * Only once the route has reached this stage index. The simulation counts stages itself (its
     * router sees no stage numbers): a rollout's first setWeight (the agent's `start`) is stage
     * -1, and each later setWeight with a newer seq is the next stage. A router failure from
     * stage i lets stages before i apply and rejects the call that would reach stage i.
     */
    fromStage: z.number().int().nonnegative().optional(),
    /** Extra error fraction (0..1) added to the base error rate. */
    errorRate: z.number().min(0).max(1).optional(),
    /** Milliseconds added to every latency percentile. */
    addedLatencyMs: z.number().nonnegative().optional(),
    /**
     * Router calls reject with `RouterError('injected_fault')`: every mutating call when true, or
     * only the listed operations.
     */
    routerFailure: z.union([z.boolean(), z.array(RouterOperation).min(1)]).optional(),
    /** The version receives no requests at all. */
    noTraffic: z.boolean().optional(),
    /** The metrics backend cannot answer: `measure` resolves `unavailable`. */
    metricsUnavailable: z.boolean().optional(),
  })
  .refine(
    (f) =>
      f.errorRate !== undefined ||
      f.addedLatencyMs !== undefined ||
      f.routerFailure !== undefined ||
      f.noTraffic !== undefined ||
      f.metricsUnavailable !== undefined,
    {
      message:
        'a fault needs at least one of errorRate, addedLatencyMs, routerFailure, noTraffic, metricsUnavailable',
    },
  );
export type Fault = z.infer<typeof Fault>;

/** Where a measurement or a router call happens, to match faults against. */
export interface FaultScope {
  cluster: string;
  service: string;
  version: string;
  /** Absent for router calls. */
  role?: 'canary' | 'stable';
  /** The route's stage index as the simulation counts it (see `Fault.fromStage`). */
  stageIndex: number;
}

/** What every matching fault adds up to for one measurement. */
export interface MetricsEffect {
  errorRate: number;
  addedLatencyMs: number;
  noTraffic: boolean;
  metricsUnavailable: boolean;
}

export function faultMatches(fault: Fault, scope: FaultScope): boolean {
  return (
    (fault.cluster === undefined || fault.cluster === scope.cluster) &&
    (fault.service === undefined || fault.service === scope.service) &&
    (fault.version === undefined || fault.version === scope.version) &&
    (fault.role === undefined || scope.role === undefined || fault.role === scope.role) &&
    (fault.fromStage === undefined || scope.stageIndex >= fault.fromStage)
  );
}

/** The faults in force in one cluster, each with an id so a single one can be cleared. */
export class FaultSet {
  private readonly faults = new Map<string, Fault>();
  private nextId = 1;

  constructor(initial: readonly Fault[] = []) {
    for (const fault of initial) this.add(fault);
  }

  /** Validates and adds a fault; returns its id (`fault-1`, `fault-2`, …). */
  add(fault: Fault): string {
    const id = `fault-${this.nextId++}`;
    this.faults.set(id, Fault.parse(fault));
    return id;
  }

  /** Removes one fault by id, or all of them. Returns how many were removed. */
  clear(id?: string): number {
    if (id !== undefined) return this.faults.delete(id) ? 1 : 0;
    const removed = this.faults.size;
    this.faults.clear();
    return removed;
  }

  list(): { id: string; fault: Fault }[] {
    return [...this.faults].map(([id, fault]) => ({ id, fault }));
  }

  /** Error rates and latencies add up; the flags are on when any matching fault sets them. */
  metricsEffect(scope: FaultScope): MetricsEffect {
    const effect: MetricsEffect = {
      errorRate: 0,
      addedLatencyMs: 0,
      noTraffic: false,
      metricsUnavailable: false,
    };
    for (const fault of this.faults.values()) {
      if (!faultMatches(fault, scope)) continue;
      effect.errorRate += fault.errorRate ?? 0;
      effect.addedLatencyMs += fault.addedLatencyMs ?? 0;
      effect.noTraffic ||= fault.noTraffic === true;
      effect.metricsUnavailable ||= fault.metricsUnavailable === true;
    }
    effect.errorRate = Math.min(1, effect.errorRate);
    return effect;
  }

  /** The id of the first fault that makes `operation` fail in `scope`, if any. */
  routerFailure(scope: Omit<FaultScope, 'role'>, operation: RouterOperation): string | undefined {
    for (const [id, fault] of this.faults) {
      const failure = fault.routerFailure;
      const failsHere = failure === true || (Array.isArray(failure) && failure.includes(operation));
      if (failsHere && faultMatches(fault, scope)) return id;
    }
    return undefined;
  }
}
