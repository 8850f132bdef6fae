#!/usr/bin/env node
// Runs the test tiers with node's test runner. Tests run the TypeScript sources through tsx
// (the "source" export condition resolves each workspace package to its src/); what runs a
// built program (the CLI's bin, the checkout page) is built first when stale.
//   node scripts/test.mjs                 all tiers
//   node scripts/test.mjs --tier unit     one tier: unit | storage | http | cli | realtime | e2e
//   node scripts/test.mjs path/to/x.test.ts ...
// Tiers are told apart by file name (*.unit.test.ts, *.storage.test.ts, …; a file without a
// tier is unit). The storage, HTTP, CLI and realtime tiers run against SQLite and PostgreSQL.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
let tier;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--tier') tier = args[++i];
  else files.push(path.resolve(args[i]));
}

function walk(dir, out) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else if (entry.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

if (files.length === 0) {
  for (const pkg of fs.readdirSync(path.join(root, 'packages'))) walk(path.join(root, 'packages', pkg, 'test'), files);
}
const order = ['unit', 'storage', 'http', 'cli', 'realtime', 'e2e'];
const tierOf = (f) => order.find((t) => f.endsWith(`.${t}.test.ts`)) ?? 'unit';
const selected = files
  .filter((f) => !tier || tierOf(f) === tier)
  .sort((a, b) => order.indexOf(tierOf(a)) - order.indexOf(tierOf(b)) || a.localeCompare(b));
if (selected.length === 0) {
  console.error(`no test files found${tier ? ` for tier ${tier}` : ''}`);
  process.exit(1);
}
const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--if-stale'], { stdio: 'inherit', cwd: root });
if (build.status !== 0) process.exit(build.status ?? 1);
console.log(`# running ${selected.length} test files`);
// A file that never ends (a server a failed test left open) fails after this instead of
// holding CI until its own limit; the longest file takes a few minutes.
const FILE_TIMEOUT_MS = 15 * 60 * 1000;
const result = spawnSync(
  process.execPath,
  ['--conditions=source', '--import', 'tsx', '--test', '--test-reporter=spec', `--test-timeout=${FILE_TIMEOUT_MS}`, ...selected],
  {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, NODE_ENV: 'test' },
  },
);
process.exit(result.status ?? 1);
