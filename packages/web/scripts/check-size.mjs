#!/usr/bin/env node
// Fails (exit 1) when the checkout page's JavaScript or CSS, gzipped, is over budget.
// Every file under dist/assets counts: the checkout is the only page, and counting all of
// them also catches lazily loaded chunks a reference walk from index.html could miss.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const BUDGET = { js: 50 * 1024, css: 15 * 1024 };
const dist = path.resolve(fileURLToPath(new URL('..', import.meta.url)), 'dist');
const assets = path.join(dist, 'assets');

if (!fs.existsSync(path.join(dist, 'index.html')) || !fs.existsSync(assets)) {
  console.error(`check-size: ${dist} has no build; run "npm run build -w packages/web" first`);
  process.exit(1);
}

const html = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html)) {
  console.error('check-size: index.html has an inline <script>, which the Content-Security-Policy blocks');
  process.exit(1);
}

const totals = { js: { raw: 0, gz: 0 }, css: { raw: 0, gz: 0 } };
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
for (const name of fs.readdirSync(assets).sort()) {
  const kind = name.endsWith('.js') ? 'js' : name.endsWith('.css') ? 'css' : null;
  if (!kind) continue;
  const buf = fs.readFileSync(path.join(assets, name));
  const gz = gzipSync(buf, { level: 9 }).length;
  totals[kind].raw += buf.length;
  totals[kind].gz += gz;
  console.log(`  ${name.padEnd(32)} ${kb(buf.length).padStart(9)} raw ${kb(gz).padStart(9)} gzip`);
}

let failed = false;
for (const kind of /** @type {const} */ (['js', 'css'])) {
  const { raw, gz } = totals[kind];
  const over = gz > BUDGET[kind];
  failed ||= over;
  console.log(
    `${kind.toUpperCase().padEnd(4)} ${kb(gz)} gzip (${kb(raw)} raw), budget ${kb(BUDGET[kind])}: ${over ? 'OVER BUDGET' : 'ok'}`,
  );
}
process.exit(failed ? 1 : 0);
