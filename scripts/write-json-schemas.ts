import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSchemas, SCHEMA_DIR } from './json-schemas.js';

mkdirSync(SCHEMA_DIR, { recursive: true });
for (const [file, text] of Object.entries(renderSchemas())) {
  writeFileSync(join(SCHEMA_DIR, file), text);
  console.log(`wrote ${join(SCHEMA_DIR, file)}`);
}
