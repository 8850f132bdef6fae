#!/usr/bin/env node
// Writes docs/openapi.json, the OpenAPI 3.1 document of the public v1 API, from the route
// schemas themselves (packages/server/src/http/openapi.ts).
//   npm run openapi              regenerate docs/openapi.json (commit the result)
//   npm run openapi -- --check   exit 1 when the committed file differs from what the code makes
// Runs on the TypeScript sources: node --conditions=source --import tsx scripts/openapi.mjs
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { generateOpenApiDocument } from '../packages/server/src/http/openapi.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(root, 'docs', 'openapi.json');
const check = process.argv.includes('--check');

const document = await generateOpenApiDocument();
if (check) {
  let committed;
  try {
    committed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    console.error(`openapi: cannot read ${path.relative(root, file)}: ${err.message}`);
    process.exit(1);
  }
  if (!isDeepStrictEqual(committed, document)) {
    console.error('openapi: docs/openapi.json is out of date; run `npm run openapi` and commit it');
    process.exit(1);
  }
  console.log('openapi: docs/openapi.json is up to date');
} else {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  // Formatted as the linter wants it, so `npm run lint` stays clean; the check compares parsed JSON.
  const biome = path.join(root, 'node_modules', '.bin', 'biome');
  if (fs.existsSync(biome)) spawnSync(biome, ['format', '--write', file], { cwd: root, stdio: 'ignore' });
  console.log(`openapi: wrote ${path.relative(root, file)} (${Object.keys(document.paths ?? {}).length} paths)`);
}
