import type { Logger } from '../shared/log.js';

export interface Periodic {
  /** Stops the loop and waits for a run in progress. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `intervalMs`, measured from the end of one run to the start of the next, so
 * runs never overlap. A task that throws is logged and the loop goes on. Timers are unref'd: the
 * loop alone never keeps a process alive.
 */
export function runEvery(
  intervalMs: number,
  task: () => Promise<void>,
  logger: Logger,
  name: string,
): Periodic {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = task()
        .catch((err: unknown) => logger.error({ err, task: name }, 'periodic task failed'))
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
