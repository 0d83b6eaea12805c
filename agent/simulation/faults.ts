/**
 * The simulated cluster's fault model. A fault says where it applies (cluster, service, version
 * or role, from which stage on) and what goes wrong there. Faults come from configuration (the
 * policy file, validated with `Fault`) and can be injected or cleared at runtime.
 */

export { Fault, RouterOperation } from '../../shared/config/simulation.js';
import { Fault, type RouterOperation } from '../../shared/config/simulation.js';

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

  /**
   * Error rates and latencies add up; the flags are on when any matching fault sets them. A fault
   * `viaCanaryOf` another service counts in proportion to `canaryShareOf` that service (0..1).
   */
  metricsEffect(
    scope: FaultScope,
    canaryShareOf: (service: string) => number = () => 0,
  ): MetricsEffect {
    const effect: MetricsEffect = {
      errorRate: 0,
      addedLatencyMs: 0,
      noTraffic: false,
      metricsUnavailable: false,
    };
    for (const fault of this.faults.values()) {
      if (!faultMatches(fault, scope)) continue;
      const share = fault.viaCanaryOf === undefined ? 1 : canaryShareOf(fault.viaCanaryOf);
      if (!(share > 0)) continue;
      effect.errorRate += (fault.errorRate ?? 0) * share;
      effect.addedLatencyMs += (fault.addedLatencyMs ?? 0) * share;
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
