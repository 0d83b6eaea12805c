import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths that may hold a credential in anything we log; pino replaces their values. */
const REDACT = [
  'token',
  'botToken',
  'appToken',
  'signingSecret',
  'password',
  'authorization',
  '*.token',
  '*.botToken',
  '*.appToken',
  '*.signingSecret',
  '*.password',
  '*.authorization',
  'headers.authorization',
  'headers["x-slack-signature"]',
];

export function createLogger(
  name: string,
  level: string = process.env.LOG_LEVEL ?? 'info',
): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}

/** For tests and libraries that must not print. */
export const silentLogger: Logger = pino({ level: 'silent' });
