#!/usr/bin/env node
// Fails (exit 1) when a page's JavaScript or CSS, gzipped, is over its budget.
// Each page is measured by what it can load: the files its built HTML references, then every
// chunk those import, followed through Vite's manifest (dist/.vite/manifest.json).
//   - the checkout (index.html) counts its lazy chunks too: a payer's phone may fetch them all;
//   - the console (console.html) counts its first load only: each role's screens are lazy
//     chunks that only the users of that role fetch, listed for information.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const KB = 1024;
const PAGES = [
  { html: 'index.html', label: 'checkout', followLazy: true, budget: { js: 50 * KB, css: 15 * KB } },
  { html: 'console.html', label: 'console (first load)', followLazy: false, budget: { js: 150 * KB, css: 20 * KB } },
];

const dist = path.resolve(fileURLToPath(new URL('..', import.meta.url)), 'dist');
const manifestPath = path.join(dist, '.vite', 'manifest.json');
const kb = (n) => `${(n / KB).toFixed(1)} KB`;

for (const page of PAGES) {
  if (!fs.existsSync(path.join(dist, page.html))) {
    console.error(`check-size: ${dist} has no ${page.html}; run "npm run build -w packages/web" first`);
    process.exit(1);
  }
}
if (!fs.existsSync(manifestPath)) {
  console.error('check-size: dist/.vite/manifest.json is missing (build.manifest in vite.config.ts)');
  process.exit(1);
}
/** @type {Record<string, {file: string, imports?: string[], dynamicImports?: string[], css?: string[], isEntry?: boolean}>} */
const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
const byFile = new Map(Object.entries(manifest).map(([key, chunk]) => [chunk.file, key]));

const gzCache = new Map();
function sizes(file) {
  let s = gzCache.get(file);
  if (!s) {
    const buf = fs.readFileSync(path.join(dist, file));
    s = { raw: buf.length, gz: gzipSync(buf, { level: 9 }).length };
    gzCache.set(file, s);
  }
  return s;
}

/** The files a page loads: those its HTML names, their static imports and (optionally) lazy ones. */
function filesOf(page) {
  const html = fs.readFileSync(path.join(dist, page.html), 'utf8');
  if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html)) {
    console.error(`check-size: ${page.html} has an inline <script>, which the Content-Security-Policy blocks`);
    process.exit(1);
  }
  const first = new Set();
  const lazy = new Set();
  const seen = new Set();
  const visit = (key, isLazy) => {
    const chunk = manifest[key];
    if (!chunk) return;
    const target = isLazy ? lazy : first;
    target.add(chunk.file);
    for (const css of chunk.css ?? []) target.add(css);
    if (seen.has(`${key}|${isLazy}`)) return;
    seen.add(`${key}|${isLazy}`);
    for (const imp of chunk.imports ?? []) visit(imp, isLazy);
    for (const imp of chunk.dynamicImports ?? []) visit(imp, true);
  };
  for (const m of html.matchAll(/\b(?:src|href)="\/?(assets\/[^"]+)"/g)) {
    const file = m[1];
    if (!file) continue;
    first.add(file);
    const key = byFile.get(file);
    if (key) visit(key, false);
  }
  for (const f of first) lazy.delete(f);
  return { first: [...first].sort(), lazy: [...lazy].sort() };
}

let failed = false;
for (const page of PAGES) {
  const { first, lazy } = filesOf(page);
  const counted = page.followLazy ? [...first, ...lazy] : first;
  console.log(`${page.label} (${page.html})`);
  const totals = { js: { raw: 0, gz: 0 }, css: { raw: 0, gz: 0 } };
  for (const file of [...first, ...lazy]) {
    const kind = file.endsWith('.js') ? 'js' : file.endsWith('.css') ? 'css' : null;
    if (!kind) continue;
    const s = sizes(file);
    const isCounted = counted.includes(file);
    if (isCounted) {
      totals[kind].raw += s.raw;
      totals[kind].gz += s.gz;
    }
    const note = first.includes(file) ? '' : isCounted ? ' (lazy)' : ' (lazy, not counted)';
    console.log(`  ${path.basename(file).padEnd(32)} ${kb(s.raw).padStart(9)} raw ${kb(s.gz).padStart(9)} gzip${note}`);
  }
  for (const kind of /** @type {const} */ (['js', 'css'])) {
    const { raw, gz } = totals[kind];
    const over = gz > page.budget[kind];
    failed ||= over;
    console.log(
      `  ${kind.toUpperCase().padEnd(4)} ${kb(gz)} gzip (${kb(raw)} raw), budget ${kb(page.budget[kind])}: ${over ? 'OVER BUDGET' : 'ok'}`,
    );
  }
}
process.exit(failed ? 1 : 0);
