#!/usr/bin/env node
// Builds what the system runs from:
//   node scripts/build.mjs              core, sdk, server and cli to dist/ (tsc -b), then the
//                                       checkout page (vite build + precompressed copies)
//   node scripts/build.mjs --if-stale   the same, skipping each part that is up to date
//                                       (what `npm start` and `npm test` run first)
// tsc -b is incremental by itself; the page is rebuilt when any of its sources (or core's)
// is newer than its dist/index.html.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ifStale = process.argv.includes('--if-stale');
const require = createRequire(path.join(root, 'package.json'));

function run(label, args, cwd = root) {
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build: ${label} failed`);
    process.exit(r.status ?? 1);
  }
  if (!ifStale) console.log(`build: ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

function resolveBin(pkg, bin) {
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), bin);
  } catch {
    return null;
  }
}

function newest(target) {
  let stat;
  try {
    stat = fs.statSync(target);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = 0;
  for (const entry of fs.readdirSync(target, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    max = Math.max(max, newest(path.join(target, entry.name)));
  }
  return max;
}

const packagesBuilt = ['core', 'sdk', 'server', 'cli'].every(
  (p) =>
    fs.existsSync(path.join(root, 'packages', p, 'dist', 'index.js')) || fs.existsSync(path.join(root, 'packages', p, 'dist', 'main.js')),
);
const tsc = resolveBin('typescript', 'bin/tsc');
if (tsc) run('packages (tsc -b)', [tsc, '-b', 'tsconfig.build.json']);
else if (!packagesBuilt) {
  console.error('build: TypeScript is not installed (npm ci installs it) and the packages are not built');
  process.exit(1);
}

const web = path.join(root, 'packages', 'web');
const index = path.join(web, 'dist', 'index.html');
const built = fs.existsSync(index) ? fs.statSync(index).mtimeMs : 0;
const sources = ['index.html', 'console.html', 'vite.config.ts', 'package.json', 'src', 'scripts'].map((p) => path.join(web, p));
const stale = !built || Math.max(...sources.map(newest), newest(path.join(root, 'packages', 'core', 'src'))) > built;
if (!ifStale || stale) {
  const vite = resolveBin('vite', 'bin/vite.js');
  if (vite) {
    run('checkout page (vite build)', [vite, 'build', '--logLevel', 'warn'], web);
    run('checkout page (precompress)', [path.join(web, 'scripts', 'compress.mjs')], web);
  } else if (!built) {
    console.error('build: vite is not installed (npm ci installs it) and the checkout page is not built');
    process.exit(1);
  }
}
