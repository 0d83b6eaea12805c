import { describe, expect, it } from 'vitest';
import { isRolloutError } from '../errors.js';
import { AgentEnv, BotEnv, kafkaConsumerTimings, parseEnv, runMode, slackLimits } from './env.js';

function configErrorOf(fn: () => unknown): Error & { variable?: string } {
  try {
    fn();
  } catch (err) {
    if (isRolloutError(err, 'invalid_config')) return err as Error & { variable?: string };
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('environment configuration', () => {
  it('runs locally with no environment at all', () => {
    const env = parseEnv(BotEnv, {});
    expect(env.PORT).toBe(3000);
    expect(env.ROLLOUT_CONFIG).toBe('config/policy.yaml');
    expect(runMode(env)).toBe('local');
  });

  it('reads a broker list and a Redis URL as distributed mode', () => {
    const env = parseEnv(BotEnv, {
      KAFKA_BROKERS: 'a:9092, b:9093',
      REDIS_URL: 'redis://localhost:6379',
    });
    expect(env.KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
    expect(runMode(env)).toBe('distributed');
  });

  it('names the variable and what would be right for a bad value', () => {
    const err = configErrorOf(() => parseEnv(BotEnv, { PORT: 'eighty' }));
    expect(err.variable).toBe('PORT');
    expect(err.message).toMatch(/^PORT: is "eighty": expected/);
    expect(configErrorOf(() => parseEnv(BotEnv, { KAFKA_BROKERS: 'localhost' })).message).toContain(
      'KAFKA_BROKERS: is "localhost": expected each broker is host:port',
    );
  });

  it('never echoes a whole secret in the error', () => {
    const err = configErrorOf(() =>
      parseEnv(BotEnv, { SLACK_BOT_TOKEN: 'not-a-token-but-a-secret' }),
    );
    expect(err.message).toContain('SLACK_BOT_TOKEN');
    expect(err.message).not.toContain('not-a-token-but-a-secret');
  });

  it('shows nothing of a bad secret, and masks the credentials in a mistyped URL', () => {
    const secret = configErrorOf(() => parseEnv(BotEnv, { SLACK_SIGNING_SECRET: 'abc12' }));
    expect(secret.message).toContain('SLACK_SIGNING_SECRET');
    expect(secret.message).not.toContain('abc12');
    const url = configErrorOf(() =>
      parseEnv(BotEnv, { REDIS_URL: 'redis//default:hunter2-s3cret@redis.internal:6379' }),
    );
    expect(url.message).toContain('REDIS_URL');
    expect(url.message).not.toContain('hunter2');
    expect(url.message).toContain('redis.internal:6379');
  });

  it('refuses half a distributed configuration, naming the missing variable', () => {
    const err = configErrorOf(() => runMode(parseEnv(BotEnv, { KAFKA_BROKERS: 'k:9092' })));
    expect(err.variable).toBe('REDIS_URL');
  });

  it('requires the agent’s cluster and refuses an unknown router', () => {
    expect(configErrorOf(() => parseEnv(AgentEnv, {})).variable).toBe('AGENT_CLUSTER');
    const err = configErrorOf(() =>
      parseEnv(AgentEnv, { AGENT_CLUSTER: 'eu-west', TRAFFIC_ROUTER: 'istio' }),
    );
    expect(err.variable).toBe('TRAFFIC_ROUTER');
    expect(err.message).toContain('"simulated"');
  });

  it('reads the agent’s sampling and heartbeat intervals as durations, and refuses zero or nonsense', () => {
    const defaults = parseEnv(AgentEnv, { AGENT_CLUSTER: 'eu-west' });
    expect(defaults.AGENT_SAMPLING_INTERVAL).toBe(5_000);
    expect(defaults.AGENT_HEARTBEAT_INTERVAL).toBe(10_000);
    const fast = parseEnv(AgentEnv, {
      AGENT_CLUSTER: 'eu-west',
      AGENT_SAMPLING_INTERVAL: '50ms',
      AGENT_HEARTBEAT_INTERVAL: '1s',
    });
    expect([fast.AGENT_SAMPLING_INTERVAL, fast.AGENT_HEARTBEAT_INTERVAL]).toEqual([50, 1_000]);
    const zero = configErrorOf(() =>
      parseEnv(AgentEnv, { AGENT_CLUSTER: 'eu-west', AGENT_SAMPLING_INTERVAL: '0s' }),
    );
    expect(zero.message).toBe('AGENT_SAMPLING_INTERVAL: is "0s": expected a duration above zero');
    const nonsense = configErrorOf(() =>
      parseEnv(AgentEnv, { AGENT_CLUSTER: 'eu-west', AGENT_HEARTBEAT_INTERVAL: 'often' }),
    );
    expect(nonsense.variable).toBe('AGENT_HEARTBEAT_INTERVAL');
    expect(nonsense.message).toContain('write e.g. 30s');
  });

  it('reads Slack limits (Slack’s published ones by default) and refuses zero or nonsense, naming the variable', () => {
    expect(slackLimits(parseEnv(BotEnv, {}))).toEqual({
      methods: { 'chat.update': { perMinute: 50, burst: 10 } },
      channelPosts: { perSecond: 1, burst: 3 },
    });
    const raised = parseEnv(BotEnv, {
      SLACK_UPDATES_PER_MINUTE: '100',
      SLACK_POSTS_PER_SECOND: '0.5',
    });
    expect(slackLimits(raised)).toEqual({
      methods: { 'chat.update': { perMinute: 100, burst: 20 } },
      channelPosts: { perSecond: 0.5, burst: 1 },
    });
    for (const [variable, value] of [
      ['SLACK_UPDATES_PER_MINUTE', '0'],
      ['SLACK_UPDATES_PER_MINUTE', 'lots'],
      ['SLACK_UPDATES_PER_MINUTE', '100000'],
      ['SLACK_POSTS_PER_SECOND', '-1'],
    ] as const) {
      const err = configErrorOf(() => parseEnv(BotEnv, { [variable]: value }));
      expect(err.variable).toBe(variable);
      expect(err.message).toMatch(new RegExp(`^${variable}: is "${value}": expected`));
    }
  });

  it('reads the gate job timings as durations', () => {
    const env = parseEnv(BotEnv, {
      GATE_LOCK_DURATION: '2s',
      GATE_STALLED_INTERVAL: '500ms',
    });
    expect([env.GATE_LOCK_DURATION, env.GATE_STALLED_INTERVAL]).toEqual([2_000, 500]);
    expect(parseEnv(BotEnv, {}).GATE_LOCK_DURATION).toBeUndefined();
    expect(configErrorOf(() => parseEnv(BotEnv, { GATE_STALLED_INTERVAL: '0s' })).variable).toBe(
      'GATE_STALLED_INTERVAL',
    );
  });

  it('reads how many gate evaluations run at once, 4 unless set, and refuses what is not a count', () => {
    expect(parseEnv(BotEnv, {}).GATE_CONCURRENCY).toBe(4);
    expect(parseEnv(BotEnv, { GATE_CONCURRENCY: '8' }).GATE_CONCURRENCY).toBe(8);
    for (const bad of ['0', '-3', '2.5', 'many', '5000']) {
      const err = configErrorOf(() => parseEnv(BotEnv, { GATE_CONCURRENCY: bad }));
      expect(err.variable, bad).toBe('GATE_CONCURRENCY');
      expect(err.message, bad).toMatch(/^GATE_CONCURRENCY: is "/);
    }
  });

  it('passes on only the Kafka timings that are set, and refuses a heartbeat not shorter than the session', () => {
    expect(kafkaConsumerTimings(parseEnv(BotEnv, {}))).toEqual({});
    const env = parseEnv(BotEnv, {
      KAFKA_SESSION_TIMEOUT: '3s',
      KAFKA_HEARTBEAT_INTERVAL: '300ms',
      KAFKA_MAX_WAIT: '100ms',
    });
    expect(kafkaConsumerTimings(env)).toEqual({
      sessionTimeoutMs: 3_000,
      heartbeatIntervalMs: 300,
      maxWaitTimeMs: 100,
    });
    const slow = configErrorOf(() =>
      kafkaConsumerTimings(parseEnv(BotEnv, { KAFKA_HEARTBEAT_INTERVAL: '30s' })),
    );
    expect(slow.variable).toBe('KAFKA_HEARTBEAT_INTERVAL');
    // Only the session is set: the adapter's 3 s heartbeat default does not fit in it.
    const short = configErrorOf(() =>
      kafkaConsumerTimings(
        parseEnv(AgentEnv, { AGENT_CLUSTER: 'eu-west', KAFKA_SESSION_TIMEOUT: '2s' }),
      ),
    );
    expect(short.variable).toBe('KAFKA_SESSION_TIMEOUT');
  });
});
