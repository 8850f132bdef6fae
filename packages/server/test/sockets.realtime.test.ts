import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import type { CheckoutView, WatchView } from '../src/views.ts';
import { call, type Live, live, Recorder } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const FIRST = '203.0.113.10';
const SECOND = '203.0.113.20';

for (const kind of await dbKinds()) {
  describeOn(kind, `realtime rooms and IP binding (${kind})`, () => {
    let l: Live;
    before(async () => {
      l = await live(kind, undefined, { maxSocketsPerIp: 5 });
    });
    after(() => l.close());

    test('a second IP joining sees the first IP in ip:send and is refused on pay', async () => {
      const uid = await l.invoice();
      const trader = await l.account('trader');
      const a = await l.connect(FIRST);
      a.join(uid);
      assert.deepEqual(await a.next('ip:send'), [FIRST]);

      const b = await l.connect(SECOND);
      b.join(uid);
      assert.deepEqual(await b.next('ip:send'), [FIRST], 'the page compares this with its own IP');
      const [view] = (await b.next('invoice:update')) as [CheckoutView];
      assert.equal(view.ip, null, 'the view names the bound IP only to that IP');
      assert.equal(view.boundTo, 'another');
      assert.equal(view.viewerIp, SECOND);

      await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/accept`, { token: trader.token });
      await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/card`, {
        token: trader.token,
        json: { card: '5555555555554444' },
      });
      const refused = await call(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: SECOND });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'IP_MISMATCH');
      assert.equal(typeof refused.body.message, 'string');
      assert.equal(refused.body.status, false);
      const ok = await call<CheckoutView>(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: FIRST });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.status, 'pay');
      // Both watchers are told, whoever they are.
      await a.next('invoce:refetch');
      await b.next('invoce:refetch');
    });

    test('the full card goes only to the bound IP; everyone else sees it masked', async () => {
      const uid = await l.invoice();
      const trader = await l.account('trader');
      const a = await l.connect(FIRST);
      a.join(uid);
      await a.next('ip:send');
      await a.next('invoice:update');
      const b = await l.connect(SECOND);
      b.join(uid);
      await b.next('ip:send');
      await b.next('invoice:update');
      await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/accept`, { token: trader.token });
      await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/card`, {
        token: trader.token,
        json: { card: '5555555555554444' },
      });
      const cardOf = async (r: typeof a) => {
        for (;;) {
          const [v] = (await r.next('invoice:update')) as [CheckoutView];
          if (v.status === 'send card') return v.card;
        }
      };
      assert.equal(await cardOf(a), '5555555555554444');
      assert.equal(await cardOf(b), '5555-55**-****-4444');
      const mine = await call<CheckoutView>(l.url, 'GET', `/v1/checkout/${uid}`, { ip: FIRST });
      assert.equal(mine.body.card, '5555555555554444');
      const theirs = await call<CheckoutView>(l.url, 'GET', `/v1/checkout/${uid}`, { ip: SECOND });
      assert.equal(theirs.body.card, '5555-55**-****-4444');
    });

    test('payer actions before anyone joined are refused with IP_NOT_BOUND', async () => {
      const uid = await l.invoice();
      const trader = await l.account('trader');
      await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/accept`, { token: trader.token });
      await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/card`, {
        token: trader.token,
        json: { card: '5555555555554444' },
      });
      const res = await call(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: FIRST });
      assert.equal(res.status, 409);
      assert.equal(res.body.code, 'IP_NOT_BOUND');
      const view = await call<CheckoutView>(l.url, 'GET', `/v1/checkout/${uid}`, { ip: FIRST });
      assert.equal(view.body.ip, null, 'reading does not bind');
    });

    /** A socket that authenticates as a merchant, trader or administrator, as a watcher does. */
    async function watcher(token: string, ip: string): Promise<Recorder> {
      const r = new Recorder(
        io(l.url, {
          path: '/socket.io',
          transports: ['websocket'],
          forceNew: true,
          reconnection: false,
          auth: { token },
          extraHeaders: { 'x-forwarded-for': ip },
        }),
      );
      await r.connected();
      return r;
    }

    test('a merchant watching first never binds: the payer joining afterwards is bound and sees the full card', async () => {
      const uid = await l.invoice();
      const merchant = await watcher(l.merchantToken, '192.0.2.200');
      merchant.socket.emit('invoice:watch', { uid });
      const [first] = (await merchant.next('invoice:status')) as [WatchView];
      assert.equal(first.uid, uid);
      assert.equal(first.status, 'not approve exchange');
      assert.equal(first.payerBound, false);
      assert.equal((await l.ts.system.invoices.get(uid)).ip, null);
      assert.ok(!merchant.events.some((e) => e.event === 'ip:send'));

      const payer = await l.connect(SECOND);
      payer.join(uid);
      assert.deepEqual(await payer.next('ip:send'), [SECOND], 'the payer, not the watcher, is bound');
      const trader = await l.account('trader');
      const id = await l.idOf(uid);
      await call(l.url, 'POST', `/v1/trader/invoices/${id}/accept`, { token: trader.token });
      await call(l.url, 'POST', `/v1/trader/invoices/${id}/card`, { token: trader.token, json: { card: '5555555555554444' } });
      let view: CheckoutView;
      do [view] = (await payer.next('invoice:update')) as [CheckoutView];
      while (view.status !== 'send card');
      assert.equal(view.card, '5555555555554444');
      assert.equal(view.boundTo, 'you');
      const paid = await call<CheckoutView>(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: SECOND });
      assert.equal(paid.status, 200);
      // The watcher heard every step, with refetches as legacy code expects.
      const statuses: string[] = [];
      while (!statuses.includes('pay')) statuses.push(((await merchant.next('invoice:status')) as [WatchView])[0].status);
      assert.deepEqual(statuses, ['wait card', 'send card', 'pay']);
      assert.ok(merchant.events.filter((e) => e.event === 'invoce:refetch').length >= 3);
      assert.equal(merchant.events.filter((e) => e.event === 'invoice:update').length, 0, 'watchers never get the payer view');
    });

    test('watchers: a token is needed, each sees only its own, traders by number and without the UID', async () => {
      const uid = await l.invoice();
      const id = await l.idOf(uid);
      const anonymous = await l.connect('192.0.2.201');
      anonymous.socket.emit('invoice:watch', { uid });
      assert.equal(((await anonymous.next('invoice:error')) as [{ code: string }])[0].code, 'UNAUTHORIZED');
      const wrongToken = await watcher('nlm_nope', '192.0.2.201');
      wrongToken.socket.emit('invoice:watch', { uid });
      assert.equal(((await wrongToken.next('invoice:error')) as [{ code: string }])[0].code, 'UNAUTHORIZED');
      const other = await l.ts.system.merchants.create('Other shop');
      const stranger = await watcher(other.accessToken, '192.0.2.202');
      stranger.socket.emit('invoice:watch', { uid });
      assert.equal(((await stranger.next('invoice:error')) as [{ code: string }])[0].code, 'INVOICE_NOT_FOUND');
      stranger.socket.emit('invoice:watch', { id });
      assert.equal(((await stranger.next('invoice:error')) as [{ code: string }])[0].code, 'INVOICE_NOT_FOUND');

      const trader = await l.account('trader', 'watcher');
      const t = await watcher(trader.token, '192.0.2.203');
      t.socket.emit('invoice:watch', { id });
      assert.equal(((await t.next('invoice:error')) as [{ code: string }])[0].code, 'INVOICE_NOT_FOUND', 'not taken by it yet');
      await call(l.url, 'POST', `/v1/trader/invoices/${id}/accept`, { token: trader.token });
      t.socket.emit('invoice:watch', { id });
      const [tv] = (await t.next('invoice:status')) as [WatchView];
      assert.equal(tv.id, id);
      assert.equal(tv.uid, null);
      assert.ok(!JSON.stringify(t.events).includes(uid), 'the trader never receives the UID');

      const admin = await l.account('admin', 'watcher');
      const a = await watcher(admin.token, '192.0.2.204');
      a.socket.emit('invoice:watch', uid);
      assert.equal(((await a.next('invoice:status')) as [WatchView])[0].uid, uid);
      for (const bad of [null, 42.5, {}, { uid: 'A'.repeat(30) }, 'x'.repeat(100)]) {
        a.socket.emit('invoice:watch', bad);
        assert.equal(((await a.next('invoice:error')) as [{ code: string }])[0].code, 'INVOICE_NOT_FOUND');
      }
      assert.equal((await l.ts.system.invoices.get(uid)).ip, null, 'no watcher bound the invoice');
    });

    test('unknown tokens over sockets count towards the address lockout, as over HTTP', async () => {
      const strict = await live(kind, undefined, { authFailuresPerMinute: 3 });
      try {
        const uid = await strict.invoice();
        const codes: string[] = [];
        for (let i = 0; i < 5; i++) {
          const r = new Recorder(
            io(strict.url, {
              path: '/socket.io',
              transports: ['websocket'],
              forceNew: true,
              reconnection: false,
              auth: { token: `nlm_${'x'.repeat(43)}` },
              extraHeaders: { 'x-forwarded-for': '192.0.2.230' },
            }),
          );
          await r.connected();
          r.socket.emit('invoice:watch', { uid });
          codes.push(((await r.next('invoice:error')) as [{ code: string }])[0].code);
          r.socket.disconnect();
        }
        assert.deepEqual(codes, ['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED', 'RATE_LIMITED', 'RATE_LIMITED']);
        // A valid token from the same address is still served.
        const ok = new Recorder(
          io(strict.url, {
            path: '/socket.io',
            transports: ['websocket'],
            forceNew: true,
            reconnection: false,
            auth: { token: strict.merchantToken },
            extraHeaders: { 'x-forwarded-for': '192.0.2.230' },
          }),
        );
        await ok.connected();
        ok.socket.emit('invoice:watch', { uid });
        assert.equal(((await ok.next('invoice:status')) as [WatchView])[0].uid, uid);
        ok.socket.disconnect();
      } finally {
        await strict.close();
      }
    });

    test('two first joins at once: exactly one IP is recorded and both are told the same', async () => {
      const uid = await l.invoice();
      const a = await l.connect('192.0.2.1');
      const b = await l.connect('192.0.2.2');
      a.join(uid);
      b.join(uid);
      const [ipA] = await a.next('ip:send');
      const [ipB] = await b.next('ip:send');
      assert.equal(ipA, ipB);
      assert.ok(ipA === '192.0.2.1' || ipA === '192.0.2.2');
      assert.equal((await l.ts.system.invoices.get(uid)).ip, ipA);
    });

    test('unknown UID and malformed arguments get invoice:error and the socket lives on', async () => {
      const s = await l.connect(FIRST);
      s.join('a'.repeat(30));
      assert.deepEqual(((await s.next('invoice:error')) as [{ code: string }])[0].code, 'INVOICE_NOT_FOUND');
      for (const bad of [42, { uid: 'x' }, null, ['a'], 'A'.repeat(30), 'x'.repeat(3000), '../../etc/passwd']) {
        s.join(bad);
        const [err] = (await s.next('invoice:error')) as [{ code: string; message: string }];
        assert.deepEqual(err, { code: 'INVOICE_NOT_FOUND', message: 'Invoice not found' });
      }
      const raw = s.socket as unknown as { emit(event: string, ...args: unknown[]): void };
      raw.emit('invoice:join');
      assert.equal(((await s.next('invoice:error')) as [{ code: string }])[0].code, 'INVOICE_NOT_FOUND');
      raw.emit('nonsense', 1, 2, 3);
      // An oversized frame costs its sender the connection, nobody else anything.
      const big = await l.connect('203.0.113.77');
      const closed = new Promise((resolve) => big.socket.once('disconnect', resolve));
      (big.socket as unknown as { emit(event: string, ...args: unknown[]): void }).emit('invoice:join', 'y'.repeat(64 * 1024));
      await closed;
      const uid = await l.invoice();
      s.join(uid);
      assert.deepEqual(await s.next('ip:send'), [FIRST]);
      assert.ok(s.socket.connected);
      assert.deepEqual(s.events.filter((e) => e.event === 'ip:send').length, 1, 'no room was joined for the bad UIDs');
    });

    test('joins per socket are limited', async () => {
      const s = await l.connect(FIRST);
      for (let i = 0; i < 20; i++) s.join('b'.repeat(30));
      for (let i = 0; i < 20; i++) await s.next('invoice:error');
      s.join(await l.invoice());
      const [err] = (await s.next('invoice:error')) as [{ code: string }];
      assert.equal(err.code, 'RATE_LIMITED');
    });

    test('connections per IP are limited', async () => {
      const ip = '198.18.0.99';
      const held = [];
      for (let i = 0; i < 5; i++) held.push(await l.connect(ip));
      await assert.rejects(l.connect(ip));
      await l.connect('198.18.0.100');
      held[0]?.socket.disconnect();
      // The slot frees once the server has seen the close.
      for (let i = 0; ; i++) {
        try {
          await l.connect(ip);
          break;
        } catch (err) {
          if (i > 50) throw err;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });

    test('updates carry strictly increasing versions; a socket in another room hears nothing', async () => {
      const uid = await l.invoice();
      const other = await l.invoice();
      const trader = await l.account('trader');
      const s = await l.connect('192.0.2.50');
      const bystander = await l.connect('192.0.2.51');
      s.join(uid);
      bystander.join(other);
      await s.next('ip:send');
      await s.next('invoice:update');
      await bystander.next('ip:send');
      bystander.drain();
      await Promise.all([
        call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/accept`, { token: trader.token }),
        l.ts.system.invoices.act(other, 'cancel', { type: 'admin', id: null }).catch(() => undefined),
      ]);
      await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/card`, {
        token: trader.token,
        json: { card: '5555555555554444' },
      });
      await call(l.url, 'POST', `/v1/admin/invoices/${uid}/cancel`, { token: (await l.account('admin')).token });
      const versions: number[] = [];
      while (versions.length < 3) {
        const [v] = (await s.next('invoice:update')) as [CheckoutView];
        versions.push(v.version);
        assert.equal(v.viewerIp, '192.0.2.50');
      }
      assert.deepEqual(
        versions,
        [...versions].sort((x, y) => x - y),
      );
      assert.equal(new Set(versions).size, 3);
      assert.equal(s.events.filter((e) => e.event === 'invoce:refetch').length, 3);
      // The bystander's own invoice was cancelled once: one refetch, nothing from `uid`.
      await bystander.next('invoce:refetch');
      const [bv] = (await bystander.next('invoice:update')) as [CheckoutView];
      assert.equal(bv.uid, other);
    });

    test('X-Forwarded-For is ignored when the peer is not a trusted proxy', async () => {
      const untrusting = await live(kind, undefined, { trustProxy: [] });
      try {
        const uid = await untrusting.invoice();
        const s = await untrusting.connect('203.0.113.99');
        s.join(uid);
        assert.deepEqual(await s.next('ip:send'), ['127.0.0.1']);
        const view = await call<CheckoutView>(untrusting.url, 'GET', `/v1/checkout/${uid}`, { ip: '203.0.113.99' });
        assert.equal(view.body.viewerIp, '127.0.0.1');
      } finally {
        await untrusting.close();
      }
    });

    test('the polling transport works too (socket.io default upgrade path)', async () => {
      const uid = await l.invoice();
      const socket = io(l.url, { forceNew: true, reconnection: false, extraHeaders: { 'x-forwarded-for': '192.0.2.77' } });
      try {
        const ip = await new Promise<string>((resolve, reject) => {
          socket.once('connect_error', reject);
          socket.once('ip:send', resolve);
          socket.emit('invoice:join', uid);
        });
        assert.equal(ip, '192.0.2.77');
      } finally {
        socket.disconnect();
      }
    });
  });
}

describe('realtime from a merchant’s own page (CORS)', () => {
  test('the polling handshake may be read from another origin', async () => {
    const l = await live('sqlite');
    try {
      const res = await fetch(`${l.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'https://shop.example' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      assert.match(await res.text(), /"sid"/);
    } finally {
      await l.close();
    }
  });
});
