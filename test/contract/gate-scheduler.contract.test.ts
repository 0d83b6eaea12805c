import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BullGateScheduler, gateJobId } from '../../bot/adapters/bull-gate-scheduler.js';
import { MemoryGateScheduler } from '../../bot/adapters/memory-gate-scheduler.js';
import type { GateJob, GateJobHandler, GateScheduler } from '../../shared/ports/gate-scheduler.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { aRolloutId } from '../support/state-builders.js';

/** Retries in these suites back off 20 ms, 40 ms: fast, but still through the real retry path. */
const RETRY = { attempts: 3, backoffMs: 20 };
/** The defaults' shape (no attempt limit), with waits short enough for a test: 10, 20, 20… ms. */
const UNLIMITED = { backoffMs: 10, maxBackoffMs: 20 };

type RetryOptions = { attempts?: number; backoffMs?: number; maxBackoffMs?: number };
const WAIT = { timeout: 15_000, interval: 20 };

interface Harness {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A scheduler that shares no jobs with the ones made before it; retries as `RETRY` unless told. */
  fresh(retry?: RetryOptions): GateScheduler;
}

function memoryHarness(): Harness {
  return {
    name: 'MemoryGateScheduler',
    setup: async () => {},
    teardown: async () => {},
    fresh: (retry = RETRY) => new MemoryGateScheduler(retry),
  };
}

function bullHarness(): Harness {
  let server: RedisServer | undefined;
  let n = 0;
  return {
    name: 'BullGateScheduler',
    async setup() {
      server = await startRedis();
    },
    async teardown() {
      await server?.stop();
    },
    fresh: (retry = RETRY) =>
      new BullGateScheduler({ url: server!.url, queueName: `gates-${n++}`, ...retry }),
  };
}

const label = (job: GateJob) => `${job.rolloutId}/${job.stageIndex}/${job.tick}`;

/** A handler that records every run, in the order runs began. */
function recorder(behaviour?: (job: GateJob, run: number) => Promise<void>) {
  const runs: string[] = [];
  const jobs: GateJob[] = [];
  const handler: GateJobHandler = async (job) => {
    runs.push(label(job));
    jobs.push(job);
    await behaviour?.(job, runs.filter((r) => r === label(job)).length);
  };
  return { runs, jobs, handler };
}

describe.each([memoryHarness(), bullHarness()])('GateScheduler contract: $name', (harness) => {
  const open: GateScheduler[] = [];
  const fresh = (retry?: RetryOptions) => {
    const scheduler = harness.fresh(retry);
    open.push(scheduler);
    return scheduler;
  };
  beforeAll(() => harness.setup());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  afterAll(() => harness.teardown());

  it('runs a job with its data once its delay has passed', async () => {
    const scheduler = fresh();
    const { jobs, handler } = recorder();
    // Characters BullMQ ids may not hold (':'), slashes and non-ASCII all survive the round trip.
    const job: GateJob = { rolloutId: 'checkout:eu-west/2.4.1-ü', stageIndex: 2, tick: 7 };

    expect(await scheduler.schedule(job, 50)).toBe(true);
    await scheduler.start(handler);

    await vi.waitFor(() => expect(jobs).toEqual([job]), WAIT);
  });

  it('runs nothing before its delay: a later job starts after an earlier one', async () => {
    const scheduler = fresh();
    const { runs, handler } = recorder();
    const r = aRolloutId();
    await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 1000);
    await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 2 }, 0);
    await scheduler.start(handler);

    await vi.waitFor(() => expect(runs).toHaveLength(2), WAIT);
    expect(runs).toEqual([`${r}/0/2`, `${r}/0/1`]);
  });

  it('holds jobs that became due before start until a handler is given', async () => {
    const scheduler = fresh();
    const { runs, handler } = recorder();
    const r = aRolloutId();
    await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 0);
    await scheduler.schedule({ rolloutId: r, stageIndex: 1, tick: 1 }, 0);
    await scheduler.start(handler);
    await vi.waitFor(() => expect([...runs].sort()).toEqual([`${r}/0/1`, `${r}/1/1`]), WAIT);
  });

  describe('at most once per (rolloutId, stageIndex, tick)', () => {
    it('refuses the same job a second time and the same triple under a new delay', async () => {
      const scheduler = fresh();
      const job = { rolloutId: aRolloutId(), stageIndex: 1, tick: 3 };
      expect(await scheduler.schedule(job, 60_000)).toBe(true);
      expect(await scheduler.schedule(job, 60_000)).toBe(false);
      expect(await scheduler.schedule(job, 0)).toBe(false);
      expect(await scheduler.schedule({ ...job, tick: 4 }, 60_000)).toBe(true);
      expect(await scheduler.schedule({ ...job, stageIndex: 2 }, 60_000)).toBe(true);
    });

    it('accepts exactly one of several concurrent schedule calls, and runs it once', async () => {
      const scheduler = fresh();
      const { runs, handler } = recorder();
      const job = { rolloutId: aRolloutId(), stageIndex: 0, tick: 1 };
      const accepted = await Promise.all(
        Array.from({ length: 6 }, () => scheduler.schedule(job, 0)),
      );
      expect(accepted.filter(Boolean)).toHaveLength(1);

      await scheduler.start(handler);
      const sentinel = { rolloutId: job.rolloutId, stageIndex: 0, tick: 2 };
      await scheduler.schedule(sentinel, 100);
      await vi.waitFor(() => expect(runs).toContain(label(sentinel)), WAIT);
      expect(runs.filter((r) => r === label(job))).toHaveLength(1);
    });

    it('refuses a job that already ran, and does not run it again', async () => {
      const scheduler = fresh();
      const { runs, handler } = recorder();
      const job = { rolloutId: aRolloutId(), stageIndex: 0, tick: 1 };
      await scheduler.start(handler);
      await scheduler.schedule(job, 0);
      await vi.waitFor(() => expect(runs).toEqual([label(job)]), WAIT);

      expect(await scheduler.schedule(job, 0)).toBe(false);
      const sentinel = { ...job, tick: 2 };
      await scheduler.schedule(sentinel, 50);
      await vi.waitFor(() => expect(runs).toContain(label(sentinel)), WAIT);
      expect(runs).toEqual([label(job), label(sentinel)]);
    });
  });

  describe('cancel', () => {
    it("removes only that rollout's jobs that have not started, and returns how many", async () => {
      const scheduler = fresh();
      const { runs, handler } = recorder();
      const [doomed, kept] = [aRolloutId('doomed'), aRolloutId('kept')];
      await scheduler.schedule({ rolloutId: doomed, stageIndex: 0, tick: 1 }, 0);
      await scheduler.schedule({ rolloutId: doomed, stageIndex: 0, tick: 2 }, 60_000);
      await scheduler.schedule({ rolloutId: kept, stageIndex: 0, tick: 1 }, 0);

      expect(await scheduler.cancel(doomed)).toBe(2);
      expect(await scheduler.cancel(doomed)).toBe(0);
      expect(await scheduler.cancel('never-scheduled')).toBe(0);

      await scheduler.start(handler);
      // A job of the cancelled rollout due at 0 ms would have started before this one (200 ms).
      const sentinel = { rolloutId: kept, stageIndex: 0, tick: 2 };
      await scheduler.schedule(sentinel, 200);
      await vi.waitFor(() => expect(runs).toContain(label(sentinel)), WAIT);
      expect(runs).toEqual([`${kept}/0/1`, label(sentinel)]);
    });

    it('keeps a cancelled tick used: the next evaluation needs a new tick', async () => {
      const scheduler = fresh();
      const { runs, handler } = recorder();
      const r = aRolloutId();
      await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 0);
      expect(await scheduler.cancel(r)).toBe(1);

      expect(await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 0)).toBe(false);
      expect(await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 2 }, 0)).toBe(true);
      await scheduler.start(handler);
      await vi.waitFor(() => expect(runs).toEqual([`${r}/0/2`]), WAIT);
    });

    it('leaves a running job alone', async () => {
      const scheduler = fresh();
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let finished = false;
      const { runs, handler } = recorder(async () => {
        await released;
        finished = true;
      });
      const r = aRolloutId();
      await scheduler.start(handler);
      await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 0);
      await vi.waitFor(() => expect(runs).toHaveLength(1), WAIT);

      expect(await scheduler.cancel(r)).toBe(0);
      release();
      await vi.waitFor(() => expect(finished).toBe(true), WAIT);
      expect(runs).toEqual([`${r}/0/1`]);
    });
  });

  it('retries a rejecting handler with backoff until it succeeds', async () => {
    const scheduler = fresh();
    let succeeded = false;
    const { runs, handler } = recorder(async (_job, run) => {
      if (run < 3) throw new Error(`metrics unavailable (run ${run})`);
      succeeded = true;
    });
    const job = { rolloutId: aRolloutId(), stageIndex: 0, tick: 1 };
    await scheduler.start(handler);
    await scheduler.schedule(job, 0);

    await vi.waitFor(() => expect(succeeded).toBe(true), WAIT);
    expect(runs).toEqual([label(job), label(job), label(job)]);
  });

  it('by default retries a rejecting handler with capped backoff for as long as it takes (no attempt limit)', async () => {
    const scheduler = fresh(UNLIMITED);
    // More than any small limit (the old default gave up after 5 runs), and enough that an
    // uncapped doubling from 10 ms would wait 41 s in all, far past WAIT's 15 s; capped at 20 ms
    // it is a quarter of a second. So a missing cap fails the wait below, with no clock reading.
    const failures = 12;
    let succeeded = false;
    const { runs, handler } = recorder(async (_job, run) => {
      if (run <= failures) throw new Error(`version conflict (run ${run})`);
      succeeded = true;
    });
    const job = { rolloutId: aRolloutId(), stageIndex: 1, tick: 4 };
    await scheduler.start(handler);
    await scheduler.schedule(job, 0);

    await vi.waitFor(() => expect(succeeded).toBe(true), WAIT);
    expect(runs).toEqual(Array(failures + 1).fill(label(job)));
  });

  it('stops after the configured attempts when the handler keeps rejecting', async () => {
    const scheduler = fresh();
    const { runs, handler } = recorder(async (job) => {
      if (job.tick === 1) throw new Error('always fails');
    });
    const r = aRolloutId();
    await scheduler.start(handler);
    await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 0);
    await vi.waitFor(() => expect(runs).toHaveLength(RETRY.attempts), WAIT);
    // Retries back off 20 + 40 ms; a fourth run would come before a job due 500 ms later.
    await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 2 }, 500);
    await vi.waitFor(() => expect(runs).toContain(`${r}/0/2`), WAIT);
    expect(runs.filter((x) => x === `${r}/0/1`)).toHaveLength(RETRY.attempts);
  });

  it('can be closed more than once, started or not', async () => {
    const idle = fresh();
    await idle.close();
    await idle.close();
    const started = fresh();
    await started.start(recorder().handler);
    await started.close();
    await started.close();
  });
});

describe('BullGateScheduler: durability', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('runs a job exactly once on a new instance after the worker that had it closed first', async () => {
    const options = { url: server.url, queueName: 'handover', ...RETRY };
    const job = { rolloutId: aRolloutId(), stageIndex: 1, tick: 1 };
    const first = new BullGateScheduler(options);
    const firstRuns = recorder();
    expect(await first.schedule(job, 1500)).toBe(true);
    await first.start(firstRuns.handler);
    await first.close();

    const second = new BullGateScheduler(options);
    try {
      const secondRuns = recorder();
      await second.start(secondRuns.handler);
      expect(await second.schedule(job, 0)).toBe(false);
      await vi.waitFor(() => expect(secondRuns.runs).toEqual([label(job)]), WAIT);
      const sentinel = { ...job, tick: 2 };
      await second.schedule(sentinel, 300);
      await vi.waitFor(() => expect(secondRuns.runs).toContain(label(sentinel)), WAIT);
      expect([...firstRuns.runs, ...secondRuns.runs]).toEqual([label(job), label(sentinel)]);
    } finally {
      await second.close();
    }
  });

  it('finds jobs to cancel through a per-rollout hash, not by scanning the queue', async () => {
    const redis = new Redis(server.url);
    const scheduler = new BullGateScheduler({
      url: server.url,
      queueName: 'tracked',
      prefix: 'gt',
    });
    try {
      const r = 'svc:with:colons';
      await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 60_000);
      await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 2 }, 60_000);
      const ticksKey = `gt:gate-ticks:tracked:${encodeURIComponent(r)}`;
      // Claimed and tracked (c); after cancel claimed but no longer tracked (d).
      expect(await redis.hgetall(ticksKey)).toEqual({ '0-1': 'c', '0-2': 'c' });
      expect(await scheduler.cancel(r)).toBe(2);
      expect(await redis.hgetall(ticksKey)).toEqual({ '0-1': 'd', '0-2': 'd' });
      expect(await scheduler.cancel(r)).toBe(0);
      expect(await redis.keys('gt:tracked:gate-*')).toEqual([]);
    } finally {
      await scheduler.close();
      await redis.quit();
    }
  });

  it('keeps no finished job beyond its bounds, and the claim alone refuses a tick that ran', async () => {
    const redis = new Redis(server.url);
    const scheduler = new BullGateScheduler({
      url: server.url,
      queueName: 'bounded',
      prefix: 'gb',
      keepCompleted: { age: 3600, count: 2 },
      keepFailed: { age: 3600, count: 0 },
      attempts: 1,
      retentionMs: 60_000,
    });
    try {
      const r = aRolloutId();
      const { runs, handler } = recorder(async (job) => {
        if (job.stageIndex === 1) throw new Error('gives up at once');
      });
      await scheduler.start(handler);
      for (let tick = 1; tick <= 6; tick++)
        await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick }, 0);
      await scheduler.schedule({ rolloutId: r, stageIndex: 1, tick: 1 }, 0);
      await vi.waitFor(() => expect(runs).toHaveLength(7), WAIT);
      // The last completion prunes the older ones; the failed job is removed as it fails.
      await vi.waitFor(async () => {
        const jobs = (await redis.keys('gb:bounded:gate-*')).filter((k) => !k.endsWith(':lock'));
        expect(jobs).toHaveLength(2);
      }, WAIT);

      // One key of ours for the rollout's 7 ticks; it expires, no later than `retentionMs` after
      // the last job was due.
      const ours = await redis.keys('gb:gate-ticks:*');
      expect(ours).toHaveLength(1);
      expect(await redis.hlen(ours[0]!)).toBe(7);
      for (const key of ours) {
        const ttl = await redis.pttl(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(60_000);
      }
      // The job record of tick 1 is gone; its claim still refuses it, and nothing runs again.
      expect(
        await redis.exists(`gb:bounded:${gateJobId({ rolloutId: r, stageIndex: 0, tick: 1 })}`),
      ).toBe(0);
      expect(await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 0)).toBe(false);
      expect(await scheduler.schedule({ rolloutId: r, stageIndex: 1, tick: 1 }, 0)).toBe(false);
      const sentinel = { rolloutId: r, stageIndex: 0, tick: 7 };
      await scheduler.schedule(sentinel, 100);
      await vi.waitFor(() => expect(runs).toContain(label(sentinel)), WAIT);
      expect(runs).toHaveLength(8);
    } finally {
      await scheduler.close();
      await redis.quit();
    }
  });

  it('by default removes a job as it completes and keeps the queue event stream short', async () => {
    const redis = new Redis(server.url);
    const scheduler = new BullGateScheduler({
      url: server.url,
      queueName: 'removed',
      prefix: 'gr',
      maxEvents: 10,
    });
    try {
      const r = aRolloutId();
      const { runs, handler } = recorder();
      await scheduler.start(handler);
      const jobs = 60;
      for (let tick = 1; tick <= jobs; tick++)
        await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick }, 0);
      await vi.waitFor(() => expect(runs).toHaveLength(jobs), WAIT);
      await vi.waitFor(async () => {
        const left = (await redis.keys('gr:removed:gate-*')).filter((k) => !k.endsWith(':lock'));
        expect(left).toEqual([]);
      }, WAIT);
      // Each job adds several events (added, active, completed…): far more than kept. Redis trims
      // a stream by whole nodes (100 entries), so "about 10" is at most 10 + 100.
      expect(await redis.xlen('gr:removed:events')).toBeLessThanOrEqual(10 + 100);
      expect(await redis.hget('gr:removed:meta', 'opts.maxLenEvents')).toBe('10');
      // The ticks stay claimed: none runs again. A cancel finds no job left to remove, and marks
      // the completed ticks done so that later cancels skip them.
      expect(await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 0)).toBe(false);
      expect(await scheduler.cancel(r)).toBe(0);
      const marks = Object.values(
        await redis.hgetall(`gr:gate-ticks:removed:${encodeURIComponent(r)}`),
      );
      expect(marks).toHaveLength(jobs);
      expect(new Set(marks)).toEqual(new Set(['d']));
    } finally {
      await scheduler.close();
      await redis.quit();
    }
  });

  it('claims a tick until retentionMs after it is due, and never shortens the rollout hash', async () => {
    const redis = new Redis(server.url);
    const scheduler = new BullGateScheduler({
      url: server.url,
      queueName: 'ttl',
      prefix: 'gtl',
      retentionMs: 60_000,
    });
    try {
      const r = aRolloutId();
      await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 1 }, 600_000);
      await scheduler.schedule({ rolloutId: r, stageIndex: 0, tick: 2 }, 0);
      const ticks = `gtl:gate-ticks:ttl:${encodeURIComponent(r)}`;
      // Tick 2 (due now, 60 s) did not shorten what tick 1 (due in 600 s) needs: 660 s.
      expect(await redis.pttl(ticks)).toBeGreaterThan(600_000);
      expect(await redis.pttl(ticks)).toBeLessThanOrEqual(660_000);
    } finally {
      await scheduler.close();
      await redis.quit();
    }
  });

  it('rejects bad options when constructed', () => {
    expect(() => new BullGateScheduler({ url: 'localhost:6379' })).toThrow(/url/);
    expect(() => new BullGateScheduler({ url: server.url, queueName: 'a:b' })).toThrow(/queueName/);
    expect(() => new BullGateScheduler({ url: server.url, attempts: 0 })).toThrow(/attempts/);
    expect(
      () => new BullGateScheduler({ url: server.url, backoffMs: 1_000, maxBackoffMs: 10 }),
    ).toThrow(/maxBackoffMs/);
    expect(
      () => new BullGateScheduler({ url: server.url, keepCompleted: { age: 60, count: -1 } }),
    ).toThrow(/keepCompleted/);
    expect(() => new BullGateScheduler({ url: server.url, maxEvents: 0 })).toThrow(/maxEvents/);
  });
});

describe('MemoryGateScheduler: bounded claims', () => {
  it('claims a tick until retentionMs after it is due, then forgets it', async () => {
    const scheduler = new MemoryGateScheduler({ retentionMs: 50 });
    try {
      const job = { rolloutId: aRolloutId(), stageIndex: 0, tick: 1 };
      expect(await scheduler.schedule(job, 0)).toBe(true);
      expect(await scheduler.schedule(job, 0)).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await scheduler.schedule(job, 0)).toBe(true);
    } finally {
      await scheduler.close();
    }
  });
});

describe('gateJobId', () => {
  it('never holds ":" and is never an integer, whatever the rollout id', () => {
    for (const rolloutId of ['a:b', ':', '::1', '12', 'checkout:eu-west:2.4.1', '%3A', ' ']) {
      const id = gateJobId({ rolloutId, stageIndex: 0, tick: 1 });
      expect(id).not.toContain(':');
      expect(Number.isInteger(Number(id))).toBe(false);
    }
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme' }),
        fc.nat(),
        fc.nat(),
        (rolloutId, stageIndex, tick) => {
          const id = gateJobId({ rolloutId, stageIndex, tick });
          return !id.includes(':') && !/^\d+$/.test(id);
        },
      ),
    );
  });

  it('is deterministic and gives distinct jobs distinct ids', () => {
    const job = fc.record({
      rolloutId: fc.string({ unit: 'binary' }),
      stageIndex: fc.nat({ max: 20 }),
      tick: fc.nat({ max: 20 }),
    });
    fc.assert(
      fc.property(job, job, (a, b) => {
        expect(gateJobId(a)).toBe(gateJobId({ ...a }));
        const same =
          a.rolloutId === b.rolloutId && a.stageIndex === b.stageIndex && a.tick === b.tick;
        expect(gateJobId(a) === gateJobId(b)).toBe(same);
      }),
    );
    // Dashes in the rollout id cannot shift the stage and tick fields.
    expect(gateJobId({ rolloutId: 'a-1', stageIndex: 2, tick: 3 })).not.toBe(
      gateJobId({ rolloutId: 'a', stageIndex: 12, tick: 3 }),
    );
  });
});
