import { describe, expect, it } from 'vitest';
import { CoalescingPass } from './coalescing-pass.js';

/** A pass the test lets finish: each call waits until `finish()` releases it. */
function gatedPass() {
  const waiting: (() => void)[] = [];
  let started = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  const pass = async () => {
    started += 1;
    concurrent += 1;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    await new Promise<void>((resolve) => waiting.push(resolve));
    concurrent -= 1;
  };
  return {
    pass,
    started: () => started,
    maxConcurrent: () => maxConcurrent,
    /** Lets the oldest waiting pass end, once one is waiting. */
    async finish() {
      while (waiting.length === 0) await new Promise((r) => setImmediate(r));
      waiting.shift()!();
    },
  };
}

describe('CoalescingPass', () => {
  it('runs one pass per request when requests do not overlap', async () => {
    const gate = gatedPass();
    const passes = new CoalescingPass(gate.pass);
    const first = passes.run();
    await gate.finish();
    await first;
    const second = passes.run();
    await gate.finish();
    await second;
    expect(gate.started()).toBe(2);
    expect(passes.running).toBeUndefined();
  });

  it('coalesces any number of requests during a pass into one more pass, never two at once', async () => {
    const gate = gatedPass();
    const passes = new CoalescingPass(gate.pass);
    const first = passes.run();
    const during = [passes.run(), passes.run(), passes.run()];
    // Every request made during the pass is answered by the same passes in flight.
    expect(during.every((p) => p === first)).toBe(true);
    await gate.finish(); // the first pass
    await gate.finish(); // the one more pass the requests asked for
    await Promise.all([first, ...during]);
    expect(gate.started()).toBe(2);
    expect(gate.maxConcurrent()).toBe(1);
  });

  it('rejects the requests of a pass that threw, and starts afresh on the next request', async () => {
    let calls = 0;
    const passes = new CoalescingPass(async () => {
      calls += 1;
      if (calls === 1) throw new Error('store down');
    });
    await expect(passes.run()).rejects.toThrow('store down');
    await passes.idle();
    await passes.run();
    expect(calls).toBe(2);
  });

  it('idle resolves once every pass ended, a failed one included, and at once when none runs', async () => {
    const idleNow = new CoalescingPass(async () => undefined);
    await idleNow.idle();
    const gate = gatedPass();
    const passes = new CoalescingPass(gate.pass);
    void passes.run();
    void passes.run();
    let idle = false;
    const waiting = passes.idle().then(() => (idle = true));
    await gate.finish();
    await new Promise((r) => setImmediate(r));
    expect(idle).toBe(false); // the second pass still runs
    await gate.finish();
    await waiting;
    expect(idle).toBe(true);
    const failing = new CoalescingPass(async () => {
      throw new Error('boom');
    });
    failing.run().catch(() => undefined);
    await failing.idle();
    expect(failing.running).toBeUndefined();
  });
});
