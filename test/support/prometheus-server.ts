import { freePort, terminate } from './processes.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private `prometheus` (Debian's package, 2.42) for tests: a free loopback port, a temporary
 * config and data directory, scraping the given targets every `scrapeIntervalMs`. It never uses
 * the machine's own Prometheus service (if the package started one, it is left alone).
 */
export interface PrometheusServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Kills the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** `host:port` targets scraped at `/metrics`. */
  targets: string[];
  /** Default 1000 ms: tests wait for a couple of scrapes, so keep it short. */
  scrapeIntervalMs?: number;
  /** How long to wait for `/-/ready`. Default 20 s. */
  readyTimeoutMs?: number;
}

const BINARY = process.env.PROMETHEUS_BIN ?? 'prometheus';
const live = new Map<ChildProcess, string>();
process.once('exit', () => {
  for (const [child, dir] of live) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusServer> {
  const interval = `${options.scrapeIntervalMs ?? 1000}ms`;
  const dir = await mkdtemp(join(tmpdir(), 'rollout-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'scrape_configs:',
      '  - job_name: test-exporter',
      `    scrape_timeout: ${interval}`,
      '    static_configs:',
      `      - targets: [${options.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'),
  );
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const child = await launch(port, dir, config, options.readyTimeoutMs ?? 20_000);
      let stopped = false;
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        async stop() {
          if (stopped) return;
          stopped = true;
          await terminate(child);
          live.delete(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= 5) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

class PortInUseError extends Error {}

async function launch(
  port: number,
  dir: string,
  config: string,
  readyTimeoutMs: number,
): Promise<ChildProcess> {
  // One flag per line.
  // prettier-ignore
  const args = [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
    '--storage.tsdb.retention.time=1h',
  ];
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.set(child, dir);
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
        ? new Error(`${BINARY} not found on PATH; install it with: apt-get install prometheus`)
        : err;
  });
  child.once('exit', (code, signal) => {
    live.delete(child);
    failure ??= /address already in use/i.test(output)
      ? new PortInUseError(`port ${port} is in use`)
      : new Error(
          `prometheus exited (code ${code}, signal ${signal}) before it was ready:\n${output}`,
        );
  });
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (failure) throw failure;
    if (await isReady(port)) return child;
    if (Date.now() > deadline) {
      await terminate(child);
      throw new Error(
        `prometheus on port ${port} not ready within ${readyTimeoutMs} ms:\n${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function isReady(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/-/ready`, {
      signal: AbortSignal.timeout(1000),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}
