import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from '../log.js';

/** Sends kafkajs's log lines to our pino logger, one child per kafkajs namespace. */
export function pinoLogCreator(logger: Logger): logCreator {
  const kafkaLogger = logger.child({ lib: 'kafkajs' });
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...extra } = log;
      const fields = { namespace, ...extra };
      switch (level) {
        case logLevel.ERROR:
          return kafkaLogger.error(fields, message);
        case logLevel.WARN:
          return kafkaLogger.warn(fields, message);
        case logLevel.INFO:
          return kafkaLogger.info(fields, message);
        case logLevel.DEBUG:
          return kafkaLogger.debug(fields, message);
        default:
          return undefined;
      }
    };
}
