import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Paths that may hold a credential in anything we log; pino replaces their values. */
const REDACT = [
  'token',
  'botToken',
  'appToken',
  'signingSecret',
  'password',
  'authorization',
  'routingKey',
  'routing_key',
  'PAGERDUTY_ROUTING_KEY',
  '*.token',
  '*.botToken',
  '*.appToken',
  '*.signingSecret',
  '*.password',
  '*.authorization',
  '*.routingKey',
  '*.routing_key',
  '*.PAGERDUTY_ROUTING_KEY',
  'headers.authorization',
  'headers["x-slack-signature"]',
];

/** `destination` defaults to stdout; tests pass a stream to read what would be logged. */
export function createLogger(
  name: string,
  level: string = process.env.LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
): Logger {
  const options = { name, level, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}

/** For tests and libraries that must not print. */
export const silentLogger: Logger = pino({ level: 'silent' });
