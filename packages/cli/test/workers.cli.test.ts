import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { ReferenceClient } from '../../server/test/support/reference-client.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from '../../server/test/support/system.ts';

const BIN = path.resolve(import.meta.dirname, '../bin/nltrade.js');
const WAIT_MS = 20_000;

/** The node processes whose parent is `pid`: the workers of a primary. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces: the parent pid is the second field after ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** A GET on a connection of its own (no keep-alive pool), answering the status code. */
function freshGet(target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(target, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const kind of await dbKinds()) {
  if (kind !== 'postgres') continue;
  // Several processes share one port: connections are routed by the primary, socket.io's
  // long-polling sessions stay with the worker that holds them, events cross workers.
  describeOn(kind, 'nltrade serve --workers 2 (PostgreSQL)', () => {
    let ts: TestSystem;
    let proc: ChildProcess;
    let url = '';
    let output = '';
    const sockets: Socket[] = [];

    before(async () => {
      ts = await testSystem('postgres');
      // The server processes run on the same database and data directory as `ts`.
      proc = spawn(process.execPath, [BIN, 'serve', '--workers', '2', '--port', '0', '--data', ts.dataDir, '--demo'], {
        env: {
          ...process.env,
          DATABASE_URL: ts.databaseUrl ?? '',
          NLTRADE_MASTER_KEY: ts.system.config.masterKey ?? '',
          RSA_KEY_BITS: '2048',
          LOG_LEVEL: 'warn',
          TRUST_PROXY: '127.0.0.1/32',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      proc.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      url = await until('the banner', () =>
        output.includes('nltrade trader card') ? /running at (http:\/\/\S+)/.exec(output)?.[1] : undefined,
      );
    });
    after(async () => {
      for (const s of sockets) s.disconnect();
      if (proc.exitCode === null) {
        proc.kill('SIGKILL');
        for (const child of childrenOf(proc.pid ?? -1)) process.kill(child, 'SIGKILL');
      }
      await ts?.cleanup();
    });

    const demo = () => JSON.parse(fs.readFileSync(path.join(ts.dataDir, 'demo.json'), 'utf8')) as Record<string, string>;

    function connect(ip: string, transports: ('polling' | 'websocket')[]): Promise<Socket> {
      const s = io(url, { forceNew: true, reconnection: false, transports, extraHeaders: { 'x-forwarded-for': ip } });
      sockets.push(s);
      return new Promise((resolve, reject) => {
        s.once('connect', () => resolve(s));
        s.once('connect_error', reject);
      });
    }

    test('two workers run behind the one port', () => {
      assert.match(output, /2 workers behind one port/);
      assert.equal(childrenOf(proc.pid ?? -1).length, 2);
    });

    test('long-polling sessions work through the primary (each request reaches the worker holding it)', async () => {
      const uid = demo().invoiceUid as string;
      const bound: string[] = [];
      for (let i = 0; i < 8; i++) {
        const s = await connect(i === 0 ? '198.51.100.7' : `198.51.100.${100 + i}`, ['polling']);
        const ip = new Promise<string>((resolve) => s.once('ip:send', resolve));
        s.emit('invoice:join', uid);
        bound.push(await ip);
        // A few more polling round trips on the same session.
        const joinedAgain = new Promise<string>((resolve) => s.once('ip:send', resolve));
        s.emit('invoice:join', uid);
        await joinedAgain;
      }
      assert.deepEqual(new Set(bound), new Set(['198.51.100.7']), 'the first payer is bound, whatever worker each session is on');
    });

    test('a change handled by one worker reaches sockets held by the other', async () => {
      const d = demo();
      const refetched: Promise<void>[] = [];
      for (let i = 0; i < 4; i++) {
        // Least-connection routing spreads these over both workers.
        const s = await connect('198.51.100.7', ['websocket']);
        refetched.push(new Promise((resolve) => s.once('invoce:refetch', () => resolve())));
        const joined = new Promise((resolve) => s.once('ip:send', resolve));
        s.emit('invoice:join', d.invoiceUid);
        await joined;
      }
      const accepted = await fetch(`${url}/v1/trader/invoices/${d.invoiceId}/accept`, {
        method: 'POST',
        headers: { authorization: `Bearer ${d.traderToken}` },
      });
      assert.equal(accepted.status, 200, await accepted.clone().text());
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(refetched),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('not every socket heard the change')), WAIT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    });

    test('the legacy API (bodies, keep-alive) works through the primary', async () => {
      const client = new ReferenceClient(url, demo().accessToken as string);
      for (let i = 0; i < 6; i++) {
        const uid = await client.create(`Worker order ${i}`, '10');
        const got = await client.call({ type: 'get', uid_link: uid });
        assert.equal(got.json.response.data.invoice[0].name_ex, `Worker order ${i}`);
      }
    });

    test('a worker that dies is replaced, and the server keeps answering meanwhile', async () => {
      const [victim] = childrenOf(proc.pid ?? -1);
      assert.ok(victim);
      process.kill(victim, 'SIGKILL');
      // New connections each time: a kept-alive one belonged to the dead worker.
      for (let i = 0; i < 10; i++) assert.equal(await freshGet(`${url}/health`), 200);
      await until('a replacement worker', () => {
        const now = childrenOf(proc.pid ?? -1);
        return now.length === 2 && !now.includes(victim) ? true : undefined;
      });
    });

    test('SIGTERM stops the workers and the primary cleanly', async () => {
      const workers = childrenOf(proc.pid ?? -1);
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
      proc.kill('SIGTERM');
      assert.equal(await exited, 0);
      await until('the workers to end', () => (workers.every((pid) => !fs.existsSync(`/proc/${pid}`)) ? true : undefined));
      await assert.rejects(freshGet(`${url}/health`));
    });
  });
}
