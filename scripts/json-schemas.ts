import { z } from 'zod';
import { Command } from '../shared/contracts/commands.js';
import { RolloutEvent } from '../shared/contracts/events.js';
import { DeadLetter } from '../shared/contracts/decode.js';

export const SCHEMA_DIR = 'shared/contracts/schemas';

/** JSON Schema for consumers written in other languages, one file per topic's message. */
export function renderSchemas(): Record<string, string> {
  const schemas = {
    'command.schema.json': Command,
    'event.schema.json': RolloutEvent,
    'dead-letter.schema.json': DeadLetter,
  };
  return Object.fromEntries(
    Object.entries(schemas).map(([file, schema]) => [
      file,
      JSON.stringify(z.toJSONSchema(schema, { io: 'input' }), null, 2) + '\n',
    ]),
  );
}
