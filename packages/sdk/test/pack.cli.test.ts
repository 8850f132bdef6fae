import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { type Live, live } from '../../server/test/support/live.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// What a merchant gets: the packed SDK (and the core it depends on, as it would come from the
// registry) installed into an empty folder outside the monorepo, imported from plain Node ESM
// and run against a live server; and its browser entry bundled for a browser.
describe('@nltrade/sdk packed, installed elsewhere, used from plain Node and bundled for browsers', () => {
  let l: Live;
  let dir: string;
  before(async () => {
    l = await live('sqlite');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-sdk-install-'));
    const packed = await run(NPM, ['pack', '-w', 'packages/core', '-w', 'packages/sdk', '--pack-destination', dir, '--json'], {
      cwd: ROOT,
      timeout: 120_000,
    });
    const tarballs = (JSON.parse(packed.stdout) as { filename: string }[]).map((p) => path.join(dir, p.filename));
    assert.equal(tarballs.length, 2);
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'merchant-app', private: true, type: 'module' }));
    await run(NPM, ['install', '--no-audit', '--no-fund', '--no-package-lock', ...tarballs], { cwd: dir, timeout: 240_000 });
  });
  after(async () => {
    await l?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the tarballs hold built JavaScript and declarations, not TypeScript sources', () => {
    const sdk = path.join(dir, 'node_modules', '@nltrade', 'sdk');
    assert.ok(fs.existsSync(path.join(sdk, 'dist', 'index.js')));
    assert.ok(fs.existsSync(path.join(sdk, 'dist', 'index.d.ts')));
    assert.ok(!fs.existsSync(path.join(sdk, 'src')));
    assert.ok(fs.existsSync(path.join(dir, 'node_modules', '@nltrade', 'core', 'dist', 'index.js')));
    assert.ok(fs.existsSync(path.join(dir, 'node_modules', 'socket.io-client')), 'its dependency came from the registry');
  });

  test('plain Node ESM: the legacy client, the v1 client and the watcher against a live server', async () => {
    const trader = await l.account('trader', 'packed trader');
    fs.writeFileSync(
      path.join(dir, 'merchant.mjs'),
      `import { NlTradeClient, NlTradeError, RemoteInvoiceClient, watchInvoice } from '@nltrade/sdk';
const { BASE, TOKEN, TRADER } = process.env;
const api = new RemoteInvoiceClient({ baseUrl: BASE, accessToken: TOKEN });
const uid = await api.create('Packed order', '123.45');
const statuses = [];
let watching;
const first = new Promise((resolve) => { watching = resolve; });
const watch = watchInvoice(BASE, uid, { token: TOKEN }, { onUpdate: (v) => { statuses.push(v.status); watching(); } });
await first;
const trader = new NlTradeClient({ baseUrl: BASE, token: TRADER });
const { invoices } = await trader.traderInvoices({ status: 'not approve exchange' });
const open = invoices.find((i) => i.title === 'Packed order');
await trader.accept(open.id);
let refused = null;
try { await trader.accept(open.id); } catch (e) { refused = e instanceof NlTradeError ? e.code : String(e); }
for (let i = 0; i < 200 && !statuses.includes('wait card'); i++) await new Promise((r) => setTimeout(r, 25));
watch.close();
const record = await api.get(uid);
console.log(JSON.stringify({ uid, status: record.status, sendValue: record.send_value, statuses, refused }));
`,
    );
    const out = await run(process.execPath, ['merchant.mjs'], {
      cwd: dir,
      env: { ...process.env, BASE: l.url, TOKEN: l.merchantToken, TRADER: trader.token, NODE_OPTIONS: '' },
      timeout: 60_000,
    });
    const result = JSON.parse(out.stdout) as { uid: string; status: string; sendValue: string; statuses: string[]; refused: string };
    assert.match(result.uid, /^[a-z0-9]{30}$/);
    assert.equal(result.status, 'wait card');
    assert.equal(result.sendValue, '123.45');
    assert.deepEqual(result.statuses, ['not approve exchange', 'wait card']);
    assert.equal(result.refused, 'ALREADY_YOURS');
  });

  test('the browser entry bundles for browsers, with no Node built-ins', async () => {
    fs.writeFileSync(
      path.join(dir, 'page.js'),
      `import { NlTradeClient, watchInvoice } from '@nltrade/sdk/browser';
export const client = new NlTradeClient({ baseUrl: location.origin });
export const watch = (uid, token) => watchInvoice(location.origin, uid, { token }, {});
`,
    );
    const result = await build({
      absWorkingDir: dir,
      entryPoints: ['page.js'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    assert.deepEqual(result.errors, []);
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.some((i) => i.includes('@nltrade/sdk/dist/')));
    assert.ok(!inputs.some((i) => i.startsWith('node:')));
    const code = result.outputFiles[0]?.text ?? '';
    assert.doesNotMatch(code, /from\s*["']node:|require\(["']node:/);
    assert.ok(code.length < 200_000, `bundle of ${code.length} bytes`);
  });
});
