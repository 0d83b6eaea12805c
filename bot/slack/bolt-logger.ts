import { LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from '../../shared/log.js';

// Slack tokens (bot, user, app-level, config) and the ticket in a Socket Mode URL.
const TOKEN = /\b(xox[a-z]|xapp|xoxe(?:\.xox[a-z])?)-[A-Za-z0-9-]+/g;
const TICKET = /([?&]ticket=)[^&\s"']+/g;

/**
 * Bolt's and the Web API client's logger, routed into ours (pino, JSON, one stream) with every
 * Slack token, Socket Mode ticket and the given secrets (the signing secret) masked in the text:
 * those libraries log strings, which pino's path-based redaction cannot see into.
 */
export function boltLogger(logger: Logger, secrets: readonly string[] = []): BoltLogger {
  const masks = secrets.filter((s) => s.length >= 8);
  const scrub = (parts: unknown[]): string => {
    let text = parts
      .map((p) =>
        p instanceof Error ? (p.stack ?? p.message) : typeof p === 'string' ? p : safeJson(p),
      )
      .join(' ');
    text = text
      .replace(TOKEN, (_m, kind: string) => `${kind}-[redacted]`)
      .replace(TICKET, '$1[redacted]');
    for (const secret of masks) text = text.split(secret).join('[redacted]');
    return text;
  };
  // Bolt logs at debug on every request: scrub only what will be written.
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...msg: unknown[]) => {
      if (logger.isLevelEnabled(level)) logger[level](scrub(msg));
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    // Our LOG_LEVEL rules; Bolt asking for another level changes nothing.
    setLevel: () => undefined,
    getLevel: () => {
      if (logger.isLevelEnabled('debug')) return LogLevel.DEBUG;
      if (logger.isLevelEnabled('info')) return LogLevel.INFO;
      if (logger.isLevelEnabled('warn')) return LogLevel.WARN;
      return LogLevel.ERROR;
    },
    setName: () => undefined,
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
