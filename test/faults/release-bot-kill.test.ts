/**
 * The bot process killed with SIGKILL in the middle of a release (distributed mode, `bot/main.ts`
 * and two agent processes), right after it created the consumer's rollout, then started again on
 * the same Kafka and Redis: the release continues where it was, and no member is started or
 * applied twice. And two bot processes sharing one release do nothing twice.
 */
import { Redis } from 'ioredis';
import {
  LOCAL_MODE_VERDICT,
  MemoryContractChecks,
} from '../../bot/adapters/memory-contract-checks.js';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisReleaseStore } from '../../bot/adapters/redis-release-store.js';
import { RedisRolloutStore } from '../../bot/adapters/redis-rollout-store.js';
import { RedisServiceLocks } from '../../bot/adapters/redis-service-locks.js';
import { ReleaseService } from '../../bot/release-service.js';
import { RolloutService } from '../../bot/rollout-service.js';
import { systemClock } from '../../shared/clock.js';
import { memberRolloutId, type ReleaseState } from '../../shared/release/state.js';
import { STARTER } from '../support/e2e-policy.js';
import { startStack, type DistributedStack } from '../support/distributed-stack.js';
import { testLogger } from '../support/topic-brokers.js';
import { waitFor } from '../support/wait-for.js';

const POLICY = `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [50, 100]
  bake: 1s
  gate:
    interval: 500ms
    minRequests: 20
    failureLimit: 2
    checks:
      - { metric: error_rate, mode: absolute, max: 0.05 }
services:
  payments:
    channel: C0PAYMENTS
    clusters: [eu-west, us-east]
    stableVersion: 1.0.0
  checkout:
    channel: C0CHECKOUT
    clusters: [eu-west, us-east]
    stableVersion: 2.4.0
    dependsOn: [payments]
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 20000
`;

let stack: DistributedStack | undefined;
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  await stack?.stop();
  stack = undefined;
});

/** Another replica's services on the stack's Redis: it takes the request, the bot processes run it. */
function requestReplica(s: DistributedStack) {
  const redis = new Redis(s.redis.url);
  closers.push(() => redis.quit());
  const releaseStore = new RedisReleaseStore(redis);
  const rolloutStore = new RedisRolloutStore(redis);
  const locks = new RedisServiceLocks(redis);
  const rollouts = new RolloutService({
    store: rolloutStore,
    locks,
    policy: () => s.policy,
    clock: systemClock,
    logger: testLogger,
    onCommitted: () => {},
  });
  const releases = new ReleaseService({
    store: releaseStore,
    rollouts,
    locks,
    // The policy names no contract checks: nothing is asked.
    contracts: new MemoryContractChecks(LOCAL_MODE_VERDICT),
    policy: () => s.policy,
    clock: systemClock,
    logger: testLogger,
    onCommitted: () => {},
  });
  return { releaseStore, rolloutStore, releases };
}

const MEMBERS = [
  { service: 'payments', version: '2.0.0' },
  { service: 'checkout', version: '3.1.0' },
];
const actor = { id: `user:${STARTER}`, userId: STARTER };

async function waitForEnd(store: RedisReleaseStore, id: string): Promise<ReleaseState> {
  return waitFor(
    async () => {
      const state = await store.get(id);
      const ended: ReleaseState['status'][] = ['succeeded', 'rolled_back', 'aborted'];
      return state && ended.includes(state.status) ? state : undefined;
    },
    { what: 'the release to end', timeoutMs: 60_000, intervalMs: 20 },
  );
}

/** One rollout per member, and each stage applied once in each cluster, then promoted. */
async function expectEachMemberRunOnce(
  s: DistributedStack,
  rolloutStore: RedisRolloutStore,
  releaseId: string,
): Promise<void> {
  for (const service of ['payments', 'checkout']) {
    const made = await rolloutStore.list({ service });
    expect(
      made.map((r) => r.id),
      service,
    ).toEqual([memberRolloutId(releaseId, service)]);
    for (const cluster of ['eu-west', 'us-east']) {
      const writes = s.routeWrites(cluster).filter((w) => w.service === service);
      expect(
        writes.map((w) => (w.operation === 'promote' ? 'promote' : w.canaryWeight)),
        `${service} in ${cluster}`,
      ).toEqual([0, 50, 100, 'promote']);
    }
  }
}

describe('the bot process killed mid-release', () => {
  it(
    'after a restart the release continues: checkout is not started twice, no stage is applied twice, all promoted',
    { timeout: 120_000 },
    async () => {
      stack = await startStack({ policyYaml: POLICY });
      const s = stack;
      const { releaseStore, rolloutStore, releases } = requestReplica(s);
      await Promise.all([s.startAgent('eu-west'), s.startAgent('us-east')]);
      const release = await releases.start(MEMBERS, actor);
      const firstBot = await s.startBotProcess();

      // payments held, checkout's rollout just created: kill the bot now.
      const checkoutId = memberRolloutId(release.id, 'checkout');
      await waitFor(async () => (await rolloutStore.get(checkoutId)) !== undefined, {
        what: "checkout's rollout to be created",
        timeoutMs: 60_000,
        intervalMs: 5,
      });
      expect((await firstBot.kill('SIGKILL')).signal).toBe('SIGKILL');
      expect((await rolloutStore.get(memberRolloutId(release.id, 'payments')))?.status).toBe(
        'held',
      );

      await s.startBotProcess();
      expect((await waitForEnd(releaseStore, release.id)).status).toBe('succeeded');
      await expectEachMemberRunOnce(s, rolloutStore, release.id);
    },
  );
});

describe('two bot processes running one release', () => {
  it(
    'share it without doing anything twice: each member started once, each stage applied once, all promoted',
    { timeout: 120_000 },
    async () => {
      stack = await startStack({ policyYaml: POLICY });
      const s = stack;
      const { releaseStore, rolloutStore, releases } = requestReplica(s);
      await Promise.all([s.startAgent('eu-west'), s.startAgent('us-east')]);
      // Both replicas run before the release exists, so both race for each of its effects.
      await Promise.all([s.startBotProcess(), s.startBotProcess()]);
      const release = await releases.start(MEMBERS, actor);
      expect((await waitForEnd(releaseStore, release.id)).status).toBe('succeeded');
      await expectEachMemberRunOnce(s, rolloutStore, release.id);
    },
  );
});
