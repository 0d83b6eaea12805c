/**
 * Runs a runtime entry point (`agent/main.ts`, `bot/main.ts`) as a real child process, the way
 * `npm run agent` / `npm run bot` would: one Node process with tsx loaded (no wrapper process, so
 * a signal reaches the program itself and SIGKILL kills it for good).
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface EntryProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves when the process logged its ready line; rejects if it exits or times out first. */
  readonly ready: Promise<void>;
  readonly exited: Promise<ProcessExit>;
  /** The last lines it printed (stdout and stderr), for failure messages. */
  output(): string;
  /** Sends `signal` and waits for the exit. SIGTERM escalates to SIGKILL after `graceMs`. */
  kill(signal: 'SIGTERM' | 'SIGKILL', graceMs?: number): Promise<ProcessExit>;
}

/** Variables a test's parent environment must not leak into a child's configuration. */
const CONFIG_VARIABLES =
  /^(KAFKA_|REDIS_URL$|ROLLOUT_CONFIG$|LOG_LEVEL$|AGENT_|SLACK_|SIMULATION_|COMMAND_|PACT_)/;

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export function spawnEntry(
  entry: string,
  options: {
    name: string;
    env: Record<string, string>;
    /** A line of output that means the process is up (e.g. its "running" log line). */
    readyLine: RegExp;
    readyTimeoutMs?: number;
    /** Modules loaded before the entry point (after tsx), e.g. a test's hook into the process. */
    preload?: string[];
  },
): EntryProcess {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !CONFIG_VARIABLES.test(key)),
  );
  const preload = (options.preload ?? []).flatMap((module) => ['--import', module]);
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload, entry], {
    cwd: REPO_ROOT,
    env: { ...env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const tail: string[] = [];
  let markReady: () => void = () => {};
  let failReady: (err: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  // Nobody may be waiting on `ready` when it fails (a process that was killed on purpose).
  ready.catch(() => undefined);
  // TEST_CHILD_LOG_DIR=<dir>: every line each child prints also goes to <dir>/<name>.log (the
  // tail kept here is 200 lines, and a bench's children print far more).
  const logDir = process.env.TEST_CHILD_LOG_DIR;
  let log: WriteStream | undefined;
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    log = createWriteStream(join(logDir, `${options.name.replace(/[^\w.-]+/g, '-')}.log`), {
      flags: 'a',
    });
    child.once('close', () => log?.end());
  }
  const onLine = (line: string) => {
    log?.write(`${line}\n`);
    tail.push(line);
    tail.splice(0, Math.max(0, tail.length - 200));
    if (options.readyLine.test(line)) markReady();
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const output = () => tail.join('\n');

  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      failReady(
        new Error(
          `${options.name} exited (code ${code}, signal ${signal}) before it was ready:\n${output()}`,
        ),
      );
      resolve({ code, signal });
    });
  });
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const timer = setTimeout(
    () => failReady(new Error(`${options.name} not ready within ${timeoutMs} ms:\n${output()}`)),
    timeoutMs,
  );
  void ready.finally(() => clearTimeout(timer)).catch(() => undefined);

  return {
    name: options.name,
    pid: child.pid ?? -1,
    ready,
    exited,
    output,
    async kill(signal, graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      if (signal === 'SIGTERM') {
        const escalate = setTimeout(() => child.kill('SIGKILL'), graceMs);
        void exited.then(() => clearTimeout(escalate));
      }
      return exited;
    },
  };
}
