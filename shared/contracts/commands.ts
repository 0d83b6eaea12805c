import { z } from 'zod';
import { envelopeOf } from './envelope.js';
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

export const StartCommand = envelopeOf('start', StartPayload);
export const SetWeightCommand = envelopeOf('set_weight', SetWeightPayload);
export const PromoteCommand = envelopeOf('promote', PromotePayload);
export const RollbackCommand = envelopeOf('rollback', RollbackPayload);
export const PauseCommand = envelopeOf('pause', PausePayload);
export const ResumeCommand = envelopeOf('resume', ResumePayload);

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
