import type { Logger } from './log.js';

/**
 * On SIGTERM or SIGINT (any number of them), runs `stop` once and exits 0, or 1 if it fails or takes longer than
 * `timeoutMs` (a process that hangs on shutdown would otherwise be killed without a word).
 */
export function exitGracefullyOnSignals(
  logger: Logger,
  stop: () => Promise<void>,
  options: { timeoutMs: number; fields?: Record<string, unknown> },
): void {
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: NodeJS.Signals): void => {
    stopping ??= (async () => {
      logger.info({ signal, ...options.fields }, 'shutting down');
      const deadline = setTimeout(() => {
        logger.error({ timeoutMs: options.timeoutMs }, 'shutdown took too long; exiting');
        process.exit(1);
      }, options.timeoutMs);
      deadline.unref();
      try {
        await stop();
        process.exit(0);
      } catch (err) {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      }
    })();
  };
  // `on`, not `once`: Ctrl-C under npm delivers SIGINT twice (the terminal's, then npm's
  // forwarded copy), and a second signal must not kill the process halfway through stopping; a
  // shutdown that hangs is ended by the deadline instead.
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
