import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/http/app.ts';
import { defaultWebDistDir } from '../src/http/routes/web.ts';
import { type TestSystem, testSystem } from './support/system.ts';

// The built checkout page (`npm run build`; the test runner builds it when stale) served as
// files: index.html for /pay/<uid>, hashed assets, each with its precompressed siblings.
describe('the checkout page is served from its build, precompressed', () => {
  let t: TestSystem;
  let app: FastifyInstance;
  const dist = defaultWebDistDir();
  const uidPath = `/pay/${'k'.repeat(30)}`;
  before(async () => {
    t = await testSystem('sqlite');
    app = await buildApp(t.system);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('the build has .br and .gz beside every script, style and page', () => {
    const index = path.join(dist, 'index.html');
    assert.ok(fs.existsSync(index), `${dist} is built`);
    const assets = fs.readdirSync(path.join(dist, 'assets')).filter((f) => /\.(js|css)$/.test(f));
    assert.ok(assets.length >= 2);
    for (const f of [index, ...assets.map((a) => path.join(dist, 'assets', a))]) {
      assert.ok(fs.existsSync(`${f}.br`) && fs.existsSync(`${f}.gz`), f);
    }
  });

  test('/pay/<uid>: the page with its security headers, brotli or gzip as asked, revalidated by ETag', async () => {
    const raw = fs.readFileSync(path.join(dist, 'index.html'));
    const br = await app.inject({ method: 'GET', url: uidPath, headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(br.statusCode, 200);
    assert.equal(br.headers['content-encoding'], 'br');
    assert.match(String(br.headers['content-type']), /^text\/html/);
    assert.deepEqual(brotliDecompressSync(br.rawPayload), raw);
    assert.match(String(br.headers['content-security-policy']), /script-src 'self'/);
    assert.equal(br.headers['x-frame-options'], 'DENY');
    assert.equal(br.headers['cache-control'], 'no-cache');
    const gz = await app.inject({ method: 'GET', url: uidPath, headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(gunzipSync(gz.rawPayload), raw);
    const plain = await app.inject({ method: 'GET', url: uidPath });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.deepEqual(plain.rawPayload, raw);
    const etag = plain.headers.etag;
    assert.ok(etag);
    const again = await app.inject({ method: 'GET', url: uidPath, headers: { 'if-none-match': String(etag) } });
    assert.equal(again.statusCode, 304);
  });

  test('hashed assets: immutable, precompressed, nosniff; unknown or escaping paths are 404', async () => {
    const html = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script);
    const res = await app.inject({ method: 'GET', url: script, headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-encoding'], 'br');
    assert.match(String(res.headers['content-type']), /javascript/);
    assert.match(String(res.headers['cache-control']), /immutable/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(brotliDecompressSync(res.rawPayload), fs.readFileSync(path.join(dist, script)));
    for (const url of [
      '/assets/nope.js',
      '/assets/..%2f..%2fpackage.json',
      '/assets/../index.html',
      '/assets/%2e%2e/%2e%2e/package.json',
    ]) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 404, url);
      assert.equal(r.json().code, 'NOT_FOUND', url);
    }
  });

  test('/console and every path under it: the console page with the same security headers, precompressed', async () => {
    const raw = fs.readFileSync(path.join(dist, 'console.html'));
    for (const url of ['/console', '/console/', '/console/trader/queue']) {
      const r = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'br' } });
      assert.equal(r.statusCode, 200, url);
      assert.equal(r.headers['content-encoding'], 'br');
      assert.deepEqual(brotliDecompressSync(r.rawPayload), raw);
      assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
      assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
      assert.equal(r.headers['x-frame-options'], 'DENY');
      assert.equal(r.headers['cache-control'], 'no-cache');
    }
    // The console page loads its own entry, built and hashed.
    assert.match(raw.toString('utf8'), /<script type="module"[^>]*src="\/assets\/console-[\w-]+\.js"/);
  });

  test('without a build /pay answers 503 and says how to build; the server never builds it', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-nodist-'));
    const bare = await buildApp(t.system, { webDistDir: empty });
    try {
      const r = await bare.inject({ method: 'GET', url: uidPath });
      assert.equal(r.statusCode, 503);
      assert.match(r.json().message, /npm run build/);
      const c = await bare.inject({ method: 'GET', url: '/console' });
      assert.equal(c.statusCode, 503);
      assert.match(c.json().message, /npm run build/);
      assert.deepEqual(fs.readdirSync(empty), [], 'nothing was built into it');
      // Built later (as by `npm run build` while the server runs): served without a restart.
      fs.copyFileSync(path.join(dist, 'index.html'), path.join(empty, 'index.html'));
      assert.equal((await bare.inject({ method: 'GET', url: uidPath })).statusCode, 200);
    } finally {
      await bare.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
