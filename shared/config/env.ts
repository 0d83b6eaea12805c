import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { ClusterName } from '../rollout/plan.js';
import { Duration } from './duration.js';
import type { SlackLimits } from '../ports/slack-budget.js';

/**
 * Environment variables, validated at start. A bad value stops the process with a
 * `ConfigError` that names the variable and says what would be right.
 */

const KafkaBrokers = z
  .string()
  .transform((text) =>
    text
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(
        z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'each broker is host:port, e.g. localhost:9092'),
      )
      .min(1, 'at least one broker, e.g. localhost:9092'),
  );

const RedisUrl = z
  .string()
  .regex(/^rediss?:\/\/.+/, 'a redis:// or rediss:// URL, e.g. redis://localhost:6379');

const HttpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });

/** A duration in the policy file's notation (`500ms`, `30s`, `5m`), above zero, as milliseconds. */
const PositiveDuration = Duration.pipe(z.number().int().positive('a duration above zero'));

const LogLevel = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info');

const Common = {
  KAFKA_BROKERS: KafkaBrokers.optional(),
  REDIS_URL: RedisUrl.optional(),
  ROLLOUT_CONFIG: z.string().min(1).default('config/policy.yaml'),
  LOG_LEVEL: LogLevel,
  /**
   * Kafka consumer group timings. Unset, the Kafka adapter's defaults (for a production cluster)
   * apply; tests and the bench shorten them against the mock broker, where a dead member is only
   * noticed after its session times out and an idle fetch waits out its whole max wait.
   */
  KAFKA_SESSION_TIMEOUT: PositiveDuration.optional(),
  KAFKA_HEARTBEAT_INTERVAL: PositiveDuration.optional(),
  KAFKA_REBALANCE_TIMEOUT: PositiveDuration.optional(),
  KAFKA_MAX_WAIT: PositiveDuration.optional(),
  /** TLS to the brokers (`true` for every managed Kafka); see `kafkaSecurity`. */
  KAFKA_SSL: z.enum(['true', 'false'], 'true or false').default('false'),
  /** A PEM file of the CA(s) that signed the brokers' certificates, when not a public CA. */
  KAFKA_SSL_CA: z.string().min(1).optional(),
  KAFKA_SASL_MECHANISM: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'], 'plain, scram-sha-256 or scram-sha-512')
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /**
   * Commands signed by the bot and checked by agents (Ed25519). On unless set to `off`, which
   * both processes log as a warning at start: anyone who can write a command topic then moves
   * traffic.
   */
  COMMAND_SIGNING: z.enum(['on', 'off'], 'on or off').default('on'),
};

export const BotEnv = z.object({
  ...Common,
  SLACK_BOT_TOKEN: z
    .string()
    .regex(/^xox[bp]-/, 'a bot token starting with xoxb-')
    .optional(),
  SLACK_SIGNING_SECRET: z
    .string()
    .min(8, 'the signing secret from the Slack app’s Basic Information page')
    .optional(),
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-/, 'an app-level token starting with xapp- (Socket Mode)')
    .optional(),
  SLACK_API_URL: HttpUrl.optional(),
  /**
   * Slack's limits the bot keeps to, across all its replicas: `chat.update` calls a minute in the
   * workspace (Slack's Tier 3: 50+) and `chat.postMessage` posts a second per channel (Slack: 1,
   * short bursts allowed). Raise them only if Slack granted the app more.
   */
  SLACK_UPDATES_PER_MINUTE: z.coerce
    .number('a number of chat.update calls a minute, e.g. 50')
    .positive('above zero, e.g. 50')
    .max(6_000, 'at most 6000 (100 a second)')
    .default(50),
  SLACK_POSTS_PER_SECOND: z.coerce
    .number('a number of posts a second per channel, e.g. 1')
    .positive('above zero, e.g. 1')
    .max(100, 'at most 100')
    .default(1),
  /**
   * Gate jobs (distributed mode): how long a bot's lock on a running job lasts without renewal,
   * and how often each bot looks for jobs whose lock expired (their bot died mid-run) to run
   * them again. Unset, the scheduler's defaults (30 s each) apply; tests shorten them.
   */
  GATE_LOCK_DURATION: PositiveDuration.optional(),
  GATE_STALLED_INTERVAL: PositiveDuration.optional(),
  /**
   * Gate evaluations a bot runs at once (each reads a rollout and its samples and commits the
   * verdict). 1,000 rollouts at a 5 s gate interval need 200 a second: 4 at a time keeps up only
   * while each takes under 20 ms (the scale bench ran with 32). Default 4: with 32, a clean-clone
   * test run saw one bot run the same stalled job twice under load (a 2 s lock), not yet understood.
   */
  GATE_CONCURRENCY: z.coerce
    .number('a whole number of gate evaluations at once, e.g. 32')
    .int('a whole number, e.g. 32')
    .min(1, 'at least 1')
    .max(1_000, 'at most 1000')
    .default(4),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Address the HTTP server binds to; loopback unless told otherwise. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** The bot's Ed25519 private key (PKCS#8 PEM file) that signs every command. */
  COMMAND_SIGNING_KEY_FILE: z.string().min(1).optional(),
  /**
   * PagerDuty Events API v2 routing key for every service whose policy names none of its own
   * (`services.<name>.pagerduty.routingKeyEnv`). Unset, and no service names one: no paging.
   */
  PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  /** The Events API base URL; tests and proxies point it elsewhere. */
  PAGERDUTY_EVENTS_URL: HttpUrl.default('https://events.pagerduty.com'),
  /**
   * The Pact Broker that contract checks ask (`services.<name>.contracts`; see pact-broker.ts), and
   * its bearer token, given directly or as a file (a mounted secret). Never logged.
   */
  PACT_BROKER_URL: HttpUrl.optional(),
  PACT_BROKER_TOKEN: z
    .string()
    .regex(/^\S+$/, 'the API token alone, without spaces or line breaks')
    .optional(),
  PACT_BROKER_TOKEN_FILE: z.string().min(1).optional(),
});
export type BotEnv = z.infer<typeof BotEnv>;

export const AgentEnv = z.object({
  ...Common,
  AGENT_CLUSTER: ClusterName,
  TRAFFIC_ROUTER: z.enum(['simulated', 'gateway-api']).default('simulated'),
  METRICS_PROVIDER: z.enum(['simulated', 'prometheus']).default('simulated'),
  PROMETHEUS_URL: HttpUrl.optional(),
  /** A kubeconfig file for the `gateway-api` router; in a pod it uses its service account instead. */
  KUBECONFIG: z.string().min(1).optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3001),
  HOST: z.string().min(1).default('127.0.0.1'),
  /** How often the agent samples health of each active rollout (also each sample's window). */
  AGENT_SAMPLING_INTERVAL: PositiveDuration.default(5_000),
  /** How often the agent publishes a heartbeat. */
  AGENT_HEARTBEAT_INTERVAL: PositiveDuration.default(10_000),
  /** The bot's Ed25519 public key(s) (SPKI PEM, several during a rotation) commands must verify with. */
  COMMAND_VERIFY_KEY_FILE: z.string().min(1).optional(),
});
export type AgentEnv = z.infer<typeof AgentEnv>;

export type RunMode = 'local' | 'distributed';

/** Local with neither Kafka nor Redis; distributed with both; half of each is a mistake. */
export function runMode(env: { KAFKA_BROKERS?: string[]; REDIS_URL?: string }): RunMode {
  if (env.KAFKA_BROKERS && env.REDIS_URL) return 'distributed';
  if (!env.KAFKA_BROKERS && !env.REDIS_URL) return 'local';
  const missing = env.KAFKA_BROKERS ? 'REDIS_URL' : 'KAFKA_BROKERS';
  throw new ConfigError(
    missing,
    'distributed mode needs both KAFKA_BROKERS and REDIS_URL; unset both to run locally in one process',
  );
}

/** The consumer timings the environment sets, as the Kafka topic broker's `consumer` options. */
export interface KafkaConsumerTimings {
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  maxWaitTimeMs?: number;
}

/**
 * The `KAFKA_*` timings that are set, checked against each other (and against the adapter's
 * defaults of 30 s session and 3 s heartbeat for the ones that are not): a heartbeat must come
 * well within the session timeout.
 */
export function kafkaConsumerTimings(env: {
  KAFKA_SESSION_TIMEOUT?: number | undefined;
  KAFKA_HEARTBEAT_INTERVAL?: number | undefined;
  KAFKA_REBALANCE_TIMEOUT?: number | undefined;
  KAFKA_MAX_WAIT?: number | undefined;
}): KafkaConsumerTimings {
  const session = env.KAFKA_SESSION_TIMEOUT ?? 30_000;
  const heartbeat = env.KAFKA_HEARTBEAT_INTERVAL ?? 3_000;
  if (heartbeat >= session) {
    const variable =
      env.KAFKA_HEARTBEAT_INTERVAL !== undefined
        ? 'KAFKA_HEARTBEAT_INTERVAL'
        : 'KAFKA_SESSION_TIMEOUT';
    throw new ConfigError(
      variable,
      `the heartbeat interval (${heartbeat} ms) must be shorter than the session timeout (${session} ms); ` +
        'a third of it or less is usual',
    );
  }
  return {
    ...(env.KAFKA_SESSION_TIMEOUT !== undefined && { sessionTimeoutMs: env.KAFKA_SESSION_TIMEOUT }),
    ...(env.KAFKA_HEARTBEAT_INTERVAL !== undefined && {
      heartbeatIntervalMs: env.KAFKA_HEARTBEAT_INTERVAL,
    }),
    ...(env.KAFKA_REBALANCE_TIMEOUT !== undefined && {
      rebalanceTimeoutMs: env.KAFKA_REBALANCE_TIMEOUT,
    }),
    ...(env.KAFKA_MAX_WAIT !== undefined && { maxWaitTimeMs: env.KAFKA_MAX_WAIT }),
  };
}

/** Parses `source` with `schema`; the first problem becomes a ConfigError naming its variable. */
export function parseEnv<S extends z.ZodObject>(
  schema: S,
  source: Record<string, string | undefined>,
): z.infer<S> {
  // An empty variable means "not set", as in most shells' `VAR= cmd`.
  const cleaned = Object.fromEntries(
    Object.entries(source).filter(([, v]) => v !== undefined && v !== ''),
  );
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const variable = String(issue.path[0] ?? '(environment)');
  const given = cleaned[variable];
  const shown =
    given === undefined ? 'is not set' : `is ${JSON.stringify(redactValue(variable, given))}`;
  throw new ConfigError(variable, `${shown}: expected ${issue.message}`);
}

/**
 * What of a bad value an error may show. Secrets show nothing (a prefix of a signing secret is
 * still part of it); tokens their kind (`xoxb-`), which is what a person mixes up; anything else
 * is shown with any `user:password@` in it masked (a mistyped URL still carries its credentials).
 */
function redactValue(variable: string, value: string): string {
  // A Pact Broker token has no telling prefix: any part of it is part of the secret.
  if (/PASSWORD|SECRET|KEY$|^PACT_BROKER_TOKEN$/.test(variable)) return '…';
  if (/TOKEN/.test(variable)) return `${value.slice(0, 5)}…`;
  return value.replace(/\/\/[^/@\s]*@/g, '//…@').replace(/^([a-z+]*:?)[^/@\s]*:[^/@\s]*@/i, '$1…@');
}

/** The Slack budget's limits from `SLACK_UPDATES_PER_MINUTE` and `SLACK_POSTS_PER_SECOND`. */
export function slackLimits(
  env: Pick<BotEnv, 'SLACK_UPDATES_PER_MINUTE' | 'SLACK_POSTS_PER_SECOND'>,
): SlackLimits {
  const updates = env.SLACK_UPDATES_PER_MINUTE;
  const posts = env.SLACK_POSTS_PER_SECOND;
  return {
    // Bursts as Slack tolerates them: a fifth of a minute's updates, three seconds of posts.
    methods: { 'chat.update': { perMinute: updates, burst: Math.max(1, Math.floor(updates / 5)) } },
    channelPosts: { perSecond: posts, burst: Math.max(1, Math.floor(posts * 3)) },
  };
}
