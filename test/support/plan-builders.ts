import type { Measurement, WebhookResult } from '../../shared/contracts/events.js';
import type { GateSample } from '../../shared/gate/evaluate.js';
import type {
  CheckResult,
  GateOutcome,
  GateVerdict,
  MetricCheckResult,
} from '../../shared/gate/verdict.js';
import {
  RolloutPlan,
  type ApprovalRule,
  type Gate,
  type GateCheck,
  type SequentialCheck,
  type Strategy,
} from '../../shared/rollout/plan.js';

/**
 * Builders for plans, gates, measurements and verdicts. Defaults describe an ordinary canary of
 * `checkout 2.4.1` over `2.4.0` in one cluster; tests state only what they are about.
 */

export const STARTER = 'U-starter';
export const APPROVER = 'U-lead';

export class GateBuilder {
  private gate: Gate = {
    checks: [{ metric: 'error_rate', mode: 'absolute', max: 0.02 }],
    minRequests: 100,
    intervalMs: 60_000,
    failureLimit: 2,
  };

  withChecks(...checks: GateCheck[]): this {
    this.gate.checks = checks;
    return this;
  }

  withCheck(metric: GateCheck['metric'], mode: GateCheck['mode'], max: number): this {
    this.gate.checks = [...this.gate.checks, { metric, mode, max }];
    return this;
  }

  /** A webhook check `name` (at http://<name>.test/, status 200 expected). */
  withWebhook(name: string): this {
    this.gate.webhooks = [
      ...(this.gate.webhooks ?? []),
      {
        name,
        url: `http://${name}.test/`,
        timeoutMs: 1_000,
        retries: 0,
        expect: { status: 200 },
      },
    ];
    return this;
  }

  /** Sequential checks (defaults: α 0.01, tolerance 1.2× stable). */
  withSequential(...checks: (Partial<SequentialCheck> & Pick<SequentialCheck, 'metric'>)[]): this {
    this.gate.sequential = checks.map((c) => ({ alpha: 0.01, maxRatio: 1.2, ...c }));
    return this;
  }

  withMinRequests(minRequests: number): this {
    this.gate.minRequests = minRequests;
    return this;
  }

  withInterval(intervalMs: number): this {
    this.gate.intervalMs = intervalMs;
    return this;
  }

  withFailureLimit(failureLimit: number): this {
    this.gate.failureLimit = failureLimit;
    return this;
  }

  withApproval(rule: Partial<ApprovalRule> = {}): this {
    this.gate.approval = { approvers: [APPROVER], required: 1, allowSelfApproval: false, ...rule };
    return this;
  }

  build(): Gate {
    return structuredClone(this.gate);
  }
}

export function aGate(): GateBuilder {
  return new GateBuilder();
}

export class PlanBuilder {
  private service = 'checkout';
  private version = '2.4.1';
  private stableVersion = '2.4.0';
  private strategy: Strategy = 'canary';
  private clusters = ['eu-west'];
  private weights = [5, 25, 100];
  private bakeMs = 300_000;
  private gate: GateBuilder = aGate();
  private approvals = new Map<number, Partial<ApprovalRule>>();
  private starter = STARTER;
  private releaseId: string | undefined;
  private reason: string | undefined;
  private waves: string[][] | undefined;

  withService(service: string, version = this.version, stableVersion = this.stableVersion): this {
    this.service = service;
    this.version = version;
    this.stableVersion = stableVersion;
    return this;
  }

  withStages(...weights: number[]): this {
    this.weights = weights;
    return this;
  }

  withClusters(...clusters: string[]): this {
    this.clusters = clusters;
    return this;
  }

  /** Cluster waves, first to last; the plan's clusters become theirs, in wave order. */
  withWaves(...waves: string[][]): this {
    this.waves = waves;
    this.clusters = waves.flat();
    return this;
  }

  /** Blue-green: a preview stage at 0%, then the switch to 100% (unless stages are given after). */
  blueGreen(): this {
    this.strategy = 'blue-green';
    this.weights = [0, 100];
    return this;
  }

  withBake(bakeMs: number): this {
    this.bakeMs = bakeMs;
    return this;
  }

  /** The gate every stage uses (approval is added per stage with `withApproval`). */
  withGate(gate: GateBuilder): this {
    this.gate = gate;
    return this;
  }

  /** Stage `atStage` (default the first) needs approval after its gate passes. */
  withApproval(rule: Partial<ApprovalRule> = {}, { atStage = 0 }: { atStage?: number } = {}): this {
    this.approvals.set(atStage, rule);
    return this;
  }

  startedBy(actor: string): this {
    this.starter = actor;
    return this;
  }

  /** The start reason, as the person typed it. */
  withReason(reason: string): this {
    this.reason = reason;
    return this;
  }

  inRelease(releaseId: string): this {
    this.releaseId = releaseId;
    return this;
  }

  /** Parsed with the real schema, so a builder can never hand a test an impossible plan. */
  build(): RolloutPlan {
    return RolloutPlan.parse({
      service: this.service,
      version: this.version,
      stableVersion: this.stableVersion,
      strategy: this.strategy,
      clusters: this.clusters,
      ...(this.waves === undefined ? {} : { waves: this.waves }),
      startedBy: this.starter,
      // A release member holds before its promotion, as the release service plans it.
      ...(this.releaseId === undefined
        ? {}
        : { releaseId: this.releaseId, holdBeforePromote: true }),
      ...(this.reason === undefined ? {} : { reason: this.reason }),
      stages: this.weights.map((weight, i) => {
        const gate = this.gate.build();
        const rule = this.approvals.get(i);
        if (rule !== undefined) {
          gate.approval = { approvers: [APPROVER], required: 1, allowSelfApproval: false, ...rule };
        }
        return { weight, bakeMs: this.bakeMs, gate };
      }),
    });
  }
}

export function aPlan(): PlanBuilder {
  return new PlanBuilder();
}

// ---- Measurements and samples ----

export function measured(
  m: { requests?: number; errors?: number; p95?: number; p99?: number } = {},
): Measurement {
  const p95 = m.p95 ?? 120;
  return {
    status: 'ok',
    requests: m.requests ?? 1000,
    errors: m.errors ?? 0,
    latencyMs: { p50: Math.min(50, p95), p95, p99: m.p99 ?? Math.max(p95, 200) },
  };
}

export function unavailable(reason = 'prometheus timed out'): Measurement {
  return { status: 'unavailable', reason };
}

export function aSample(
  cluster: string,
  canary: Measurement = measured(),
  stable: Measurement = measured(),
  webhooks?: WebhookResult[],
): GateSample {
  return { cluster, canary, stable, ...(webhooks !== undefined && { webhooks }) };
}

/** A webhook check's result as an agent reports it. */
export function aWebhookResult(name: string, passed: boolean, detail?: string): WebhookResult {
  return {
    name,
    passed,
    detail: detail ?? (passed ? 'status 200 in 12ms' : 'status 500, expected 200'),
    attempts: 1,
  };
}

// ---- Verdicts, as the gate runner would hand them to the state machine ----

export function aFailedCheck(overrides: Partial<MetricCheckResult> = {}): CheckResult {
  return {
    cluster: 'eu-west',
    metric: 'error_rate',
    mode: 'absolute',
    measured: 0.079,
    threshold: 0.02,
    passed: false,
    ...overrides,
  };
}

export function aVerdict(outcome: GateOutcome, overrides: Partial<GateVerdict> = {}): GateVerdict {
  const failing = outcome === 'fail' || outcome === 'failing';
  const checks = failing ? [aFailedCheck()] : [];
  return {
    outcome,
    consecutiveFailures: failing ? 1 : 0,
    checks,
    inconclusive:
      outcome === 'inconclusive'
        ? [{ cluster: 'eu-west', reason: '12 requests < 100 minimum' }]
        : [],
    summary: `${outcome} (test verdict)`,
    ...overrides,
  };
}
