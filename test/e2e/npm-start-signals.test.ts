/**
 * `npm start` stopped the ways people and supervisors stop it: SIGTERM to the npm process itself
 * (a supervisor, `kill`), and Ctrl-C (SIGINT to the whole foreground process group, so the product
 * gets it twice: from the terminal and forwarded by npm). Either way the product stops cleanly,
 * nothing keeps running or holds its port, and npm exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/entry-process.js';
import { waitFor } from '../support/wait-for.js';

let npm: ChildProcess | undefined;
afterEach(() => {
  if (npm?.pid !== undefined && npm.exitCode === null) process.kill(-npm.pid, 'SIGKILL');
  npm = undefined;
});

/** Starts `npm start` in a process group of its own and waits for the console's URL. */
async function npmStart(): Promise<{ child: ChildProcess; productPid: number; url: string }> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(KAFKA_|REDIS_URL$|SLACK_|HOST$)/.test(k)),
  );
  const child = spawn('npm', ['start'], {
    cwd: REPO_ROOT,
    env: { ...env, PORT: '0' },
    detached: true, // its own process group, as a terminal gives a foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  npm = child;
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));
  const url = await waitFor(
    () =>
      lines.map((l) => /Open the console: (http:\/\/localhost:\d+\/)/.exec(l)?.[1]).find(Boolean),
    { what: 'npm start to print the console URL', timeoutMs: 45_000 },
  );
  const productPid = Number(
    lines.map((l) => /"pid":(\d+)/.exec(l)?.[1]).find((pid) => pid !== undefined),
  );
  return { child, productPid, url: url.replace('localhost', '127.0.0.1') };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('stopping npm start', () => {
  it.each([
    ['SIGTERM to the npm process', (child: ChildProcess) => process.kill(child.pid!, 'SIGTERM')],
    [
      'Ctrl-C (SIGINT to its process group)',
      (child: ChildProcess) => process.kill(-child.pid!, 'SIGINT'),
    ],
  ])(
    '%s stops the product, frees its port, and npm exits 0',
    async (_how, stop) => {
      const { child, productPid, url } = await npmStart();
      expect(productPid).toBeGreaterThan(0);
      expect((await fetch(`${url}healthz`)).status).toBe(200);

      stop(child);
      expect(await exitOf(child)).toEqual({ code: 0, signal: null });
      await waitFor(() => !alive(productPid), { what: `the product (pid ${productPid}) to exit` });
      await expect(fetch(`${url}healthz`)).rejects.toThrow();
    },
    90_000,
  );
});
