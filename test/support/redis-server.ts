import { freePort, terminate } from './processes.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private `redis-server` for tests that must not share the machine's Redis (restarts, corrupt
 * records, FLUSHALL). Each instance gets a free loopback port and a fresh temporary directory.
 */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Graceful shutdown (SIGTERM: flushes the append-only file), then starts again on the same port and dir. */
  restart(): Promise<void>;
  /** Kills the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Append-only persistence with `appendfsync always`, so a restart keeps every acknowledged write. Default false. */
  appendOnly?: boolean;
  /** How long to wait for the server to answer PING. Default 10 s. */
  readyTimeoutMs?: number;
}

const BINARY = process.env.REDIS_SERVER_BIN ?? 'redis-server';
/** Servers still running when the test process exits are killed, so none outlive a crashed run. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const dir = await mkdtemp(join(tmpdir(), 'rollout-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  // A free port found by binding port 0 can be taken before redis binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir, options.appendOnly ?? false, readyTimeoutMs);
      break;
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= 5) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  let stopped = false;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async restart() {
      if (stopped) throw new Error('redis-server: restart() after stop()');
      if (child) await terminate(child, 'SIGTERM');
      child = undefined;
      child = await launch(port, dir, options.appendOnly ?? false, readyTimeoutMs);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child) await terminate(child, 'SIGKILL');
      child = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

class PortInUseError extends Error {}

async function launch(
  port: number,
  dir: string,
  appendOnly: boolean,
  readyTimeoutMs: number,
): Promise<ChildProcess> {
  // One flag and its value per line.
  // prettier-ignore
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--daemonize', 'no',
    '--protected-mode', 'yes',
    '--loglevel', 'warning',
    '--logfile', '',
    '--appendonly', appendOnly ? 'yes' : 'no',
    ...(appendOnly ? ['--appendfsync', 'always'] : []),
  ];
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let failure: Error | undefined;
  child.once('error', (err: NodeJS.ErrnoException) => {
    failure =
      err.code === 'ENOENT'
        ? new Error(`${BINARY} not found on PATH; install it with: apt-get install redis-server`)
        : err;
  });
  child.once('exit', (code, signal) => {
    live.delete(child);
    failure ??= /Address already in use/i.test(output)
      ? new PortInUseError(`port ${port} is in use`)
      : new Error(
          `redis-server exited (code ${code}, signal ${signal}) before it was ready:\n${output}`,
        );
  });

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (failure) throw failure;
    if (await answersPing(port)) return child;
    if (Date.now() > deadline) {
      await terminate(child, 'SIGKILL');
      throw new Error(
        `redis-server on port ${port} did not answer PING within ${readyTimeoutMs} ms:\n${output}`,
      );
    }
    await pause(25);
  }
}

/** Sends the inline `PING` command and checks for `+PONG` (also false while Redis loads its AOF). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
