import { ConfigError, isRolloutError } from '../errors.js';
import {
  Ed25519CommandSigner,
  Ed25519CommandVerifier,
  type CommandSigner,
  type CommandVerifier,
} from '../messaging/command-signing.js';

/**
 * What the environment says about Kafka's TLS and SASL and about command signing, checked as a
 * whole (a variable that only makes sense with another is refused without it). Files are read
 * through `readFile`, so this stays free of I/O and the caller decides how.
 */

export interface KafkaSecurityEnv {
  KAFKA_SSL: 'true' | 'false';
  KAFKA_SSL_CA?: string | undefined;
  KAFKA_SASL_MECHANISM?: 'plain' | 'scram-sha-256' | 'scram-sha-512' | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
}

/** The Kafka topic broker's `tls` and `sasl` options. */
export interface KafkaSecurity {
  tls?: { ca?: string[] };
  sasl?: {
    mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    username: string;
    password: string;
  };
}

export function kafkaSecurity(
  env: KafkaSecurityEnv,
  readFile: (path: string) => string,
): KafkaSecurity {
  const security: KafkaSecurity = {};
  if (env.KAFKA_SSL_CA !== undefined && env.KAFKA_SSL !== 'true') {
    throw new ConfigError(
      'KAFKA_SSL_CA',
      'is set but KAFKA_SSL is not true: set KAFKA_SSL=true to use TLS with this CA, or unset KAFKA_SSL_CA',
    );
  }
  if (env.KAFKA_SSL === 'true') {
    security.tls = {};
    if (env.KAFKA_SSL_CA !== undefined) {
      const pem = readOrRefuse('KAFKA_SSL_CA', env.KAFKA_SSL_CA, readFile);
      const certificates = pem.match(
        /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
      );
      if (certificates === null) {
        throw new ConfigError(
          'KAFKA_SSL_CA',
          `${env.KAFKA_SSL_CA} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA file that signed the brokers' certificates`,
        );
      }
      security.tls.ca = certificates;
    }
  }
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username } = env;
  const password = env.KAFKA_SASL_PASSWORD;
  if (mechanism === undefined) {
    const stray = username !== undefined ? 'KAFKA_SASL_USERNAME' : 'KAFKA_SASL_PASSWORD';
    if (username !== undefined || password !== undefined) {
      throw new ConfigError(
        stray,
        'is set but KAFKA_SASL_MECHANISM is not: set it to plain, scram-sha-256 or scram-sha-512 (as the cluster asks)',
      );
    }
    return security;
  }
  if (username === undefined) {
    throw new ConfigError(
      'KAFKA_SASL_USERNAME',
      `is not set: KAFKA_SASL_MECHANISM=${mechanism} needs it`,
    );
  }
  if (password === undefined) {
    throw new ConfigError(
      'KAFKA_SASL_PASSWORD',
      `is not set: KAFKA_SASL_MECHANISM=${mechanism} needs it`,
    );
  }
  if (env.KAFKA_SSL !== 'true') {
    throw new ConfigError(
      'KAFKA_SSL',
      `is not true while SASL (${mechanism}) is set: the credentials would cross the network in clear; set KAFKA_SSL=true`,
    );
  }
  security.sasl = { mechanism, username, password };
  return security;
}

/**
 * The PEM text of the command signing key a process must have, or `undefined` when signing is
 * explicitly off. In distributed mode signing is on unless `COMMAND_SIGNING=off`.
 */
export function commandKey(
  env: { COMMAND_SIGNING: 'on' | 'off' },
  variable: 'COMMAND_SIGNING_KEY_FILE' | 'COMMAND_VERIFY_KEY_FILE',
  path: string | undefined,
  readFile: (path: string) => string,
): string | undefined {
  if (env.COMMAND_SIGNING === 'off') return undefined;
  if (path === undefined) {
    const what =
      variable === 'COMMAND_SIGNING_KEY_FILE'
        ? "the bot's Ed25519 private key (openssl genpkey -algorithm ed25519 -out command-signing.key)"
        : "the bot's Ed25519 public key (openssl pkey -in command-signing.key -pubout -out command-verify.pem)";
    throw new ConfigError(
      variable,
      `is not set: commands are signed by default; give ${what}, or set COMMAND_SIGNING=off to run without (not for production)`,
    );
  }
  return readOrRefuse(variable, path, readFile);
}

/** The bot's signer, from `COMMAND_SIGNING_KEY_FILE`; undefined when `COMMAND_SIGNING=off`. */
export function commandSigner(
  env: { COMMAND_SIGNING: 'on' | 'off'; COMMAND_SIGNING_KEY_FILE?: string | undefined },
  readFile: (path: string) => string,
): CommandSigner | undefined {
  const path = env.COMMAND_SIGNING_KEY_FILE;
  const pem = commandKey(env, 'COMMAND_SIGNING_KEY_FILE', path, readFile);
  if (pem === undefined) return undefined;
  return asConfigError('COMMAND_SIGNING_KEY_FILE', () => new Ed25519CommandSigner(pem, path));
}

/** An agent's verifier, from `COMMAND_VERIFY_KEY_FILE`; undefined when `COMMAND_SIGNING=off`. */
export function commandVerifier(
  env: { COMMAND_SIGNING: 'on' | 'off'; COMMAND_VERIFY_KEY_FILE?: string | undefined },
  readFile: (path: string) => string,
): CommandVerifier | undefined {
  const path = env.COMMAND_VERIFY_KEY_FILE;
  const pem = commandKey(env, 'COMMAND_VERIFY_KEY_FILE', path, readFile);
  if (pem === undefined) return undefined;
  return asConfigError('COMMAND_VERIFY_KEY_FILE', () => new Ed25519CommandVerifier(pem, path));
}

function asConfigError<T>(variable: string, make: () => T): T {
  try {
    return make();
  } catch (err) {
    if (isRolloutError(err, 'invalid_config')) throw new ConfigError(variable, err.message);
    throw err;
  }
}

function readOrRefuse(variable: string, path: string, readFile: (path: string) => string): string {
  try {
    return readFile(path);
  } catch (err) {
    throw new ConfigError(variable, `cannot read ${path}: ${(err as Error).message}`);
  }
}
