import { ConfigError } from '../errors.js';
import { contractEdges } from './contract-policy.js';
import type { RunMode } from './env.js';
import type { Policy } from './policy.js';

/** What the Pact Broker adapter needs. The token never leaves this object but to the broker. */
export interface PactBrokerSettings {
  /** The broker's base URL (`PACT_BROKER_URL`). */
  url: string;
  /** The bearer token, when the broker wants one (PactFlow and most hosted brokers do). */
  token?: string;
}

export interface PactBrokerEnv {
  PACT_BROKER_URL?: string | undefined;
  PACT_BROKER_TOKEN?: string | undefined;
  PACT_BROKER_TOKEN_FILE?: string | undefined;
}

/**
 * The Pact Broker settings from the environment, checked against the policy, or `undefined` when
 * no broker is configured. Refused at start (a `ConfigError` naming the variable):
 *
 * - a policy naming contract checks without `PACT_BROKER_URL` in distributed mode: a release
 *   would otherwise be held at its first check, hours later, for a setting missing since start.
 *   Local mode runs on the memory checks instead (it must run with no services at all);
 * - both `PACT_BROKER_TOKEN` and `PACT_BROKER_TOKEN_FILE` (which one wins would be a guess);
 * - a token without a URL (nothing would use it: a half-finished setup);
 * - an unreadable or empty token file.
 *
 * Files are read through `readFile`, so this stays free of I/O.
 */
export function pactBrokerSettings(
  env: PactBrokerEnv,
  policy: Policy,
  mode: RunMode,
  readFile: (path: string) => string,
): PactBrokerSettings | undefined {
  const { PACT_BROKER_URL: url, PACT_BROKER_TOKEN: token, PACT_BROKER_TOKEN_FILE: file } = env;
  if (token !== undefined && file !== undefined) {
    throw new ConfigError(
      'PACT_BROKER_TOKEN_FILE',
      'is set as well as PACT_BROKER_TOKEN: set one of them (the file is for a mounted secret)',
    );
  }
  if (url === undefined) {
    if (token !== undefined || file !== undefined) {
      throw new ConfigError(
        'PACT_BROKER_URL',
        `is not set but ${token !== undefined ? 'PACT_BROKER_TOKEN' : 'PACT_BROKER_TOKEN_FILE'} is: ` +
          "set PACT_BROKER_URL to the Pact Broker's base URL, or unset the token",
      );
    }
    const edges = contractEdges(policy);
    if (edges.length > 0 && mode === 'distributed') {
      const named = edges.map((e) => `${e.consumer} → ${e.provider}`).join(', ');
      throw new ConfigError(
        'PACT_BROKER_URL',
        `is not set, but the policy names contract checks (${named} in services.<name>.contracts): ` +
          "set it to the Pact Broker's base URL (and PACT_BROKER_TOKEN or PACT_BROKER_TOKEN_FILE), " +
          'or remove the contracts from the policy',
      );
    }
    return undefined;
  }
  if (file === undefined) return { url, ...(token !== undefined && { token }) };
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    throw new ConfigError(
      'PACT_BROKER_TOKEN_FILE',
      `cannot read ${file}: ${(err as Error).message}`,
    );
  }
  const fromFile = text.trim();
  if (fromFile === '' || /\s/.test(fromFile)) {
    throw new ConfigError(
      'PACT_BROKER_TOKEN_FILE',
      `${file} ${fromFile === '' ? 'is empty' : 'holds more than one word'}: it must hold the broker's API token alone`,
    );
  }
  return { url, token: fromFile };
}
