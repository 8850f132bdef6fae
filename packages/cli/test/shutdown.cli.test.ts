import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { encryptRequest, ReferenceClient } from '../../server/test/support/reference-client.ts';
import { dbKinds, describeOn, PG_URL } from '../../server/test/support/system.ts';

const BIN = path.resolve(import.meta.dirname, '../bin/nltrade.js');
const run = promisify(execFile);
const WAIT_MS = 30_000;
/** Concurrent clients, each sending one request after another on a new connection. */
const STREAMS = 8;

type Outcome = { id: string; ok: true; status: number } | { id: string; ok: false; code: string };

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a connection of its own, read to its end; a failure says how it failed. */
function request(url: string, id: string, options: { method?: string; path: string; body?: string; type?: string }): Promise<Outcome> {
  return new Promise((resolve) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const req = http.request(`${url}${options.path}`, {
      method: options.method ?? 'GET',
      agent: false,
      headers: {
        'x-request-id': id,
        ...(body && { 'content-type': options.type ?? 'application/json', 'content-length': body.length }),
      },
    });
    const failed = (err: NodeJS.ErrnoException) => resolve({ id, ok: false, code: err.code ?? err.message });
    req.on('error', failed);
    req.on('response', (res) => {
      res.on('error', failed);
      res.resume();
      res.on('end', () => resolve({ id, ok: true, status: res.statusCode ?? 0 }));
    });
    req.end(body);
  });
}

/** A request whose body arrives in two parts: in flight at the server (it said `100 Continue`) until `finish`. */
function slowRequest(url: string, id: string, path: string, body: string, type: string) {
  const data = Buffer.from(body);
  const req = http.request(`${url}${path}`, {
    method: 'POST',
    agent: false,
    headers: { 'x-request-id': id, 'content-type': type, 'content-length': data.length, expect: '100-continue' },
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  answer.catch(() => {});
  const started = new Promise<void>((resolve) => req.once('continue', () => resolve()));
  req.flushHeaders();
  const half = Math.floor(data.length / 2);
  return {
    answer,
    started: started.then(() => {
      req.write(data.subarray(0, half));
    }),
    finish: () => req.end(data.subarray(half)),
  };
}

function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function until(what: string, probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const kind of await dbKinds()) {
  describeOn(kind, `nltrade serve stops gracefully on SIGTERM (${kind})`, () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-shutdown-'));
    const schema = `shut_${randomBytes(5).toString('hex')}`;
    const env: Record<string, string> = { RSA_KEY_BITS: '2048', RSA_THREADS: '1', DATA_DIR: dataDir, LOG_LEVEL: 'debug' };
    let child: ChildProcess | undefined;
    before(async () => {
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`CREATE SCHEMA ${schema}`);
        await c.end();
        const url = new URL(PG_URL);
        url.searchParams.set('options', `-c search_path=${schema}`);
        env.DATABASE_URL = url.toString();
      }
    });
    after(async () => {
      child?.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.end();
      }
    });

    test('SIGTERM during a stream of requests: every request the server took is answered, new connections are refused, exit 0', {
      timeout: 120_000,
    }, async (t) => {
      const created = await run(process.execPath, [BIN, 'admin', 'create-merchant', '--name', 'Shop', '--json'], {
        env: { ...process.env, ...env },
      });
      const { accessToken } = JSON.parse(created.stdout) as { accessToken: string };

      const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1'], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      let stdout = '';
      let stderr = '';
      proc.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      proc.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
      await until('the server to start', () => /running at http:\/\/\S+/.test(stdout) || proc.exitCode !== null);
      const url = /running at (http:\/\/\S+)/.exec(stdout)?.[1];
      assert.ok(url, `serve did not start:\n${stdout}\n${stderr}`);

      // Slow requests in flight when the signal comes: key fetches, and a legacy create that
      // needs the RSA workers and the database after shutdown has begun.
      const form = `access_token=${encodeURIComponent(accessToken)}`;
      const publicPem = await new ReferenceClient(url, accessToken).fetchPublicKey();
      const createBody = JSON.stringify({
        data: encryptRequest(publicPem, { type: 'create', title: 'During shutdown', price: '42' }),
        access_token: accessToken,
      });
      const slow = [
        slowRequest(url, 'slow-key-1', '/helpers/getLatestPublicRemoteRsaKey.php', form, 'application/x-www-form-urlencoded'),
        slowRequest(url, 'slow-key-2', '/helpers/getLatestPublicRemoteRsaKey.php', form, 'application/x-www-form-urlencoded'),
        slowRequest(url, 'slow-create', '/method/RemoteInvoiceApi', createBody, 'application/json'),
      ];
      await Promise.all(slow.map((s) => s.started));

      // The stream: each client goes on until its connection is refused.
      const outcomes: Outcome[] = [];
      const done = new Array<number>(STREAMS).fill(0);
      const streams = Array.from({ length: STREAMS }, async (_v, i) => {
        for (let n = 0; ; n++) {
          const id = `s-${i}-${n}`;
          const outcome =
            n % 2 === 0
              ? await request(url, id, { path: n % 4 === 0 ? '/healthz' : '/readyz' })
              : await request(url, id, {
                  method: 'POST',
                  path: '/helpers/getLatestPublicRemoteRsaKey.php',
                  body: form,
                  type: 'application/x-www-form-urlencoded',
                });
          outcomes.push(outcome);
          done[i] = n + 1;
          if (!outcome.ok && outcome.code === 'ECONNREFUSED') return;
          if (n > 100_000) throw new Error('the stream never ended');
        }
      });
      await until('every stream to be flowing', () => done.every((n) => n >= 3));

      proc.kill('SIGTERM');
      await Promise.all(streams);
      assert.ok(await refused(url), 'new connections are refused');

      for (const s of slow) s.finish();
      const answers = await Promise.all(slow.map((s) => s.answer));
      for (const answer of answers) {
        assert.equal(answer.status, 200, answer.body);
        assert.equal(JSON.parse(answer.body).status, true, answer.body);
        assert.equal(answer.headers.connection, 'close');
      }
      assert.match(JSON.parse(answers[2]?.body ?? '{}').response?.data?.yourLink ?? '', /^[a-z0-9]{20,}$/, 'the invoice was created');

      const code = await exited;
      assert.equal(code, 0, `exit code\n${stderr}`);

      // What the server took: every request it logged as received was answered in full.
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; reqId?: string });
      const received = new Set(lines.filter((l) => l.msg === 'request received').map((l) => l.reqId));
      for (const s of ['slow-key-1', 'slow-key-2', 'slow-create']) assert.ok(received.has(s), `${s} was in flight`);
      const cut = outcomes.filter((o) => !o.ok && received.has(o.id));
      assert.deepEqual(cut, [], 'a request the server had taken got no complete answer');
      const answered = outcomes.filter((o) => o.ok);
      assert.ok(answered.length >= STREAMS * 3);
      // The rest never reached the server: refused, or a connection it had not read a request
      // from when it stopped listening (the kernel's accept queue, or not yet parsed): nothing
      // was done for those, and a client may simply send them again.
      for (const o of outcomes) {
        if (!o.ok) assert.match(o.code, /^(ECONNREFUSED|ECONNRESET|EPIPE|socket hang up)$/, JSON.stringify(o));
      }
      const notTaken = outcomes.filter((o) => !o.ok && o.code !== 'ECONNREFUSED').length;
      t.diagnostic(`${answered.length} answered, ${received.size} taken by the server, ${notTaken} closed before the server read them`);
      assert.ok(lines.some((l) => l.msg === 'shut down'));
      assert.ok(!lines.some((l) => /cutting/.test(l.msg)), 'nothing had to be cut');
    });
  });
}
