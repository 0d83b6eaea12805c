/**
 * Loaded into the bot and agent processes by the scale bench when `SCALE_CPU_PROFILE_DIR` is set
 * (`--cpu-profile <dir>`): profiles the whole process with the inspector and writes
 * `<dir>/<name>-<pid>.cpuprofile` when it exits (open it in Chrome's DevTools). Node refuses
 * `--cpu-prof` in NODE_OPTIONS, and these processes are started by the bench, hence a preload.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.SCALE_CPU_PROFILE_DIR;
if (dir) {
  const name = process.env.SCALE_CPU_PROFILE_NAME ?? 'process';
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  // 1 ms: fine enough to see a hot function, coarse enough not to be the load itself.
  session.post('Profiler.setSamplingInterval', { interval: 1_000 });
  session.post('Profiler.start');
  // An in-process session answers synchronously, so this works in an 'exit' listener.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err)
        writeFileSync(
          join(dir, `${name}-${process.pid}.cpuprofile`),
          JSON.stringify(result.profile),
        );
    });
  });
}

export const SCALE_CPU_PROFILE_PROBE = new URL('./cpu-profile-probe.ts', import.meta.url).pathname;
