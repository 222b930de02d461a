/** Writes schema/inspectd.schema.json from schema.ts: `node dist/src/config/write-schema.js [OUT]`. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { editorSchema } from './schema.js';

export function editorSchemaText(): string {
  return JSON.stringify(editorSchema(), null, 2) + '\n';
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../schema/inspectd.schema.json');
  writeFileSync(out, editorSchemaText());
  process.stdout.write(`wrote ${out}\n`);
}
