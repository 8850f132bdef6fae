import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

// Loopback has a whole /8: a client bound to 127.0.0.2 is another address to the server.
const FLOODER = '127.0.0.2';
const NEIGHBOUR = '127.0.0.3';
const SLOW = '127.0.0.4';

/** A raw connection from `localAddress`, recording what it receives and how it ends. */
class Raw {
  readonly socket: net.Socket;
  received = '';
  error: string | undefined;
  closed = false;
  readonly ended: Promise<void>;

  constructor(url: string, localAddress: string, first?: string) {
    const { hostname, port } = new URL(url);
    this.socket = net.connect({ host: hostname, port: Number(port), localAddress });
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => {
      this.received += d;
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err.code ?? err.message;
    });
    this.ended = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
    if (first !== undefined) this.socket.write(first);
  }

  connected(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.socket.connecting) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('close', () => resolve());
    });
  }
}

/** GET on a fresh connection from `localAddress` (optionally as a forwarded client). */
function get(url: string, path: string, localAddress: string, forwardedFor?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, {
      localAddress,
      agent: false,
      headers: { connection: 'close', ...(forwardedFor && { 'x-forwarded-for': forwardedFor }) },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const settle = async (what: string, check: () => boolean, ms = 20_000): Promise<void> => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

const MAX = 20;

for (const kind of await dbKinds()) {
  describeOn(kind, `connections per client address (${kind})`, () => {
    let l: Live;
    const held: Raw[] = [];
    before(async () => {
      // Nothing trusted: the peer address is the client. Generous timeouts, so nothing here
      // is cut by time (the next suite is about that).
      l = await live(kind, undefined, {
        trustProxy: [],
        maxConnectionsPerIp: MAX,
        httpRequestTimeoutSeconds: 600,
        httpHeadersTimeoutSeconds: 600,
      });
    });
    after(async () => {
      for (const r of held) r.socket.destroy();
      await l.close();
    });

    test('one address opening MAX + 100 slow connections is refused the excess; another address is served all along', {
      timeout: 60_000,
    }, async () => {
      // Each sends half a request and then nothing, as a slow-headers attack does.
      for (let i = 0; i < MAX + 100; i++) held.push(new Raw(l.url, FLOODER, 'GET /health HTTP/1.1\r\nHost: flood\r\n'));
      await Promise.all(held.map((r) => r.connected()));
      await settle('the excess is refused', () => held.filter((r) => r.closed).length >= 100);
      for (let i = 0; i < 30; i++) assert.equal(await get(l.url, '/health', NEIGHBOUR), 200, `request ${i} of the other address`);
      const refused = held.filter((r) => r.closed);
      assert.equal(refused.length, 100, 'exactly the excess is refused');
      assert.equal(held.filter((r) => !r.closed).length, MAX, 'the first MAX are held open');
      assert.ok(
        refused.every((r) => r.received === ''),
        'a refused connection is not read or answered',
      );
      // While the flood holds its slots, the flooder's next connection is refused too.
      await assert.rejects(get(l.url, '/health', FLOODER));
    });

    test('closing connections frees their slots', { timeout: 60_000 }, async () => {
      for (const r of held) r.socket.destroy();
      let status = 0;
      for (let i = 0; status !== 200 && i < 200; i++) {
        status = await get(l.url, '/health', FLOODER).catch(() => 0);
        if (status !== 200) await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(status, 200);
    });
  });

  describeOn(kind, `slow and idle connections are cut (${kind})`, () => {
    let l: Live;
    before(async () => {
      l = await live(kind, undefined, {
        trustProxy: [],
        httpRequestTimeoutSeconds: 2,
        httpHeadersTimeoutSeconds: 2,
        httpKeepAliveTimeoutSeconds: 1,
      });
    });
    after(() => l.close());

    test('a request whose body does not arrive within HTTP_REQUEST_TIMEOUT is cut with 408', { timeout: 60_000 }, async () => {
      const uid = await l.invoice();
      const r = new Raw(
        l.url,
        SLOW,
        `POST /v1/checkout/${uid}/paid HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":`,
      );
      await r.connected();
      // Trickling keeps a connection alive only against an idle timeout, not this one.
      const trickle = setInterval(() => r.socket.write(' '), 300);
      try {
        await r.ended;
      } finally {
        clearInterval(trickle);
      }
      assert.match(r.received, /^HTTP\/1\.1 408 /);
      assert.equal((await l.ts.system.invoices.get(uid)).status, 'not approve exchange', 'the cut request did nothing');
    });

    test('headers that do not arrive within HTTP_HEADERS_TIMEOUT are cut with 408', { timeout: 60_000 }, async () => {
      const r = new Raw(l.url, SLOW, 'GET /health HTTP/1.1\r\n');
      const trickle = setInterval(() => r.socket.write('X-a: b\r\n'), 300);
      try {
        await r.ended;
      } finally {
        clearInterval(trickle);
      }
      assert.match(r.received, /^HTTP\/1\.1 408 /);
    });

    test('an idle keep-alive connection is closed after HTTP_KEEPALIVE_TIMEOUT', { timeout: 60_000 }, async () => {
      const r = new Raw(l.url, SLOW, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      await r.ended;
      assert.match(r.received, /^HTTP\/1\.1 200 /);
      assert.match(r.received, /Keep-Alive: timeout=1/i);
    });
  });

  describeOn(kind, `behind a trusted proxy (${kind})`, () => {
    let l: Live;
    const held: Raw[] = [];
    before(async () => {
      // live() trusts loopback: 127.0.0.1 is the proxy, X-Forwarded-For names the client.
      l = await live(kind, undefined, { maxConnectionsPerIp: MAX });
    });
    after(async () => {
      for (const r of held) r.socket.destroy();
      await l.close();
    });

    const slowPost = (client: string) =>
      new Raw(
        l.url,
        '127.0.0.1',
        `POST /helpers/getLatestPublicRemoteRsaKey.php HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: ${client}\r\n` +
          'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\naccess_token=',
      );

    test('the proxy itself is never refused, however many connections it holds', { timeout: 60_000 }, async () => {
      for (let i = 0; i < MAX + 30; i++) held.push(slowPost(`10.7.0.${i + 1}`));
      await Promise.all(held.map((r) => r.connected()));
      assert.equal(await get(l.url, '/health', '127.0.0.1', '10.7.1.1'), 200);
      assert.equal(held.filter((r) => r.closed).length, 0);
    });

    test('a forwarded client may have MAX requests in flight; the excess gets 429, other clients are served', {
      timeout: 60_000,
    }, async () => {
      const mine = Array.from({ length: MAX + 5 }, () => slowPost('10.9.9.9'));
      held.push(...mine);
      await settle('the excess is answered', () => mine.filter((r) => r.received !== '').length >= 5);
      const answered = mine.filter((r) => r.received !== '');
      assert.equal(answered.length, 5);
      for (const r of answered) assert.match(r.received, /^HTTP\/1\.1 429 /);
      assert.equal(await get(l.url, '/health', '127.0.0.1', '10.9.9.10'), 200, 'another client behind the proxy');
      for (const r of mine) r.socket.destroy();
      let status = 0;
      for (let i = 0; status !== 200 && i < 200; i++) {
        status = await get(l.url, '/health', '127.0.0.1', '10.9.9.9');
        if (status !== 200) await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(status, 200, 'its requests ended, the client is served again');
    });
  });
}
