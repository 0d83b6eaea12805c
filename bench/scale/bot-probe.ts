/**
 * Loaded into the bot process before `bot/main.ts` (`spawnEntry`'s `preload`) by the scale bench:
 * times each `set_weight` from the bot's publish to the bot's events consumer handing over that
 * cluster's `stage_applied` (the same pair the sequential bench times with its `CommandTimer`),
 * inside the bot, so the figure includes the bot's own queues under load. Each latency in ms is
 * appended to `SCALE_PROBE_FILE` as it is measured, one number a line: a few microseconds per
 * stage change, and the bench reads every one as soon as the rollouts ended (a batched write on a
 * timer could still be waiting on a loaded machine). Without the variable it does nothing.
 */
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { TopicCommandBus } from '../../shared/messaging/topic-command-bus.js';
import { TopicEventBus } from '../../shared/messaging/topic-event-bus.js';

const file = process.env.SCALE_PROBE_FILE;
if (file) {
  const published = new Map<string, number>();

  const publish = TopicCommandBus.prototype.publish;
  TopicCommandBus.prototype.publish = function (this: TopicCommandBus, command) {
    if (command.type === 'set_weight') {
      const key = `${command.rolloutId}/${command.cluster}/${command.seq}`;
      // A republished command (outbox replay) keeps its first time.
      if (!published.has(key)) published.set(key, performance.now());
    }
    return publish.call(this, command);
  };

  const subscribe = TopicEventBus.prototype.subscribe;
  TopicEventBus.prototype.subscribe = function (this: TopicEventBus, handler, group) {
    return subscribe.call(
      this,
      (event) => {
        if (event.type === 'stage_applied') {
          const key = `${event.rolloutId}/${event.cluster}/${event.seq}`;
          const at = published.get(key);
          // The first sighting counts; a redelivery does not.
          published.delete(key);
          if (at !== undefined) appendFileSync(file, `${(performance.now() - at).toFixed(1)}\n`);
        }
        return handler(event);
      },
      group,
    );
  };
}

export const SCALE_BOT_PROBE = new URL('./bot-probe.ts', import.meta.url).pathname;
