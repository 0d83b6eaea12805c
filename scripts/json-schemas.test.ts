import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSchemas, SCHEMA_DIR } from './json-schemas.js';

describe('exported JSON Schemas', () => {
  it.each(Object.entries(renderSchemas()))(
    '%s matches the zod contracts (run `npm run schemas` if not)',
    (file, text) => {
      expect(readFileSync(join(SCHEMA_DIR, file), 'utf8')).toBe(text);
    },
  );

  it('describe every command type, so a consumer in another language can dispatch on `type`', () => {
    const schema = JSON.parse(renderSchemas()['command.schema.json']!) as {
      oneOf?: unknown[];
      anyOf?: unknown[];
    };
    const variants = schema.oneOf ?? schema.anyOf ?? [];
    const types = variants.map(
      (v) => (v as { properties: { type: { const: string } } }).properties.type.const,
    );
    expect(types.sort()).toEqual(['pause', 'promote', 'resume', 'rollback', 'set_weight', 'start']);
  });
});
