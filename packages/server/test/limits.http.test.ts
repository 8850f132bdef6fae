import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { AppError } from '@nltrade/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { ManualClock } from '../src/clock.ts';
import { buildApp } from '../src/http/app.ts';
import { installErrorHandling } from '../src/http/errors.ts';
import type { LimitsLog } from '../src/limits/index.ts';
import { createSystem, type System } from '../src/system.ts';
import { call, type Live, live } from './support/live.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const REDIS_URL = process.env.NLTRADE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const LIMIT = 3;

/** A documentation address of its own per run: runs that share one Redis never meet. */
const freshIp = () => `203.0.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
const unknownToken = () => `nlm_${randomBytes(32).toString('base64url')}`;

/** The requests a client makes with a token, on every surface that takes one. */
function client(app: FastifyInstance, ip: string) {
  const headers = (token: string | undefined) => ({
    'x-forwarded-for': ip,
    ...(token !== undefined && { authorization: `Bearer ${token}` }),
  });
  return {
    /** The legacy key request: the token is in the form body. */
    key: (token: string) =>
      app.inject({
        method: 'POST',
        url: '/helpers/getLatestPublicRemoteRsaKey.php',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
        payload: `access_token=${token}`,
      }),
    /** A legacy API call: the token is checked before any RSA work. */
    api: (token: string) =>
      app.inject({
        method: 'POST',
        url: '/method/RemoteInvoiceApi',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
        payload: { access_token: token, data: 'AAAA' },
      }),
    trader: (token: string | undefined) => app.inject({ method: 'GET', url: '/v1/trader/invoices', headers: headers(token) }),
    admin: (token: string | undefined) => app.inject({ method: 'GET', url: '/v1/admin/invoices', headers: headers(token) }),
    photo: (token: string | undefined) =>
      app.inject({ method: 'GET', url: '/v1/photos/abcdefabcdefabcdefabcdef', headers: headers(token) }),
    checkout: (uid: string) => app.inject({ method: 'GET', url: `/v1/checkout/${uid}`, headers: { 'x-forwarded-for': ip } }),
  };
}

for (const kind of await dbKinds()) {
  describeOn(kind, `the unknown-token lockout (${kind})`, () => {
    const clock = new ManualClock();
    let t: TestSystem;
    let app: FastifyInstance;
    let merchant: string;
    let trader: string;
    let admin: string;
    let uid: string;
    before(async () => {
      t = await testSystem(kind, { authFailuresPerMinute: LIMIT, trustProxy: ['127.0.0.1/32'] }, clock);
      app = await buildApp(t.system);
      const m = await t.system.merchants.create('Shop');
      merchant = m.accessToken;
      trader = (await t.system.accounts.create('trader', 'T')).token;
      admin = (await t.system.accounts.create('admin', 'A')).token;
      uid = (await t.system.invoices.create(m.merchantId, { title: 'x', price: '1' })).uid;
    });
    after(async () => {
      await app.close();
      await t.cleanup();
    });

    test('after the limit, an address gets 429 for unknown tokens but is served for valid ones', async () => {
      clock.advance(60_000 - (clock.now() % 60_000) + 20_000); // 20 s into a minute
      const c = client(app, freshIp());
      for (let i = 0; i < LIMIT; i++) assert.equal((await c.key(unknownToken())).statusCode, 401, `guess ${i}`);

      const locked = await c.key(unknownToken());
      assert.equal(locked.statusCode, 429);
      assert.equal(locked.json().code, 'RATE_LIMITED');
      assert.equal(locked.json().status, false);
      assert.equal(locked.headers['retry-after'], '40', 'until the minute ends');
      // Every way of presenting an unknown token is refused alike: a lookup that finds
      // nothing, a malformed token. A request presenting none guessed nothing: told 401.
      assert.equal((await c.api(unknownToken())).statusCode, 429);
      assert.equal((await c.trader(unknownToken())).statusCode, 429);
      assert.equal((await c.trader('not a token')).statusCode, 429);
      assert.equal((await c.admin(undefined)).statusCode, 401);
      assert.equal((await c.photo(unknownToken())).statusCode, 429);

      // Valid tokens are served as always, whoever holds them.
      assert.equal((await c.key(merchant)).statusCode, 200, 'a merchant (token in the body)');
      assert.equal((await c.trader(trader)).statusCode, 200, 'a trader');
      assert.equal((await c.admin(admin)).statusCode, 200, 'an administrator');
      assert.equal((await c.admin(trader)).statusCode, 403, 'a valid token with the wrong role is told so, not locked out');
      assert.equal((await c.photo(merchant)).statusCode, 404, 'a merchant asking for a photo that is not there');
      const api = await c.api(merchant);
      assert.equal(api.statusCode, 400, 'a merchant through the legacy API reaches decryption');
      assert.notEqual(api.json().code, 'RATE_LIMITED');
      assert.equal((await c.checkout(uid)).statusCode, 200, 'anonymous checkout is not locked');

      assert.equal((await client(app, freshIp()).key(unknownToken())).statusCode, 401, 'another address is not locked');
      clock.advance(40_000);
      assert.equal((await c.key(unknownToken())).statusCode, 401, 'the lockout ends with the minute');
    });

    test('requests presenting no credential are never counted (a console asking whether anyone is signed in)', async () => {
      clock.advance(60_000 - (clock.now() % 60_000) + 1_000);
      const ip = freshIp();
      for (let i = 0; i < LIMIT + 10; i++) {
        const r = await app.inject({ method: 'GET', url: '/v1/session', headers: { 'x-forwarded-for': ip } });
        assert.equal(r.statusCode, 401, `look ${i}`);
      }
      assert.equal((await client(app, ip).key(unknownToken())).statusCode, 401, 'the address has guessed nothing yet');
      // A cookie that names no session is a guess like an unknown token.
      for (let i = 0; i < LIMIT; i++) {
        await app.inject({
          method: 'GET',
          url: '/v1/session',
          headers: { 'x-forwarded-for': ip, cookie: `nltrade_session=${'x'.repeat(43)}` },
        });
      }
      assert.equal(
        (
          await app.inject({
            method: 'GET',
            url: '/v1/session',
            headers: { 'x-forwarded-for': ip, cookie: `nltrade_session=${'y'.repeat(43)}` },
          })
        ).statusCode,
        429,
      );
    });

    test('valid tokens are never counted, however many', async () => {
      clock.advance(60_000 - (clock.now() % 60_000) + 1_000);
      const c = client(app, freshIp());
      for (let i = 0; i < 50; i++) assert.equal((await c.trader(trader)).statusCode, 200);
      for (let i = 0; i < 20; i++) assert.equal((await c.key(merchant)).statusCode, 200);
      for (let i = 0; i < LIMIT; i++) assert.equal((await c.key(unknownToken())).statusCode, 401);
      assert.equal((await c.key(unknownToken())).statusCode, 429);
    });

    test('the checkout budget (@fastify/rate-limit, counted in the shared store) answers 429 with Retry-After', async () => {
      clock.advance(60_000 - (clock.now() % 60_000) + 30_000);
      const c = client(app, freshIp());
      for (let i = 0; i < t.system.config.checkoutRequestsPerMinute; i++) assert.equal((await c.checkout(uid)).statusCode, 200);
      const over = await c.checkout(uid);
      assert.equal(over.statusCode, 429);
      assert.equal(over.headers['retry-after'], '30');
      assert.equal(over.headers['x-ratelimit-limit'], String(t.system.config.checkoutRequestsPerMinute), '@fastify/rate-limit counted it');
    });

    if (kind !== 'postgres') return;

    test('two server processes on one database share the lockout', async () => {
      clock.advance(60_000 - (clock.now() % 60_000) + 1_000);
      const other: System = await createSystem(t.system.config, { clock });
      const otherApp = await buildApp(other);
      try {
        const ip = freshIp();
        const a = client(app, ip);
        const b = client(otherApp, ip);
        assert.equal((await a.key(unknownToken())).statusCode, 401);
        assert.equal((await b.key(unknownToken())).statusCode, 401);
        assert.equal((await a.trader(unknownToken())).statusCode, 401);
        assert.equal((await b.key(unknownToken())).statusCode, 429, 'counted across both');
        assert.equal((await a.key(unknownToken())).statusCode, 429);
        assert.equal((await b.key(merchant)).statusCode, 200);
      } finally {
        await otherApp.close();
        await other.close();
      }
    });
  });
}

describeOn('sqlite', 'limits shared through Redis (REDIS_URL)', () => {
  const clock = new ManualClock();
  let t: TestSystem;
  let other: System;
  let apps: FastifyInstance[];
  let merchant: string;
  let redisDown: string | undefined;
  before(async () => {
    const probe = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    await probe.connect().catch((err: Error) => {
      if (process.env.CI) throw err;
      redisDown = err.message;
    });
    probe.disconnect();
    const overrides = { authFailuresPerMinute: LIMIT, checkoutRequestsPerMinute: 4, trustProxy: ['127.0.0.1/32'], redisUrl: REDIS_URL };
    t = await testSystem('sqlite', overrides, clock);
    // A second process on the same data: the embedded database alone would count apart.
    other = await createSystem(t.system.config, { clock });
    apps = [await buildApp(t.system), await buildApp(other)];
    merchant = (await t.system.merchants.create('Shop')).accessToken;
  });
  after(async () => {
    for (const app of apps) await app.close();
    await other.close();
    await t.cleanup();
  });

  test('the lockout and the checkout budget are counted once for both processes', async (ctx) => {
    if (redisDown) return ctx.skip(`Redis unreachable: ${redisDown}`);
    const [one, two] = apps as [FastifyInstance, FastifyInstance];
    const ip = freshIp();
    const a = client(one, ip);
    const b = client(two, ip);
    assert.equal((await a.key(unknownToken())).statusCode, 401);
    assert.equal((await b.key(unknownToken())).statusCode, 401);
    assert.equal((await a.key(unknownToken())).statusCode, 401);
    assert.equal((await b.key(unknownToken())).statusCode, 429);
    assert.equal((await b.key(merchant)).statusCode, 200, 'valid tokens are still served');

    const m = await t.system.merchants.authenticate(merchant);
    const uid = (await t.system.invoices.create(m?.id ?? '', { title: 'x', price: '1' })).uid;
    const buyer = freshIp();
    for (let i = 0; i < 4; i++) assert.equal((await client(i % 2 ? one : two, buyer).checkout(uid)).statusCode, 200);
    assert.equal((await client(one, buyer).checkout(uid)).statusCode, 429);
    assert.equal((await client(two, buyer).checkout(uid)).statusCode, 429);
  });
});

for (const kind of await dbKinds()) {
  describeOn(kind, `X-Forwarded-For from an untrusted peer (${kind})`, () => {
    let l: Live;
    const warnings: Array<{ obj: object; msg: string }> = [];
    before(async () => {
      // Nothing trusted, as when TRUST_PROXY was forgotten behind a proxy on loopback.
      l = await live(kind, undefined, { trustProxy: [] });
      const log: LimitsLog = { warn: (obj, msg) => warnings.push({ obj, msg }), error: () => {}, info: () => {} };
      l.ts.system.limits.log = log;
    });
    after(() => l.close());

    test('is ignored, and a warning says so once (HTTP and sockets alike)', async () => {
      const uid = await l.invoice();
      const view = await call(l.url, 'GET', `/v1/checkout/${uid}`, { ip: '198.18.7.7' });
      assert.equal(view.body.viewerIp, '127.0.0.1', 'the peer, not the header, is the client');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]?.msg ?? '', /X-Forwarded-For arrived from 127\.0\.0\.1, which is not in TRUST_PROXY/);
      assert.deepEqual(warnings[0]?.obj, { peer: '127.0.0.1' });
      for (let i = 0; i < 3; i++) await call(l.url, 'GET', `/v1/checkout/${uid}`, { ip: '198.18.7.8' });
      const socket = await l.connect('198.18.7.9');
      socket.join(uid);
      assert.deepEqual(await socket.next('ip:send'), ['127.0.0.1'], 'the socket binds the peer too');
      assert.equal(warnings.length, 1, 'once');
    });

    test('a socket handshake alone is warned about too', async () => {
      const other = await live(kind, undefined, { trustProxy: [] });
      const seen: string[] = [];
      other.ts.system.limits.log = { warn: (_o, msg) => seen.push(msg), error: () => {}, info: () => {} };
      try {
        const socket = await other.connect('198.18.7.11');
        socket.join(await other.invoice());
        assert.deepEqual(await socket.next('ip:send'), ['127.0.0.1']);
        assert.equal(seen.length, 1);
        assert.match(seen[0] ?? '', /not in TRUST_PROXY/);
      } finally {
        await other.close();
      }
    });

    test('from a trusted proxy it is believed, without a warning', async () => {
      const trusted = await live(kind);
      const quiet: string[] = [];
      trusted.ts.system.limits.log = { warn: (_o, msg) => quiet.push(msg), error: () => {}, info: () => {} };
      try {
        const uid = await trusted.invoice();
        const view = await call(trusted.url, 'GET', `/v1/checkout/${uid}`, { ip: '198.18.7.10' });
        assert.equal(view.body.viewerIp, '198.18.7.10');
        assert.deepEqual(quiet, []);
      } finally {
        await trusted.close();
      }
    });
  });
}

test('a refusal carrying retryAfterSeconds gets a Retry-After header, on both error surfaces', async () => {
  const app = Fastify();
  installErrorHandling(app);
  app.get('/busy', async () => {
    throw new AppError('UNAVAILABLE', 'Busy', { retryAfterSeconds: 2.2 });
  });
  await app.register(async (legacy) => {
    installErrorHandling(legacy, 'legacy');
    legacy.get('/legacy-busy', async () => {
      throw new AppError('RATE_LIMITED', 'Slow down', { retryAfterSeconds: 7 });
    });
  });
  try {
    const busy = await app.inject({ method: 'GET', url: '/busy' });
    assert.equal(busy.statusCode, 503);
    assert.equal(busy.headers['retry-after'], '3', 'whole seconds, rounded up');
    const legacy = await app.inject({ method: 'GET', url: '/legacy-busy' });
    assert.equal(legacy.statusCode, 429);
    assert.equal(legacy.headers['retry-after'], '7');
    const plain = await app.inject({ method: 'GET', url: '/nowhere' });
    assert.equal(plain.headers['retry-after'], undefined);
  } finally {
    await app.close();
  }
});
