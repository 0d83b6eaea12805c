/**
 * The Kafka test broker: librdkafka's mock cluster (test/kafka-broker/mock-broker.c) run as a
 * child process, steered over its stdin line protocol. Tests, fault suites and the bench use it.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, rename, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SOURCE = fileURLToPath(new URL('../kafka-broker/mock-broker.c', import.meta.url));
const BUILD_DIR = fileURLToPath(new URL('../kafka-broker/build/', import.meta.url));
export const KAFKA_BROKER_BINARY = `${BUILD_DIR}mock-broker`;

const START_TIMEOUT_MS = 10_000;
const COMMAND_TIMEOUT_MS = 5_000;

/**
 * Compiles the test broker unless the binary is newer than its source. Safe to call from
 * several processes: the compiler writes a temporary file that is renamed into place.
 * Returns the binary's path.
 */
export async function buildKafkaBroker(): Promise<string> {
  const source = await stat(SOURCE);
  const binary = await stat(KAFKA_BROKER_BINARY).catch(() => undefined);
  if (binary && binary.mtimeMs >= source.mtimeMs) return KAFKA_BROKER_BINARY;
  await mkdir(BUILD_DIR, { recursive: true });
  const tmp = `${KAFKA_BROKER_BINARY}.${process.pid}.tmp`;
  const args = ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-o', tmp, SOURCE, '-lrdkafka'];
  try {
    await promisify(execFile)('gcc', args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(
      `could not build the Kafka test broker (needs gcc and librdkafka-dev): ${(err as Error).message}\n${stderr}`,
    );
  }
  await rename(tmp, KAFKA_BROKER_BINARY);
  return KAFKA_BROKER_BINARY;
}

export interface KafkaTestBroker {
  /** `host:port` of every mock broker, for the client's `brokers` option. */
  bootstrap: string[];
  /** Broker ids run from 1 to the number of brokers. Down does not move partition leadership. */
  down(brokerId: number): Promise<void>;
  up(brokerId: number): Promise<void>;
  /** The next `count` requests of Kafka API `apiKey` (0 = Produce, 1 = Fetch…) fail with `code`. */
  pushErrors(apiKey: number, code: number, count: number): Promise<void>;
  /** Drops every injected error that has not been consumed yet (they queue until consumed). */
  clearErrors(): Promise<void>;
  createTopic(name: string, partitions: number, replication?: number): Promise<void>;
  /** Moves a partition's leadership to `brokerId` (-1: leaderless). */
  setLeader(topic: string, partition: number, brokerId: number): Promise<void>;
  /** Makes `brokerId` the coordinator of consumer group `group` (before anyone joins it). */
  setCoordinator(group: string, brokerId: number): Promise<void>;
  /**
   * Broker `brokerId` answers its next `count` requests of API `apiKey` `ms` late; the request
   * itself is carried out at once (a produce is written), so a client that times out and retries
   * writes a duplicate.
   */
  delayResponses(brokerId: number, apiKey: number, ms: number, count?: number): Promise<void>;
  /** Stops the process. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a fresh mock cluster (default 3 brokers), building the program first if it is stale.
 * The process also exits when this one does (its stdin closes).
 */
export async function startKafkaBroker(
  options: { brokers?: number } = {},
): Promise<KafkaTestBroker> {
  const brokers = options.brokers ?? 3;
  if (!Number.isInteger(brokers) || brokers < 1 || brokers > 32) {
    throw new Error(`brokers must be an integer from 1 to 32, got ${brokers}`);
  }
  const binary = await buildKafkaBroker();
  const child = spawn(binary, [String(brokers)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderrTail: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail.push(...chunk.split('\n').filter(Boolean));
    stderrTail.splice(0, Math.max(0, stderrTail.length - 20));
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  // Writing to a broker that died fails with EPIPE; the exit handler below says why instead.
  child.stdin.on('error', () => {});

  const lines = createInterface({ input: child.stdout });
  const waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  let dead: Error | undefined;
  lines.on('line', (line) => waiting.shift()?.resolve(line));
  void exited.then((code) => {
    dead = new Error(`Kafka test broker exited (code ${code}): ${stderrTail.join(' | ')}`);
    for (const w of waiting.splice(0)) w.reject(dead);
  });

  const nextLine = (timeoutMs: number, what: string): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      if (dead) return reject(dead);
      const timer = setTimeout(() => {
        reject(new Error(`Kafka test broker did not answer ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.push({
        resolve: (line) => (clearTimeout(timer), resolve(line)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
    });

  // Commands are answered in order, one line each; send one at a time so answers cannot mix.
  let queue: Promise<unknown> = Promise.resolve();
  const command = (line: string): Promise<void> => {
    const run = queue.then(async () => {
      const answer = nextLine(COMMAND_TIMEOUT_MS, `'${line}'`);
      child.stdin.write(`${line}\n`);
      const reply = await answer;
      if (reply !== 'OK') throw new Error(`Kafka test broker refused '${line}': ${reply}`);
    });
    queue = run.catch(() => undefined);
    return run;
  };

  let bootstrap: string[];
  try {
    const first = await nextLine(START_TIMEOUT_MS, 'on start');
    const match = /^BOOTSTRAP (\S+)$/.exec(first);
    if (!match?.[1]) throw new Error(`Kafka test broker printed '${first}' instead of BOOTSTRAP`);
    bootstrap = match[1].split(',');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (dead) return;
      child.stdin.end('quit\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  return {
    bootstrap,
    down: (id) => command(`down ${id}`),
    up: (id) => command(`up ${id}`),
    pushErrors: (apiKey, code, count) => command(`errors ${apiKey} ${code} ${count}`),
    clearErrors: () => command('clear'),
    createTopic: (name, partitions, replication = Math.min(3, brokers)) =>
      command(`topic ${name} ${partitions} ${replication}`),
    setLeader: (topic, partition, brokerId) => command(`leader ${topic} ${partition} ${brokerId}`),
    setCoordinator: (group, brokerId) => command(`coordinator ${group} ${brokerId}`),
    delayResponses: (brokerId, apiKey, ms, count = 1) =>
      command(`delay ${brokerId} ${apiKey} ${ms} ${count}`),
    stop,
  };
}
