import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import { boltLogger } from './bolt-logger.js';

function capture() {
  const lines: string[] = [];
  const logger = createLogger('test', 'debug', {
    write: (line: string) => void lines.push(line),
  });
  return { lines, logger };
}

describe('boltLogger', () => {
  it('masks Slack tokens, Socket Mode tickets and the given secrets in what libraries log', () => {
    const { lines, logger } = capture();
    const log = boltLogger(logger, ['the-signing-secret']);
    log.debug('http request body:', { token: 'xoxb-123-456-abcDEF' }, 'and xapp-1-A1-2-zz');
    log.warn('connecting to wss://wss.slack.test/link/?ticket=abc-123&app_id=A1');
    log.error(new Error('secret the-signing-secret leaked?'));
    const text = lines.join('');
    expect(text).not.toMatch(/xoxb-123|abcDEF|xapp-1-A1|ticket=abc|the-signing-secret/);
    expect(text).toContain('xoxb-[redacted]');
    expect(text).toContain('ticket=[redacted]');
    expect(lines.map((l) => JSON.parse(l).level)).toEqual([20, 40, 50]);
  });

  it('reports our level to Bolt and ignores Bolt setting another', () => {
    const { logger } = capture();
    const log = boltLogger(logger);
    log.setLevel('error' as never);
    expect(log.getLevel()).toBe('debug');
  });
});
