import { z } from 'zod';
import { envelopeFields } from './envelope.js';
import { Stage, Strategy } from '../rollout/plan.js';

/** Commands flow bot → agent on `rollout.commands.<cluster>`; names are imperative. */

export const StartPayload = z.object({
  service: z.string().min(1),
  version: z.string().min(1),
  stableVersion: z.string().min(1),
  strategy: Strategy,
  stages: z.array(Stage).min(1),
  /** Blue-green: mirror this percentage of live requests to the preview while at weight 0. */
  mirrorPercent: z.number().int().min(1).max(100).optional(),
  /**
   * Consumers of the service in this cluster whose stable traffic the agent measures with every
   * health sample (`HealthSamplePayload.dependents`), so the gate can see a provider break them.
   */
  dependents: z.array(z.string().min(1)).max(100).optional(),
});
export type StartPayload = z.infer<typeof StartPayload>;

export const SetWeightPayload = z.object({
  service: z.string().min(1),
  stageIndex: z.number().int().nonnegative(),
  weight: z.number().int().min(0).max(100),
});
export type SetWeightPayload = z.infer<typeof SetWeightPayload>;

export const PromotePayload = z.object({ service: z.string().min(1) });
export type PromotePayload = z.infer<typeof PromotePayload>;

export const RollbackPayload = z.object({ service: z.string().min(1), reason: z.string().min(1) });
export type RollbackPayload = z.infer<typeof RollbackPayload>;

export const PausePayload = z.object({ service: z.string().min(1) });
export type PausePayload = z.infer<typeof PausePayload>;

export const ResumePayload = z.object({ service: z.string().min(1) });
export type ResumePayload = z.infer<typeof ResumePayload>;

/**
 * Fields only commands carry, beside the envelope's.
 * - `fence`: the service's fencing number, assigned by the bot when the rollout started and
 *   greater than every earlier rollout's of that service. The agent stores it on the route with
 *   each write and refuses any command whose fence is below the route's, so a command of an older
 *   rollout (replayed from offset 0, a renamed group, an expired offset) never touches the route
 *   of a newer one, whatever the consumer group's offsets.
 * - `sig`: the bot's Ed25519 signature over the command without `sig` (see
 *   `shared/messaging/command-signing.ts`), base64. Agents that have the bot's public key refuse a
 *   command whose signature is missing or does not verify.
 */
export const commandFields = {
  fence: z.number().int().nonnegative(),
  sig: z.string().min(1).max(200).optional(),
};

function commandOf<T extends string, P extends z.ZodType>(type: T, payload: P) {
  return z.object({ ...envelopeFields, ...commandFields, type: z.literal(type), payload });
}

export const StartCommand = commandOf('start', StartPayload);
export const SetWeightCommand = commandOf('set_weight', SetWeightPayload);
export const PromoteCommand = commandOf('promote', PromotePayload);
export const RollbackCommand = commandOf('rollback', RollbackPayload);
export const PauseCommand = commandOf('pause', PausePayload);
export const ResumeCommand = commandOf('resume', ResumePayload);

export const Command = z.discriminatedUnion('type', [
  StartCommand,
  SetWeightCommand,
  PromoteCommand,
  RollbackCommand,
  PauseCommand,
  ResumeCommand,
]);
export type Command = z.infer<typeof Command>;
export type CommandType = Command['type'];
export const COMMAND_TYPES = Command.options.map((o) => o.shape.type.value) as CommandType[];

/** A command as the state machine emits it: what to say, before the envelope is filled in. */
export type CommandBody = {
  [C in Command as C['type']]: { type: C['type']; payload: C['payload'] };
}[CommandType];
