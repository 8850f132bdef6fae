import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { dbKinds, describeOn, type TestSystem, testSystem } from '../../server/test/support/system.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const BIN = path.join(ROOT, 'packages/cli/bin/nltrade.js');
const SITE = path.join(ROOT, 'docs/deploy/nltrade.nginx.conf');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const WAIT_MS = 30_000;
/** The payer, and a second client: other loopback addresses than nginx's own 127.0.0.1. */
const PAYER = '127.0.0.2';
const OTHER = '127.0.0.3';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An HTTP request from a given local address (the client's IP as nginx sees it). */
function request(
  url: string,
  from: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function waitForOutput(proc: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${output}`)), WAIT_MS);
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = pattern.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${what} exited with ${code}:\n${output}`)));
  });
}

const missing = NGINX ? null : 'nginx is not installed (apt-get install nginx)';
if (missing && process.env.CI) throw new Error(`CI needs nginx: ${missing}`);

for (const kind of await dbKinds()) {
  if (kind !== 'postgres') continue;
  // The deployment the README documents, for real: Debian's nginx with docs/deploy's site
  // file in front of two server processes on one PostgreSQL database. The payer reaches it
  // from 127.0.0.2; nginx talks to the servers from 127.0.0.1.
  describeOn(kind, 'behind nginx: two processes, the payer bound by its own IP', () => {
    let ts: TestSystem;
    const procs: ChildProcess[] = [];
    let nginx: ChildProcess | undefined;
    let dir = '';
    let url = '';
    const sockets: Socket[] = [];

    before(async () => {
      if (missing) return;
      ts = await testSystem('postgres');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-nginx-'));
      const ports = [await freePort(), await freePort()];
      for (const port of ports) {
        const proc = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--data', ts.dataDir], {
          env: {
            ...process.env,
            DATABASE_URL: ts.databaseUrl ?? '',
            NLTRADE_MASTER_KEY: ts.system.config.masterKey ?? '',
            TRUST_PROXY: '127.0.0.1/32',
            RSA_KEY_BITS: '2048',
            LOG_LEVEL: 'warn',
            // The trader here has no deposit: this test is about the proxy, not the ledger.
            REQUIRE_TRADER_DEPOSIT: '0',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        procs.push(proc);
        await waitForOutput(proc, /running at http:\/\/\S+/, `nltrade serve on ${port}`);
      }
      const listen = await freePort();
      const site = fs
        .readFileSync(SITE, 'utf8')
        .replace('listen 80;', `listen 127.0.0.1:${listen};`)
        .replace('server 127.0.0.1:8081;', `server 127.0.0.1:${ports[0]};`)
        .replace('server 127.0.0.1:8082;', `server 127.0.0.1:${ports[1]};`);
      fs.writeFileSync(path.join(dir, 'site.conf'), site);
      const temp = (name: string) => `${name}_temp_path ${path.join(dir, name)};`;
      fs.writeFileSync(
        path.join(dir, 'nginx.conf'),
        [
          'daemon off;',
          'worker_processes 1;',
          `pid ${path.join(dir, 'nginx.pid')};`,
          `error_log ${path.join(dir, 'error.log')} warn;`,
          'events { worker_connections 1024; }',
          'http {',
          '  access_log off;',
          `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
          `  include ${path.join(dir, 'site.conf')};`,
          '}',
        ].join('\n'),
      );
      const check = spawnSync(NGINX as string, ['-t', '-p', dir, '-c', path.join(dir, 'nginx.conf')], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
      nginx = spawn(NGINX as string, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
      url = `http://127.0.0.1:${listen}`;
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        try {
          if ((await request(`${url}/health`, PAYER)).status === 200) break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    after(async () => {
      for (const s of sockets) s.disconnect();
      nginx?.kill('SIGQUIT');
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all([nginx, ...procs].map((p) => (p && p.exitCode === null ? new Promise((r) => p.once('exit', r)) : null)));
      await ts?.cleanup();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('the payer is bound by its own IP through nginx, not nginx’s; it pays; a forged X-Forwarded-For changes nothing', {
      skip: missing ?? false,
    }, async () => {
      const { merchantId } = await ts.system.merchants.create('Shop behind nginx');
      const invoice = await ts.system.invoices.create(merchantId, { title: 'Via nginx', price: '250' });
      const trader = await ts.system.accounts.create('trader', 'nginx trader');

      // The payer's page: socket.io over a WebSocket through nginx, from the payer's address.
      const socket = io(url, { forceNew: true, reconnection: false, transports: ['websocket'], localAddress: PAYER } as Parameters<
        typeof io
      >[1]);
      sockets.push(socket);
      const bound = await new Promise<string>((resolve, reject) => {
        socket.once('connect_error', reject);
        socket.once('ip:send', resolve);
        socket.on('connect', () => socket.emit('invoice:join', invoice.uid));
      });
      assert.equal(bound, PAYER);
      assert.equal((await ts.system.invoices.get(invoice.uid)).ip, PAYER);

      const auth = { authorization: `Bearer ${trader.token}`, 'content-type': 'application/json' };
      assert.equal(
        (await request(`${url}/v1/trader/invoices/${invoice.id}/accept`, OTHER, { method: 'POST', headers: auth, body: '{}' })).status,
        200,
      );
      const card = await request(`${url}/v1/trader/invoices/${invoice.id}/card`, OTHER, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ card: '4441114441114442' }),
      });
      assert.equal(card.status, 200, card.body);
      const refetched = new Promise<void>((resolve) => socket.once('invoce:refetch', () => resolve()));

      // Another client pretending to be the payer with a forged header is still itself.
      const forged = await request(`${url}/v1/checkout/${invoice.uid}/paid`, OTHER, {
        method: 'POST',
        headers: { 'x-forwarded-for': PAYER, 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(forged.status, 403, forged.body);
      assert.equal(JSON.parse(forged.body).code, 'IP_MISMATCH');
      const view = JSON.parse((await request(`${url}/v1/checkout/${invoice.uid}`, PAYER)).body) as { viewerIp: string; card: string };
      assert.equal(view.viewerIp, PAYER);
      assert.equal(view.card, '4441114441114442', 'the payer sees the whole card');

      const paid = await request(`${url}/v1/checkout/${invoice.uid}/paid`, PAYER, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(paid.status, 200, paid.body);
      assert.equal(JSON.parse(paid.body).status, 'pay');
      await refetched;
      assert.equal((await ts.system.invoices.get(invoice.uid)).status, 'pay');
    });
  });
}
