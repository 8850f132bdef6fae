#!/usr/bin/env node
// Writes a .br and a .gz beside every compressible file of the build, so the server sends
// them as they are (@fastify/static's preCompressed) instead of compressing per request.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync, constants as zlib } from 'node:zlib';

const dist = path.resolve(fileURLToPath(new URL('..', import.meta.url)), 'dist');
const COMPRESSIBLE = /\.(?:html|js|css|svg|json|txt)$/;

function* files(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(p);
    else if (COMPRESSIBLE.test(entry.name)) yield p;
  }
}

let count = 0;
for (const file of files(dist)) {
  const raw = fs.readFileSync(file);
  fs.writeFileSync(
    `${file}.br`,
    brotliCompressSync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length } }),
  );
  fs.writeFileSync(`${file}.gz`, gzipSync(raw, { level: 9 }));
  count++;
}
console.log(`compressed ${count} files in ${path.relative(process.cwd(), dist) || dist} (.br and .gz beside each)`);
