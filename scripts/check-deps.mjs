#!/usr/bin/env node
// Every workspace declares what it imports, and imports what it declares. Exits 1 with a
// list of mismatches. Looks at static and dynamic imports of bare specifiers in src/ (runtime:
// dependencies) and in test/, scripts/ and config files (dependencies or devDependencies).
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILTIN = new Set(builtinModules);
const IMPORT_RE =
  /(?:^|[^\w.])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import(?:\.meta\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;
// Used without an import: types packages, tools run by scripts, peer runtimes.
const IMPLICIT = new Set(['@types/better-sqlite3', '@types/pg', 'typescript', 'vite', 'esbuild']);

function* files(dir) {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(p);
    else if (/\.(ts|tsx|mjs|js)$/.test(entry.name)) yield p;
  }
}

function packageOf(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
  return BUILTIN.has(name) ? null : name;
}

function importsIn(paths) {
  const found = new Set();
  for (const file of paths) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) {
      const name = packageOf(m[1] ?? m[2] ?? m[3] ?? '');
      if (name) found.add(name);
    }
  }
  return found;
}

const problems = [];
for (const dirName of fs.readdirSync(path.join(root, 'packages'))) {
  const dir = path.join(root, 'packages', dirName);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const runtime = new Set(Object.keys(pkg.dependencies ?? {}));
  const dev = new Set(Object.keys(pkg.devDependencies ?? {}));
  // The page is bundled: what it imports is needed at build time only, declared either way.
  const bundled = dirName === 'web';
  // `*-boot.mjs` files load TypeScript sources under tsx: they exist for development only.
  const srcFiles = [...files(path.join(dir, 'src'))];
  const srcImports = importsIn(srcFiles.filter((f) => !f.endsWith('-boot.mjs')));
  const otherImports = importsIn([
    ...files(path.join(dir, 'test')),
    ...files(path.join(dir, 'scripts')),
    ...files(path.join(dir, 'bin')),
    ...srcFiles.filter((f) => f.endsWith('-boot.mjs')),
    ...fs
      .readdirSync(dir)
      .filter((f) => /\.config\.(ts|js|mjs)$/.test(f))
      .map((f) => path.join(dir, f)),
  ]);
  for (const name of srcImports) {
    if (name === pkg.name) continue;
    if (!runtime.has(name) && !(bundled && dev.has(name)))
      problems.push(`${pkg.name}: src imports ${name} without declaring it in dependencies`);
  }
  for (const name of otherImports) {
    if (name === pkg.name || srcImports.has(name)) continue;
    if (!runtime.has(name) && !dev.has(name) && !rootDev(name))
      problems.push(`${pkg.name}: imports ${name} (tests/scripts) without declaring it`);
  }
  for (const name of [...runtime, ...dev]) {
    if (IMPLICIT.has(name)) continue;
    if (!srcImports.has(name) && !otherImports.has(name)) problems.push(`${pkg.name}: declares ${name} but never imports it`);
  }
}

/** Tools every workspace's tests use, declared once at the root. */
function rootDev(name) {
  const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  return Object.hasOwn(rootPkg.devDependencies ?? {}, name);
}

if (problems.length > 0) {
  for (const p of problems) console.error(`check-deps: ${p}`);
  process.exit(1);
}
console.log('check-deps: every workspace declares what it imports and imports what it declares');
