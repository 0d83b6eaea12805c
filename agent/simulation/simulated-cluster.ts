import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { RolloutError } from '../../shared/errors.js';
import { RouterOperation } from '../../shared/config/simulation.js';
import { Strategy } from '../../shared/rollout/plan.js';
import type { Fault } from './faults.js';
import { FaultSet, type FaultScope, type MetricsEffect } from './faults.js';
import { seededRandom, type RandomSource } from './random.js';
import { DEFAULT_TRAFFIC, TrafficProfile } from './traffic-model.js';

/** One service's route in the simulated cluster: what a real cluster's HTTPRoute would hold. */
export const SimulatedRoute = z.object({
  stableVersion: z.string().min(1),
  /** The version being rolled out; absent when no rollout is in progress (after promote/rollback). */
  canaryVersion: z.string().min(1).optional(),
  canaryWeight: z.number().int().min(0).max(100),
  /**
   * Percentage of the service's requests copied to the canary version (a blue-green preview being
   * judged), as a Gateway API `RequestMirror` filter would; absent when nothing is mirrored.
   */
  mirrorPercent: z.number().int().min(1).max(100).optional(),
  /** Set by a promotion until the next write: the version stable before it (see `RouteState`). */
  previousStableVersion: z.string().min(1).optional(),
  strategy: Strategy,
  /** The last command applied (the agent's `AppliedMark`), stored with the route like an annotation. */
  applied: z
    .object({
      rolloutId: z.string().min(1),
      seq: z.number().int().nonnegative(),
      stageIndex: z.number().int().min(0),
      strategy: Strategy,
      fence: z.number().int().nonnegative().optional(),
    })
    .optional(),
  /** The stage the simulation counts for fault `fromStage` (see `Fault.fromStage`); -1 before any. */
  stageIndex: z.number().int().min(-1),
});
export type SimulatedRoute = z.infer<typeof SimulatedRoute>;

/**
 * One write of a route by the router, as a real API server's audit log would show it: how tests
 * and the bench see from the cluster's side what was applied, how often and when.
 */
export const RouteWrite = z.object({
  /** Epoch ms of the write (the cluster's clock). */
  at: z.number(),
  service: z.string().min(1),
  operation: RouterOperation,
  rolloutId: z.string().min(1),
  seq: z.number().int().nonnegative(),
  canaryWeight: z.number().int().min(0).max(100),
  /** The simulation's stage count after the write (see `SimulatedRoute.stageIndex`). */
  stageIndex: z.number().int().min(-1),
});
export type RouteWrite = z.infer<typeof RouteWrite>;

/** Route writes kept in the log (and the state file): the most recent ones. */
const MAX_ROUTE_WRITES = 1_000;

const StateFile = z.object({
  v: z.literal(1),
  cluster: z.string().min(1),
  routes: z.record(z.string(), SimulatedRoute),
  /** Absent in files written before the log existed. */
  writes: z.array(RouteWrite).default([]),
});

/** The simulated cluster's state file could not be used; the message says which file and why. */
export class SimulationStateError extends RolloutError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(
      'simulation_state_unreadable',
      `simulated cluster state ${file}: ${detail} (fix it, or delete it to start from an empty cluster)`,
    );
  }
}

export { SimulationSettings } from '../../shared/config/simulation.js';

export interface SimulatedClusterOptions {
  /** The cluster's name. Faults that name a cluster apply only in that one. */
  name: string;
  /**
   * Services that exist before any rollout, with the version they run and optionally their own
   * request rate. Routes of other services are created by their first `setWeight`. Default none.
   */
  services?: Record<string, { stableVersion: string; requestsPerSecond?: number }>;
  /**
   * A JSON file the routes are written to on every change and read from at construction, so a
   * process killed and started again finds the cluster as it left it (as a real API server
   * would). Writes are synchronous and atomic (temp file + rename). Default: memory only.
   */
  stateFile?: string;
  /** How healthy traffic looks; fields not given keep `DEFAULT_TRAFFIC`. */
  traffic?: Partial<TrafficProfile>;
  /** Faults in force from the start (from configuration). Runtime faults are not persisted. */
  faults?: readonly Fault[];
  /** Seed of the random source behind all noise. Default 1. */
  seed?: number;
  /** Overrides `seed` with a random source of your own. */
  random?: RandomSource;
  /** Time of route writes in the log, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * The in-memory "cluster" the simulated router and metrics provider both see: per service a
 * route (stable version, canary version, canary weight, applied mark), a traffic profile, and
 * the faults in force.
 */
export class SimulatedCluster {
  readonly name: string;
  readonly random: RandomSource;
  private readonly routes = new Map<string, SimulatedRoute>();
  private readonly faults: FaultSet;
  private readonly traffic: TrafficProfile;
  private readonly rates = new Map<string, number>();
  private readonly stateFile: string | undefined;
  private readonly writes: RouteWrite[] = [];
  private readonly now: () => number;

  constructor(options: SimulatedClusterOptions) {
    this.now = options.now ?? Date.now;
    this.name = options.name;
    this.random = options.random ?? seededRandom(options.seed ?? 1);
    this.faults = new FaultSet(options.faults);
    const traffic = TrafficProfile.safeParse({ ...DEFAULT_TRAFFIC, ...options.traffic });
    if (!traffic.success) {
      throw new RolloutError(
        'invalid_config',
        `simulated cluster ${options.name}: traffic: ${z.prettifyError(traffic.error)}`,
      );
    }
    this.traffic = traffic.data;
    this.stateFile = options.stateFile;
    if (this.stateFile !== undefined) {
      const saved = this.load(this.stateFile);
      for (const [service, route] of Object.entries(saved.routes)) {
        this.routes.set(service, route);
      }
      this.writes.push(...saved.writes);
    }
    for (const [service, spec] of Object.entries(options.services ?? {})) {
      if (spec.requestsPerSecond !== undefined) this.rates.set(service, spec.requestsPerSecond);
      if (!this.routes.has(service)) {
        this.routes.set(service, {
          stableVersion: spec.stableVersion,
          canaryWeight: 0,
          strategy: 'canary',
          stageIndex: -1,
        });
      }
    }
  }

  /** A copy of the service's route; `undefined` when the service has none. */
  route(service: string): SimulatedRoute | undefined {
    const route = this.routes.get(service);
    return route === undefined ? undefined : structuredClone(route);
  }

  /**
   * Stores the route (and writes the state file) before returning. With `operation` (the router's
   * writes) the write is also added to the log `routeWrites()` returns, in the same file write.
   */
  putRoute(service: string, route: SimulatedRoute, operation?: RouterOperation): void {
    const parsed = SimulatedRoute.parse(route);
    this.routes.set(service, parsed);
    if (operation !== undefined && parsed.applied !== undefined) {
      this.writes.push({
        at: this.now(),
        service,
        operation,
        rolloutId: parsed.applied.rolloutId,
        seq: parsed.applied.seq,
        canaryWeight: parsed.canaryWeight,
        stageIndex: parsed.stageIndex,
      });
      this.writes.splice(0, Math.max(0, this.writes.length - MAX_ROUTE_WRITES));
    }
    this.persist();
  }

  /** The router's writes, oldest first (the last 1,000; kept in the state file). Copies. */
  routeWrites(): RouteWrite[] {
    return this.writes.map((w) => ({ ...w }));
  }

  /** The traffic profile of one service (its own request rate, if it has one). */
  trafficOf(service: string): TrafficProfile {
    return {
      ...this.traffic,
      requestsPerSecond: this.rates.get(service) ?? this.traffic.requestsPerSecond,
    };
  }

  /** Changes a service's request rate from now on (0 silences it). */
  setRequestRate(service: string, requestsPerSecond: number): void {
    if (!(requestsPerSecond >= 0))
      throw new RangeError(`a request rate is ≥ 0, got ${requestsPerSecond}`);
    this.rates.set(service, requestsPerSecond);
  }

  /** Adds a fault (validated with `Fault`) and returns its id, for `clearFaults(id)`. */
  injectFault(fault: Fault): string {
    return this.faults.add(fault);
  }

  /** Clears one fault by id, or every fault (configured ones too). Returns how many. */
  clearFaults(id?: string): number {
    return this.faults.clear(id);
  }

  listFaults(): { id: string; fault: Fault }[] {
    return this.faults.list();
  }

  metricsEffect(scope: Omit<FaultScope, 'cluster'>): MetricsEffect {
    return this.faults.metricsEffect({ ...scope, cluster: this.name }, (service) => {
      const route = this.routes.get(service);
      return route?.canaryVersion === undefined ? 0 : route.canaryWeight / 100;
    });
  }

  /** The id of the fault that makes this router call fail, if one does. */
  routerFailure(
    scope: Omit<FaultScope, 'cluster' | 'role'>,
    operation: RouterOperation,
  ): string | undefined {
    return this.faults.routerFailure({ ...scope, cluster: this.name }, operation);
  }

  private load(file: string): { routes: Record<string, SimulatedRoute>; writes: RouteWrite[] } {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { routes: {}, writes: [] };
      throw new SimulationStateError(file, `cannot read: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new SimulationStateError(file, `not JSON: ${(err as Error).message}`);
    }
    const parsed = StateFile.safeParse(json);
    if (!parsed.success) throw new SimulationStateError(file, z.prettifyError(parsed.error));
    if (parsed.data.cluster !== this.name) {
      throw new SimulationStateError(
        file,
        `holds cluster "${parsed.data.cluster}", not "${this.name}" (one file per cluster)`,
      );
    }
    return parsed.data;
  }

  private persist(): void {
    if (this.stateFile === undefined) return;
    const state: z.infer<typeof StateFile> = {
      v: 1,
      cluster: this.name,
      routes: Object.fromEntries(this.routes),
      writes: this.writes,
    };
    mkdirSync(dirname(this.stateFile), { recursive: true });
    const temp = `${this.stateFile}.${process.pid}.tmp`;
    // Synchronous on purpose: a router call resolves only once its change would survive SIGKILL.
    writeFileSync(temp, JSON.stringify(state, null, 2) + '\n');
    renameSync(temp, this.stateFile);
  }
}
