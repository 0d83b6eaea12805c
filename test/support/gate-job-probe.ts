/**
 * Loaded into a bot process before `bot/main.ts` (`spawnEntry`'s `preload`) by fault tests that
 * kill the bot while a gate job runs. Every gate job the process's `BullGateScheduler` runs is
 * recorded in the file `GATE_JOB_PROBE_FILE`, one JSON line per step (`ProbeLine`): `started`
 * when the worker hands it over, `finished` when the handler resolved. With
 * `GATE_JOB_PROBE_HOLD=before` (or `after`) each job, once started, is `held` before (or after)
 * the handler runs and never finishes: the job stays active in BullMQ until the process dies.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { BullGateScheduler } from '../../bot/adapters/bull-gate-scheduler.js';
import type { GateJob, GateJobHandler } from '../../shared/ports/gate-scheduler.js';

export interface ProbeLine {
  pid: number;
  step: 'started' | 'held' | 'finished';
  job: GateJob;
}

/** The lines the probe wrote to `file` so far. */
export function probeLines(file: string): ProbeLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ProbeLine);
}

export const GATE_JOB_PROBE = new URL('./gate-job-probe.ts', import.meta.url).pathname;

const file = process.env.GATE_JOB_PROBE_FILE;
if (file) {
  const hold = process.env.GATE_JOB_PROBE_HOLD;
  const record = (step: ProbeLine['step'], job: GateJob) =>
    appendFileSync(
      file,
      `${JSON.stringify({ pid: process.pid, step, job } satisfies ProbeLine)}\n`,
    );
  const holdForever = (job: GateJob) => {
    record('held', job);
    return new Promise<never>(() => {});
  };
  const start = BullGateScheduler.prototype.start;
  BullGateScheduler.prototype.start = function (this: BullGateScheduler, handler: GateJobHandler) {
    return start.call(this, async (job) => {
      record('started', job);
      if (hold === 'before') await holdForever(job);
      await handler(job);
      if (hold === 'after') await holdForever(job);
      record('finished', job);
    });
  };
}
