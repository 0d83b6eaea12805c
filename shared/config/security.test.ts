import { describe, expect, it } from 'vitest';
import { kafkaClientConfig, KafkaTopicBrokerOptions } from '../adapters/kafka-topic-broker.js';
import { silentLogger } from '../log.js';
import { AgentEnv, parseEnv } from './env.js';
import { commandSigner, commandVerifier, kafkaSecurity } from './security.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
const files: Record<string, string> = { '/etc/kafka/ca.pem': `${CA}\n${CA}\n` };
const readFile = (path: string) => {
  const text = files[path];
  if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
  return text;
};
const env = (vars: Record<string, string>) =>
  parseEnv(AgentEnv, { AGENT_CLUSTER: 'eu-west', ...vars });

describe('Kafka security from the environment', () => {
  it('passes TLS with the CA file and SASL to kafkajs exactly', () => {
    const security = kafkaSecurity(
      env({
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA: '/etc/kafka/ca.pem',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'agent-eu-west',
        KAFKA_SASL_PASSWORD: 's3cret',
      }),
      readFile,
    );
    const settings = KafkaTopicBrokerOptions.parse({
      clientId: 'agent',
      brokers: ['b-1.kafka.example:9096'],
      ...security,
    });
    const config = kafkaClientConfig(settings, silentLogger);
    expect(config.ssl).toEqual({ ca: [CA, CA], rejectUnauthorized: true });
    expect(config.sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'agent-eu-west',
      password: 's3cret',
    });
  });

  it('uses the system CAs with KAFKA_SSL alone, and no TLS or SASL by default', () => {
    const tlsOnly = kafkaSecurity(env({ KAFKA_SSL: 'true' }), readFile);
    const plain = KafkaTopicBrokerOptions.parse({ clientId: 'a', brokers: ['k:9092'], ...tlsOnly });
    expect(kafkaClientConfig(plain, silentLogger).ssl).toBe(true);
    const none = kafkaSecurity(env({}), readFile);
    expect(none).toEqual({});
    const config = kafkaClientConfig(
      KafkaTopicBrokerOptions.parse({ clientId: 'a', brokers: ['k:9092'] }),
      silentLogger,
    );
    expect(config.ssl).toBeUndefined();
    expect(config.sasl).toBeUndefined();
  });

  it.each([
    [{ KAFKA_SSL_CA: '/etc/kafka/ca.pem' }, /KAFKA_SSL_CA: is set but KAFKA_SSL is not true/],
    [{ KAFKA_SSL: 'true', KAFKA_SSL_CA: '/nope.pem' }, /KAFKA_SSL_CA: cannot read \/nope.pem/],
    [{ KAFKA_SASL_USERNAME: 'u' }, /KAFKA_SASL_USERNAME: is set but KAFKA_SASL_MECHANISM is not/],
    [
      { KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' },
      /KAFKA_SASL_PASSWORD: is not set/,
    ],
    [
      { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' },
      /KAFKA_SSL: is not true while SASL \(plain\) is set/,
    ],
  ])('refuses %o naming the variable', (vars, message) => {
    expect(() => kafkaSecurity(env(vars), readFile)).toThrow(message);
  });

  it('refuses a CA file with no certificate, and never echoes a password', () => {
    files['/etc/kafka/empty.pem'] = 'nothing here';
    expect(() =>
      kafkaSecurity(env({ KAFKA_SSL: 'true', KAFKA_SSL_CA: '/etc/kafka/empty.pem' }), readFile),
    ).toThrow(/KAFKA_SSL_CA: \/etc\/kafka\/empty.pem holds no PEM certificate/);
    expect(() => env({ KAFKA_SASL_PASSWORD: '', KAFKA_SSL: 'maybe' })).toThrow(/KAFKA_SSL/);
  });
});

describe('command signing from the environment', () => {
  it('is on by default: a missing key file stops the process naming the variable', () => {
    expect(() => commandVerifier(env({}), readFile)).toThrow(
      /COMMAND_VERIFY_KEY_FILE: is not set: commands are signed by default/,
    );
    expect(() => commandSigner({ COMMAND_SIGNING: 'on' }, readFile)).toThrow(
      /COMMAND_SIGNING_KEY_FILE: is not set/,
    );
  });

  it('is off only when asked', () => {
    expect(commandVerifier(env({ COMMAND_SIGNING: 'off' }), readFile)).toBeUndefined();
    expect(() => env({ COMMAND_SIGNING: 'no' })).toThrow(
      /COMMAND_SIGNING: is "no": expected on or off/,
    );
  });

  it('names the variable when the file holds no key', () => {
    expect(() =>
      commandSigner(
        { COMMAND_SIGNING: 'on', COMMAND_SIGNING_KEY_FILE: '/etc/kafka/ca.pem' },
        readFile,
      ),
    ).toThrow(/COMMAND_SIGNING_KEY_FILE: .*is not a PEM private key/);
  });
});
