import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { buildApp } from '../src/http/app.ts';
import { createLogger } from '../src/log.ts';
import { attachRealtime } from '../src/realtime/server.ts';
import { drainHttp } from '../src/shutdown.ts';
import { live } from './support/live.ts';
import { dbKinds, describeOn, testSystem } from './support/system.ts';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A legacy key request whose body arrives in two parts: it is in flight at the server (which
 * said `100 Continue` to its headers) until `finish` is called.
 */
function slowKeyRequest(url: string, token: string, agent: http.Agent | false = false) {
  const body = Buffer.from(`access_token=${encodeURIComponent(token)}`);
  const half = Math.floor(body.length / 2);
  const req = http.request(`${url}/helpers/getLatestPublicRemoteRsaKey.php`, {
    method: 'POST',
    agent,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length, expect: '100-continue' },
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
  return {
    answer,
    /** Resolves once the server has the request (it answered `100 Continue`) and half its body. */
    started: started.then(() => {
      req.write(body.subarray(0, half));
    }),
    finish: () => req.end(body.subarray(half)),
  };
}

/** Whether a new TCP connection to the server's port is refused. */
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

async function until(what: string, probe: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const kind of await dbKinds()) {
  describeOn(kind, `graceful shutdown in process (${kind})`, () => {
    test('in-flight requests finish, new connections are refused, idle keep-alive connections and sockets are closed', {
      timeout: 60_000,
    }, async () => {
      const lines: string[] = [];
      const logger = createLogger({ level: 'info', destination: { write: (l) => void lines.push(l) } });
      const l = await live(kind, undefined, {}, { logger });
      try {
        const payer = await l.connect('198.51.100.9');
        const disconnected = new Promise<string>((resolve) => payer.socket.once('disconnect', (reason) => resolve(reason)));
        // An idle keep-alive connection: closed at once, not after its timeout.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const warm = await new Promise<net.Socket>((resolve, reject) => {
          const req = http.get(`${l.url}/healthz`, { agent }, (res) => {
            const socket = res.socket;
            res.resume();
            res.on('end', () => resolve(socket));
          });
          req.on('error', reject);
        });
        assert.ok(!warm.destroyed, 'kept alive');
        const idleClosed = new Promise<void>((resolve) => warm.once('close', () => resolve()));

        const slow = [slowKeyRequest(l.url, l.merchantToken), slowKeyRequest(l.url, l.merchantToken)];
        await Promise.all(slow.map((s) => s.started));

        const closing = l.server.close();
        await until('new connections to be refused', () => refused(l.url));
        assert.equal(await disconnected, 'io server disconnect', 'sockets are told to go');
        await idleClosed;

        for (const s of slow) s.finish();
        for (const s of slow) {
          const answer = await s.answer;
          assert.equal(answer.status, 200, answer.body);
          assert.equal(JSON.parse(answer.body).status, true);
          assert.equal(answer.headers.connection, 'close');
        }
        await closing;
        agent.destroy();
        assert.ok(!lines.some((line) => line.includes('cutting')), 'nothing had to be cut');
        assert.ok(lines.some((line) => line.includes('"shut down"')));
      } finally {
        await l.close();
      }
    });

    test('what is still open after SHUTDOWN_TIMEOUT is cut, and close still finishes', { timeout: 60_000 }, async () => {
      const lines: string[] = [];
      const logger = createLogger({ level: 'info', destination: { write: (l) => void lines.push(l) } });
      const l = await live(kind, undefined, { shutdownTimeoutSeconds: 1 }, { logger });
      try {
        const stuck = slowKeyRequest(l.url, l.merchantToken);
        await stuck.started;
        await l.server.close();
        await assert.rejects(
          stuck.answer,
          (err: NodeJS.ErrnoException) => ['ECONNRESET', 'EPIPE'].includes(err.code ?? '') || /hang up/.test(err.message),
        );
        assert.ok(lines.some((line) => line.includes('cutting the connections still open after SHUTDOWN_TIMEOUT')));
      } finally {
        await l.close();
      }
    });

    test('a server handed its connections (a worker of serve --workers) also closes idle ones and cuts the rest', {
      timeout: 60_000,
    }, async () => {
      const ts = await testSystem(kind);
      const lines: string[] = [];
      const log = createLogger({ level: 'info', destination: { write: (l) => void lines.push(l) } });
      const app = await buildApp(ts.system);
      const realtime = attachRealtime(ts.system, app.server);
      await app.ready();
      // The primary's part: it accepts, and hands every connection over.
      const front = net.createServer((socket) => app.server.emit('connection', socket));
      await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', () => resolve()));
      const url = `http://127.0.0.1:${(front.address() as net.AddressInfo).port}`;
      try {
        const token = (await ts.system.merchants.create('Shop')).accessToken;
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const idleSocket = await new Promise<net.Socket>((resolve, reject) => {
          const req = http.get(`${url}/healthz`, { agent }, (res) => {
            const socket = res.socket;
            res.resume();
            res.on('end', () => resolve(socket));
          });
          req.on('error', reject);
        });
        const idleClosed = new Promise<void>((resolve) => idleSocket.once('close', () => resolve()));
        const slow = slowKeyRequest(url, token);
        const stuck = slowKeyRequest(url, token);
        await Promise.all([slow.started, stuck.started]);

        front.close();
        let drainedEarly = false;
        const drained = drainHttp(app, realtime, { timeoutMs: 1500, log }).then(() => {
          drainedEarly = true;
        });
        await idleClosed;
        // Nothing waits for these connections but the drain itself: it must not end before them.
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(drainedEarly, false, 'the drain waits for the requests in flight');
        slow.finish();
        const answer = await slow.answer;
        assert.equal(answer.status, 200, answer.body);
        await drained;
        await assert.rejects(stuck.answer);
        assert.ok(lines.some((line) => line.includes('cutting the connections still open')));
        agent.destroy();
      } finally {
        front.close();
        await app.close();
        await ts.cleanup();
      }
    });
  });
}
