import type { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import type { RolloutService } from '../../bot/rollout-service.js';
import type { Fault } from '../../shared/config/simulation.js';
import type { RolloutState } from '../../shared/rollout/state.js';
import { waitFor } from '../support/wait-for.js';

/** One running product (local or distributed), as the end-to-end scenarios see it. */
export interface RolloutHarness {
  service: RolloutService;
  notifier: RecordingNotifier;
  /** The canary weight the cluster's router actually has for the service (not what the bot believes). */
  routerWeight(cluster: string, service: string): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** `policyYaml` replaces the e2e policy (whose faults are then the policy's own). */
export type HarnessFactory = (options: {
  faults?: Fault[];
  policyYaml?: string;
}) => Promise<RolloutHarness>;

export async function waitForStatus(
  harness: RolloutHarness,
  rolloutId: string,
  statuses: RolloutState['status'][],
  timeoutMs = 30_000,
): Promise<RolloutState> {
  return waitFor(
    async () => {
      const state = await harness.service.get(rolloutId);
      return state && statuses.includes(state.status) ? state : undefined;
    },
    { what: `rollout ${rolloutId} to reach ${statuses.join(' or ')}`, timeoutMs, intervalMs: 20 },
  );
}
