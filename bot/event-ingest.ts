import type {
  HealthSamplePayload,
  HealthSamplesEvent,
  RolloutEvent,
} from '../shared/contracts/events.js';
import { isRolloutError } from '../shared/errors.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/log.js';
import type { AgentRegistry } from '../shared/ports/agent-registry.js';
import type { HealthSampleStore } from '../shared/ports/health-samples.js';
import { budgetSampleOf, type BudgetSample } from '../shared/release/error-budget.js';
import type { RolloutInput } from '../shared/rollout/state.js';
import type { RolloutService } from './rollout-service.js';

export interface EventIngestDeps {
  service: RolloutService;
  samples: HealthSampleStore;
  agents: AgentRegistry;
  clock: Clock;
  logger: Logger;
  /** Where release members' samples also go (the release's failure budget). Absent: nowhere. */
  releaseBudget?: ReleaseBudgetSink;
}

export interface ReleaseBudgetSink {
  /** The policy's service names: what a member rollout id (`<release>-<service>`) ends with. */
  services(): readonly string[];
  /** One call per release per batch (see `ReleaseService.spendBudget`). */
  spend(releaseId: string, samples: BudgetSample[]): Promise<void>;
}

/**
 * Turns agent events into state transitions, health samples and heartbeats (a `health_samples`
 * batch in one pass, see `ingestBatch`; the single `health_sample` of older agents too). A refused event
 * (a duplicate, a stale stage, an unknown rollout) is logged and consumed: redelivery cannot
 * make it valid. Anything else that fails (Redis down) rejects, and the bus retries it.
 */
export function createEventIngest(deps: EventIngestDeps): (event: RolloutEvent) => Promise<void> {
  return async (event) => {
    // Our own clock, not the agent's: gate windows compare it with when the bake began.
    const at = deps.clock.now();
    switch (event.type) {
      case 'health_samples':
        return ingestBatch(deps, event, at);
      case 'health_sample':
        if (event.rolloutId) {
          await spendBudget(deps, event.cluster, [
            { rolloutId: event.rolloutId, windowEnd: Date.parse(event.at), sample: event.payload },
          ]);
          await deps.samples.record(event.rolloutId, {
            cluster: event.cluster,
            receivedAt: at,
            // The agent's time ends the window; an agent clock running ahead cannot make a sample
            // look newer than its arrival.
            windowEnd: Math.min(Date.parse(event.at), at),
            sample: event.payload,
          });
        }
        break; // and its counts, if any, go to the sequential judge below
      case 'agent_heartbeat':
        await deps.agents.beat(event.cluster, event.payload.agentId, at);
        return;
      default:
        break;
    }
    const input = inputOf(event);
    if (!input || !event.rolloutId) return;
    await applyInput(deps, event.rolloutId, input, event);
  };
}

/** Applies one input; a refusal is logged and swallowed, anything else (Redis down) rejects. */
async function applyInput(
  deps: EventIngestDeps,
  rolloutId: string,
  input: RolloutInput,
  event: Pick<RolloutEvent, 'type' | 'id' | 'actor'>,
): Promise<void> {
  try {
    await deps.service.apply(rolloutId, input, event.actor);
  } catch (err) {
    if (isRolloutError(err) && err.code !== 'version_conflict') {
      deps.logger.info(
        { rolloutId, event: event.type, id: event.id, reason: err.message },
        'event not applied',
      );
      return;
    }
    throw err;
  }
}

/**
 * A batch in one pass: every sample stored in one round trip, then the interval counts handed
 * to the judge, rollouts in parallel (a batch holds one sample per rollout of its cluster, so
 * nothing is reordered within a rollout). If anything rejects the whole batch is tried again
 * once all settled: storing keeps the newer sample and the judge refuses an interval it has
 * folded already, so a retry does no harm.
 */
async function ingestBatch(
  deps: EventIngestDeps,
  event: HealthSamplesEvent,
  at: number,
): Promise<void> {
  const { samples } = event.payload;
  await deps.samples.recordAll(
    samples.map(({ rolloutId, at: windowEnd, ...sample }) => ({
      rolloutId,
      stored: {
        cluster: event.cluster,
        receivedAt: at,
        windowEnd: Math.min(Date.parse(windowEnd), at),
        sample,
      },
    })),
  );
  const settled = await Promise.allSettled([
    spendBudget(
      deps,
      event.cluster,
      samples.map(({ rolloutId, at: windowEnd, ...sample }) => ({
        rolloutId,
        windowEnd: Date.parse(windowEnd),
        sample,
      })),
    ),
    ...samples.flatMap(({ rolloutId, ...sample }) => {
      const input = countsInput(event.cluster, sample);
      return input ? [applyInput(deps, rolloutId, input, event)] : [];
    }),
  ]);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Release members' samples to their release's failure budget, grouped: one call per release.
 * Membership is read off the rollout id (`memberRolloutId`: `<release>-<service>`), so a rollout
 * that is no member costs no store read (its id is `<service>-<random>`, which ends with no
 * service's name).
 */
async function spendBudget(
  deps: EventIngestDeps,
  cluster: string,
  samples: readonly { rolloutId: string; windowEnd: number; sample: HealthSamplePayload }[],
): Promise<void> {
  const sink = deps.releaseBudget;
  if (!sink) return;
  const services = sink.services();
  const byRelease = new Map<string, BudgetSample[]>();
  for (const { rolloutId, windowEnd, sample } of samples) {
    const member = releaseMemberOf(rolloutId, services);
    if (member === undefined) continue;
    const seen = budgetSampleOf(member.service, cluster, sample, windowEnd);
    if (!('sample' in seen)) continue; // a version not measured: nothing to count
    byRelease.set(member.releaseId, [...(byRelease.get(member.releaseId) ?? []), seen.sample]);
  }
  await Promise.all([...byRelease].map(([releaseId, batch]) => sink.spend(releaseId, batch)));
}

/** `rel-3f9a1c-checkout` → rel-3f9a1c and checkout; the longest service name that fits wins. */
export function releaseMemberOf(
  rolloutId: string,
  services: readonly string[],
): { releaseId: string; service: string } | undefined {
  let found: { releaseId: string; service: string } | undefined;
  for (const service of services) {
    const suffix = `-${service}`;
    if (rolloutId.length <= suffix.length || !rolloutId.endsWith(suffix)) continue;
    if (found !== undefined && found.service.length >= service.length) continue;
    found = { releaseId: rolloutId.slice(0, -suffix.length), service };
  }
  return found;
}

/** Only samples with interval counts for both versions feed the judge (see shared/judge). */
function countsInput(cluster: string, sample: HealthSamplePayload): RolloutInput | undefined {
  const { canary, stable } = sample;
  if (canary.status !== 'ok' || stable.status !== 'ok') return undefined;
  if (canary.counts === undefined || stable.counts === undefined) return undefined;
  return { type: 'health_counts', cluster, canary: canary.counts, stable: stable.counts };
}

function inputOf(event: RolloutEvent): RolloutInput | undefined {
  switch (event.type) {
    case 'stage_applied':
      return { type: 'stage_applied', cluster: event.cluster, ...event.payload };
    case 'promoted':
      return { type: 'promoted', cluster: event.cluster };
    case 'rolled_back':
      return { type: 'rolled_back', cluster: event.cluster };
    case 'command_failed':
      return { type: 'command_failed', cluster: event.cluster, ...event.payload };
    case 'health_sample':
      return countsInput(event.cluster, event.payload);
    default:
      return undefined;
  }
}
