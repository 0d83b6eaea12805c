import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../../shared/errors.js';

/**
 * The local console has no authentication: whoever reaches it picks any person of the policy and
 * acts as them. So it serves only this machine (a loopback address), and never beside a real Slack
 * workspace's token (a bot started with `SLACK_BOT_TOKEN` belongs to `npm run bot`).
 */

/** `localhost`, an address in 127.0.0.0/8, or `::1` (any spelling, brackets allowed). */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost') return true;
  if (isIPv4(name)) return name.split('.')[0] === '127';
  // The URL parser writes an IPv6 address in its shortest form (`0:0:0:0:0:0:0:1` → `::1`) and
  // an IPv4-mapped one in hex (`::ffff:127.0.0.1` → `::ffff:7f00:1`).
  if (isIPv6(name))
    return /^\[(::1|::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4})\]$/.test(
      new URL(`http://[${name}]`).hostname,
    );
  return false;
}

/**
 * Throws a `ConfigError` naming the variable when the console must not start: `HOST` is not a
 * loopback address, or `SLACK_BOT_TOKEN` is set.
 */
export function refuseExposedConsole(env: { HOST: string; SLACK_BOT_TOKEN?: string }): void {
  if (!isLoopbackHost(env.HOST)) {
    throw new ConfigError(
      'HOST',
      `the local console has no login (anyone who reaches it can act as anyone), so it serves ` +
        `only a loopback address (127.0.0.1, ::1 or localhost), not "${env.HOST}"; unset HOST ` +
        'or set it to 127.0.0.1',
    );
  }
  if (env.SLACK_BOT_TOKEN !== undefined && env.SLACK_BOT_TOKEN !== '') {
    throw new ConfigError(
      'SLACK_BOT_TOKEN',
      'is set, but `npm start` runs local mode, which plays Slack itself in the local console; ' +
        'to run against a Slack workspace use `npm run bot` with KAFKA_BROKERS and REDIS_URL, ' +
        'or unset SLACK_BOT_TOKEN to try the product locally',
    );
  }
}
