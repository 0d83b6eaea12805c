import { createInterface } from 'node:readline';
import { isRolloutError } from '../shared/errors.js';
import type { RolloutState } from '../shared/rollout/state.js';
import type { RolloutService, UserAction } from './rollout-service.js';

/**
 * A stopgap for trying local mode before the Slack and console surfaces exist: one command per
 * line on stdin, answered on stdout. Not a product surface; it goes when those arrive.
 */
export const LOCAL_CONSOLE_HELP = `Try it: type a command and press Enter (the rollout's progress is logged as it happens).
  start <service> <version>            e.g. start checkout 2.5.0
  approve|pause|resume|abort <id>      add "as <user id>" to act as someone else (four-eyes), e.g. approve checkout-1a2b3c as U0LEAD1
  status [<id> | <service>]            one rollout; list: every active one`;

const LOCAL_USER = 'U0LOCAL';

export function startLocalConsole(
  service: RolloutService,
  input: NodeJS.ReadableStream,
  write: (text: string) => void,
): { close(): void } {
  const lines = createInterface({ input, terminal: false });
  // One line at a time, so answers come in the order the commands were typed.
  let previous = Promise.resolve();
  lines.on('line', (line) => {
    previous = previous.then(() =>
      runLine(service, line).then(write, (err: unknown) =>
        write(isRolloutError(err) ? `refused: ${err.message}` : `failed: ${String(err)}`),
      ),
    );
  });
  return { close: () => lines.close() };
}

async function runLine(service: RolloutService, line: string): Promise<string> {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const asIndex = words.indexOf('as');
  const user = asIndex >= 0 ? (words[asIndex + 1] ?? LOCAL_USER) : LOCAL_USER;
  const [verb, first, second] = asIndex >= 0 ? words.slice(0, asIndex) : words;
  switch (verb) {
    case undefined:
      return '';
    case 'start': {
      if (!first || !second) return 'usage: start <service> <version>';
      const state = await service.start({ service: first, version: second, startedBy: user });
      return `started ${state.id}: ${describe(state)}`;
    }
    case 'approve':
    case 'pause':
    case 'resume':
    case 'abort': {
      if (!first) return `usage: ${verb} <rollout id>`;
      const action: UserAction =
        verb === 'abort' ? { type: 'abort', reason: 'aborted from the console' } : { type: verb };
      return describe(await service.act(first, action, { id: `user:${user}` }));
    }
    case 'status': {
      const state = first ? await service.status(first) : undefined;
      if (first) return state ? describe(state) : `no rollout or service called ${first}`;
      return listing(await service.list());
    }
    case 'list':
      return listing(await service.list());
    default:
      return LOCAL_CONSOLE_HELP;
  }
}

function listing(states: RolloutState[]): string {
  return states.length === 0 ? 'no active rollouts' : states.map(describe).join('\n');
}

function describe(state: RolloutState): string {
  const clusters = Object.entries(state.clusters)
    .map(([name, c]) => `${name} ${c.weight}%`)
    .join(', ');
  return (
    `${state.id} ${state.plan.service} ${state.plan.version}: ${state.status.replace('_', ' ')}, ` +
    `stage ${state.stageIndex + 1}/${state.plan.stages.length} (${clusters})`
  );
}
