/**
 * Loaded into the bot process before `bot/main.ts` (`spawnEntry`'s `preload`) by the scale bench:
 * times each `set_weight` from the bot's publish to the bot's events consumer handing over that
 * cluster's `stage_applied` (the same pair the sequential bench times with its `CommandTimer`),
 * inside the bot, so the figure includes the bot's own queues under load. Each latency in ms is
 * appended to `SCALE_PROBE_FILE` as it is measured, one number a line: a few microseconds per
 * stage change, and the bench reads every one as soon as the rollouts ended (a batched write on a
 * timer could still be waiting on a loaded machine). Without the variable it does nothing.
 *
 * It also splits each one into legs, appended to `<SCALE_PROBE_FILE>.legs` as
 * `outbox produce agent events handle` (ms, one line per `stage_applied`), to show where the time
 * goes: `outbox` from the commit that stored the effect to its publish starting; `produce` the
 * publish itself (the Kafka send); `agent` from the publish resolving to the agent's `at` on its
 * `stage_applied` (Kafka delivery, the agent's queue, the apply); `events` from that `at` to the
 * bot's consumer handing the event over (the event's send and the bot's events backlog);
 * `handle` the bot's handler (the transition and its commit). Agents and bot share the machine's
 * wall clock, so `Date.now()` here and the agent's `at` compare.
 */
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { RedisRolloutStore } from '../../bot/adapters/redis-rollout-store.js';
import { TopicCommandBus } from '../../shared/messaging/topic-command-bus.js';
import { TopicEventBus } from '../../shared/messaging/topic-event-bus.js';
import type { Commit } from '../../shared/ports/rollout-store.js';

const file = process.env.SCALE_PROBE_FILE;
if (file) {
  // What the bot's memory is made of, every 5 s (`<file>.mem`: rss heapTotal heapUsed external
  // arrayBuffers, bytes), so the bench can say which part peaks.
  setInterval(() => {
    const m = process.memoryUsage();
    appendFileSync(
      `${file}.mem`,
      `${[m.rss, m.heapTotal, m.heapUsed, m.external, m.arrayBuffers].join(' ')}\n`,
    );
  }, 5_000).unref();

  const published = new Map<string, number>();
  /** Wall-clock times of each `set_weight` leg by `rolloutId/cluster/seq`. */
  const legs = new Map<string, { stored?: number; start?: number; sent?: number }>();
  const legOf = (key: string) => {
    let leg = legs.get(key);
    if (!leg) legs.set(key, (leg = {}));
    return leg;
  };

  const stored = (commit: Commit) => {
    const now = Date.now();
    for (const { effect } of commit.effects) {
      if (effect.type !== 'publish_command' || effect.command.type !== 'set_weight') continue;
      const leg = legOf(`${commit.state.id}/${effect.cluster}/${effect.seq}`);
      leg.stored ??= now;
    }
  };
  for (const method of ['create', 'commit'] as const) {
    const original = RedisRolloutStore.prototype[method];
    RedisRolloutStore.prototype[method] = async function (this: RedisRolloutStore, commit) {
      await original.call(this, commit);
      stored(commit);
    };
  }

  const publish = TopicCommandBus.prototype.publish;
  TopicCommandBus.prototype.publish = async function (this: TopicCommandBus, command) {
    if (command.type !== 'set_weight') return publish.call(this, command);
    const key = `${command.rolloutId}/${command.cluster}/${command.seq}`;
    // A republished command (outbox replay) keeps its first time.
    if (!published.has(key)) published.set(key, performance.now());
    const leg = legOf(key);
    leg.start ??= Date.now();
    await publish.call(this, command);
    leg.sent ??= Date.now();
  };

  const subscribe = TopicEventBus.prototype.subscribe;
  TopicEventBus.prototype.subscribe = function (this: TopicEventBus, handler, group) {
    return subscribe.call(
      this,
      async (event) => {
        if (event.type !== 'stage_applied') return handler(event);
        const key = `${event.rolloutId}/${event.cluster}/${event.seq}`;
        const at = published.get(key);
        const arrived = Date.now();
        // The first sighting counts; a redelivery does not.
        published.delete(key);
        if (at !== undefined) appendFileSync(file, `${(performance.now() - at).toFixed(1)}\n`);
        await handler(event);
        const leg = legs.get(key);
        legs.delete(key);
        if (leg?.stored !== undefined && leg.start !== undefined && leg.sent !== undefined) {
          const agentAt = Date.parse(event.at);
          const line = [
            leg.start - leg.stored,
            leg.sent - leg.start,
            agentAt - leg.sent,
            arrived - agentAt,
            Date.now() - arrived,
          ].join(' ');
          appendFileSync(`${file}.legs`, `${line}\n`);
        }
      },
      group,
    );
  };
}

export const SCALE_BOT_PROBE = new URL('./bot-probe.ts', import.meta.url).pathname;
