import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AppError } from '@nltrade/core';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ManualClock } from '../src/clock.ts';
import { buildApp } from '../src/http/app.ts';
import { PasswordHasher } from '../src/services/passwords.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const PASSWORD = 'correct horse battery';
const HOUR = 60 * 60 * 1000;

interface Signed {
  cookie: string;
  csrf: string;
  body: Record<string, unknown>;
}

/** `nltrade_session=<token>` from an answer's Set-Cookie, ready for a Cookie header. */
function cookieOf(res: LightMyRequestResponse): string {
  const header = res.headers['set-cookie'];
  const line = Array.isArray(header) ? header[0] : header;
  assert.ok(typeof line === 'string', `no Set-Cookie in ${res.statusCode} ${res.body}`);
  return line.split(';')[0] as string;
}

for (const kind of await dbKinds()) {
  describeOn(kind, `console sign-in and sessions (${kind})`, () => {
    const clock = new ManualClock(Date.UTC(2026, 3, 1, 9, 0, 0));
    let t: TestSystem;
    let app: FastifyInstance;
    let shopA: string;
    let shopB: string;
    let traderToken: string;
    let traderAccount: string;

    before(async () => {
      t = await testSystem(kind, { trustProxy: ['127.0.0.1/32'] }, clock);
      app = await buildApp(t.system);
      shopA = (await t.system.merchants.create('Shop A')).merchantId;
      shopB = (await t.system.merchants.create('Shop B')).merchantId;
      const trader = await t.system.consoleUsers.create({ name: 'Tara', password: PASSWORD, role: 'trader' });
      assert.ok(trader.token && trader.accountId);
      traderToken = trader.token;
      traderAccount = trader.accountId;
      await t.system.consoleUsers.create({ name: 'Boss', password: PASSWORD, role: 'admin' });
      await t.system.consoleUsers.create({ name: 'shop-a', password: PASSWORD, role: 'merchant', merchantId: shopA });
    });
    after(async () => {
      await app?.close();
      await t?.cleanup();
    });

    const signIn = (name: string, password: string, ip: string, headers: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url: '/v1/session',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': ip, 'user-agent': 'test browser', ...headers },
        payload: JSON.stringify({ name, password }),
      });

    async function signedIn(name: string, ip = '192.0.2.1'): Promise<Signed> {
      const res = await signIn(name, PASSWORD, ip);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as Record<string, unknown>;
      return { cookie: cookieOf(res), csrf: body.csrf_token as string, body };
    }

    const get = (url: string, s: Signed, headers: Record<string, string> = {}) =>
      app.inject({ method: 'GET', url, headers: { cookie: s.cookie, ...headers } });

    const post = (url: string, s: Signed | null, headers: Record<string, string> = {}, payload: unknown = {}) =>
      app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', ...(s && { cookie: s.cookie }), ...headers },
        payload: JSON.stringify(payload),
      });

    const del = (url: string, s: Signed, headers: Record<string, string> = {}) =>
      app.inject({ method: 'DELETE', url, headers: { cookie: s.cookie, ...headers } });

    test('signing in sets an HttpOnly, SameSite=Lax, Path=/ cookie (not Secure over http) and answers who it is', async () => {
      const res = await signIn('TARA', PASSWORD, '192.0.2.10');
      assert.equal(res.statusCode, 200, res.body);
      const setCookie = String(res.headers['set-cookie']);
      assert.match(setCookie, /^nltrade_session=[A-Za-z0-9_-]{43}; /);
      const attributes = setCookie.split(';').map((a) => a.trim().toLowerCase());
      assert.ok(attributes.includes('httponly'));
      assert.ok(attributes.includes('samesite=lax'));
      assert.ok(attributes.includes('path=/'));
      assert.ok(!attributes.includes('secure'), 'no PUBLIC_URL: not Secure');
      assert.equal(res.headers['cache-control'], 'no-store');
      const body = res.json();
      assert.deepEqual(Object.keys(body).sort(), ['csrf_token', 'expires_at', 'user']);
      assert.deepEqual(body.user, { id: body.user.id, name: 'Tara', role: 'trader', merchant_id: null, account_id: traderAccount });
      assert.match(body.csrf_token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(body.expires_at, new Date(clock.now() + 7 * 24 * HOUR).toISOString());
      // Only the token's hash is stored.
      const token = cookieOf(res).split('=')[1] as string;
      const rows = await t.system.storage.db.selectFrom('console_sessions').select('token_hash').execute();
      assert.ok(rows.length > 0 && rows.every((r) => r.token_hash !== token && /^[0-9a-f]{64}$/.test(r.token_hash)));

      const again = await get('/v1/session', { cookie: cookieOf(res), csrf: '', body: {} });
      assert.equal(again.statusCode, 200);
      assert.deepEqual(again.json(), body);
      const none = await app.inject({ method: 'GET', url: '/v1/session' });
      assert.equal(none.statusCode, 401);
      assert.equal(none.json().code, 'UNAUTHORIZED');
    });

    test('a wrong password, an unknown name and a disabled user get the same 401 INVALID_CREDENTIALS', async () => {
      const off = await t.system.consoleUsers.create({ name: 'Gone', password: PASSWORD, role: 'admin' });
      await t.system.consoleUsers.disable(off.id);
      const answers = [
        await signIn('Tara', 'not the password', '192.0.2.20'),
        await signIn('Nobody', PASSWORD, '192.0.2.21'),
        await signIn('Gone', PASSWORD, '192.0.2.22'),
      ];
      for (const res of answers) {
        assert.equal(res.statusCode, 401);
        assert.equal(res.headers['set-cookie'], undefined);
      }
      assert.deepEqual(
        answers.map((a) => a.body),
        answers.map(() => JSON.stringify({ status: false, code: 'INVALID_CREDENTIALS', message: 'Wrong name or password' })),
      );
    });

    test('a name with a control character (NUL, say) is refused as invalid on either database', async () => {
      for (const name of ['Ta\u0000ra', 'Tara\n']) {
        const res = await signIn(name, PASSWORD, '192.0.2.23');
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(JSON.parse(res.body).code, 'VALIDATION_FAILED');
      }
    });

    test('roles: a trader session works the trader API and gets 403 on admin routes; a merchant user sees only its merchant', async () => {
      const a1 = await t.system.invoices.create(shopA, { title: 'A order', price: '100' });
      const b1 = await t.system.invoices.create(shopB, { title: 'B order', price: '200' });
      const tara = await signedIn('Tara');
      const queue = await get('/v1/trader/invoices', tara);
      assert.equal(queue.statusCode, 200, queue.body);
      const ids = (queue.json().invoices as { id: string }[]).map((i) => i.id);
      assert.ok(ids.includes(a1.id) && ids.includes(b1.id), 'the open queue');
      for (const url of ['/v1/admin/invoices', '/v1/invoices', '/v1/balance']) {
        const res = await get(url, tara);
        assert.equal(res.statusCode, 403, url);
        assert.equal(res.json().code, 'FORBIDDEN');
      }

      const shop = await signedIn('shop-a');
      const mine = await get('/v1/invoices', shop);
      assert.equal(mine.statusCode, 200, mine.body);
      const uids = (mine.json().data as { uid: string }[]).map((i) => i.uid);
      assert.ok(uids.includes(a1.uid));
      assert.ok(!uids.includes(b1.uid), "another merchant's invoice is not listed");
      const other = await get(`/v1/invoices/${b1.uid}`, shop);
      assert.equal(other.statusCode, 404);
      for (const url of ['/v1/trader/invoices', '/v1/admin/invoices']) assert.equal((await get(url, shop)).statusCode, 403, url);

      const boss = await signedIn('Boss');
      assert.equal((await get('/v1/admin/invoices', boss)).statusCode, 200);
      assert.equal((await get('/v1/trader/invoices', boss)).statusCode, 403);
    });

    test('with the cookie, a POST needs X-CSRF-Token: missing or wrong → 403 CSRF_FAILED, right → done; Bearer needs none', async () => {
      const tara = await signedIn('Tara');
      const first = await t.system.invoices.create(shopA, { title: 'csrf 1', price: '100' });
      const accept = (id: string) => `/v1/trader/invoices/${id}/accept`;
      const missing = await post(accept(first.id), tara);
      assert.equal(missing.statusCode, 403);
      assert.equal(missing.json().code, 'CSRF_FAILED');
      const flipped = `${tara.csrf.startsWith('A') ? 'B' : 'A'}${tara.csrf.slice(1)}`;
      const wrong = await post(accept(first.id), tara, { 'x-csrf-token': flipped });
      assert.equal(wrong.statusCode, 403);
      assert.equal(wrong.json().code, 'CSRF_FAILED');
      const otherSession = await signedIn('Tara');
      const foreign = await post(accept(first.id), tara, { 'x-csrf-token': otherSession.csrf });
      assert.equal(foreign.statusCode, 403, "another session's token is not this one's");
      assert.equal((await t.system.invoices.get(first.uid)).traderId, null, 'nothing was done');
      const right = await post(accept(first.id), tara, { 'x-csrf-token': tara.csrf });
      assert.equal(right.statusCode, 200, right.body);
      assert.equal((await t.system.invoices.get(first.uid)).traderId, traderAccount);

      // Bearer requests are as before: no CSRF token, and the header wins over a cookie.
      const second = await t.system.invoices.create(shopA, { title: 'csrf 2', price: '100' });
      const bearer = await post(accept(second.id), null, { authorization: `Bearer ${traderToken}` });
      assert.equal(bearer.statusCode, 200, bearer.body);
      const badBearer = await post(accept(second.id), tara, { authorization: 'Bearer nlt_nope', 'x-csrf-token': tara.csrf });
      assert.equal(badBearer.statusCode, 401, 'a bad token never falls back to the cookie');

      // A merchant user creates an invoice through the merchant API the same way.
      const shop = await signedIn('shop-a');
      const create = (headers: Record<string, string>) => post('/v1/invoices', shop, headers, { title: 'By hand', amount: '150.00' });
      assert.equal((await create({})).json().code, 'CSRF_FAILED');
      const made = await create({ 'x-csrf-token': shop.csrf });
      assert.equal(made.statusCode, 201, made.body);
    });

    test('signing in needs a JSON body from this site: a cross-site form or Origin is refused', async () => {
      const form = await app.inject({
        method: 'POST',
        url: '/v1/session',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '192.0.2.30' },
        payload: `name=Tara&password=${encodeURIComponent(PASSWORD)}`,
      });
      assert.equal(form.statusCode, 415);
      assert.equal(form.headers['set-cookie'], undefined);
      const foreign = await signIn('Tara', PASSWORD, '192.0.2.30', { origin: 'https://evil.example' });
      assert.equal(foreign.statusCode, 403);
      assert.equal(foreign.json().code, 'CSRF_FAILED');
      const same = await signIn('Tara', PASSWORD, '192.0.2.30', { origin: 'http://localhost', host: 'localhost:80' });
      assert.equal(same.statusCode, 200, same.body);
    });

    test('DELETE /v1/session (with the CSRF token) signs out and clears the cookie', async () => {
      const tara = await signedIn('Tara');
      assert.equal((await del('/v1/session', tara)).json().code, 'CSRF_FAILED');
      const out = await del('/v1/session', tara, { 'x-csrf-token': tara.csrf });
      assert.equal(out.statusCode, 200);
      assert.deepEqual(out.json(), { status: true });
      assert.match(String(out.headers['set-cookie']), /^nltrade_session=; .*Max-Age=0/);
      const after = await get('/v1/trader/invoices', tara);
      assert.equal(after.statusCode, 401);
      assert.equal((await get('/v1/session', tara)).statusCode, 401);
    });

    test('sessions are listed and revocable by their owner only', async () => {
      const phone = await signedIn('Tara', '192.0.2.40');
      const laptop = await signedIn('Tara', '192.0.2.41');
      const listed = await get('/v1/sessions', laptop);
      assert.equal(listed.statusCode, 200, listed.body);
      const data = listed.json().data as { id: string; ip: string; user_agent: string; current: boolean }[];
      const current = data.filter((s) => s.current);
      assert.equal(current.length, 1);
      assert.equal(current[0]?.ip, '192.0.2.41');
      const phoneRow = data.find((s) => s.ip === '192.0.2.40');
      assert.ok(phoneRow);
      assert.equal(phoneRow.user_agent, 'test browser');

      const boss = await signedIn('Boss');
      const notHis = await del(`/v1/sessions/${phoneRow.id}`, boss, { 'x-csrf-token': boss.csrf });
      assert.equal(notHis.statusCode, 404);
      assert.equal(notHis.json().code, 'NOT_FOUND');
      assert.equal((await get('/v1/trader/invoices', phone)).statusCode, 200, "another user's revoke did nothing");
      assert.equal((await del(`/v1/sessions/${phoneRow.id}`, laptop)).json().code, 'CSRF_FAILED');

      const revoked = await del(`/v1/sessions/${phoneRow.id}`, laptop, { 'x-csrf-token': laptop.csrf });
      assert.equal(revoked.statusCode, 200);
      assert.equal((await get('/v1/trader/invoices', phone)).statusCode, 401);
      assert.equal((await get('/v1/trader/invoices', laptop)).statusCode, 200);
      const ids = ((await get('/v1/sessions', laptop)).json().data as { id: string }[]).map((s) => s.id);
      assert.ok(!ids.includes(phoneRow.id));
      assert.equal((await del('/v1/sessions/99999999', laptop, { 'x-csrf-token': laptop.csrf })).statusCode, 404);
    });

    test('a session ends after 12 hours unused, and 7 days after sign-in however used', async () => {
      const idle = await signedIn('Tara');
      clock.advance(12 * HOUR - 60_000);
      assert.equal((await get('/v1/trader/invoices', idle)).statusCode, 200, 'used just in time');
      clock.advance(12 * HOUR - 60_000);
      assert.equal((await get('/v1/trader/invoices', idle)).statusCode, 200, 'use moved the idle end');
      clock.advance(12 * HOUR);
      assert.equal((await get('/v1/trader/invoices', idle)).statusCode, 401, '12 hours unused');

      const busy = await signedIn('Tara');
      for (let used = 0; used < 7 * 24 - 11; used += 11) {
        clock.advance(11 * HOUR);
        assert.equal((await get('/v1/trader/invoices', busy)).statusCode, 200, `after ${used + 11} h`);
      }
      clock.advance(3 * HOUR);
      assert.equal((await get('/v1/trader/invoices', busy)).statusCode, 401, '7 days after sign-in');
    });

    test('failures from one address slow that name, then lock it there; other addresses still sign in', async () => {
      await t.system.consoleUsers.create({ name: 'Victim', password: PASSWORD, role: 'trader' });
      const attacker = '198.51.100.66';
      const fail = async () => {
        const res = await signIn('victim', 'guess guess guess', attacker);
        assert.equal(res.statusCode, 401, res.body);
      };
      const refused = async (password = PASSWORD): Promise<number> => {
        const res = await signIn('Victim', password, attacker);
        assert.equal(res.statusCode, 429, res.body);
        assert.equal(res.json().code, 'RATE_LIMITED');
        return Number(res.headers['retry-after']);
      };
      for (let i = 0; i < 4; i++) await fail();
      await fail();
      // Delayed: even the right password waits, or guessing would only get faster.
      assert.equal(await refused(), 1);
      for (const wait of [1, 2, 4, 8]) {
        clock.advance(wait * 1000);
        await fail();
        assert.equal(await refused(), wait * 2);
      }
      clock.advance(16_000);
      await fail();
      // Locked: the tenth failure.
      assert.equal(await refused(), 15 * 60);
      assert.equal(await refused('guess guess guess'), 15 * 60);

      const elsewhere = await signIn('Victim', PASSWORD, '203.0.113.77');
      assert.equal(elsewhere.statusCode, 200, 'the owner signs in from another address');
      // Another name from the locked address is not affected either.
      assert.equal((await signIn('Boss', PASSWORD, attacker)).statusCode, 200);

      clock.advance(15 * 60 * 1000);
      assert.equal((await signIn('Victim', PASSWORD, attacker)).statusCode, 200, 'the lock ends');
      // A success starts the count afresh.
      await fail();
      assert.equal((await signIn('Victim', PASSWORD, attacker)).statusCode, 200);
    });

    test('a burst of parallel guesses is counted like a sequence', async () => {
      await t.system.consoleUsers.create({ name: 'Burst', password: PASSWORD, role: 'trader' });
      const answers = await Promise.all(Array.from({ length: 12 }, () => signIn('Burst', 'guess guess guess', '198.51.100.90')));
      const statuses = answers.map((a) => a.statusCode);
      const failed = statuses.filter((s) => s === 401).length;
      assert.ok(failed >= 1 && failed <= 5, `at most 5 guesses checked, got ${statuses.join(',')}`);
      assert.equal(statuses.filter((s) => s === 429).length, 12 - failed, statuses.join(','));
    });

    test('disabling a user ends its sessions at once; enabling does not revive them; a new password ends them too', async () => {
      const { id } = await t.system.consoleUsers.create({ name: 'shop-a-clerk', password: PASSWORD, role: 'merchant', merchantId: shopA });
      const shop = await signedIn('shop-a-clerk');
      assert.equal((await get('/v1/invoices', shop)).statusCode, 200);
      await t.system.consoleUsers.disable(id);
      assert.equal((await get('/v1/invoices', shop)).statusCode, 401);
      assert.equal((await signIn('shop-a-clerk', PASSWORD, '192.0.2.50')).statusCode, 401);
      await t.system.consoleUsers.enable(id);
      assert.equal((await get('/v1/invoices', shop)).statusCode, 401, 'the old session stays ended');
      const again = await signedIn('shop-a-clerk');
      assert.equal((await get('/v1/invoices', again)).statusCode, 200);

      await t.system.consoleUsers.setPassword('SHOP-A-Clerk', 'a brand new password');
      assert.equal((await get('/v1/invoices', again)).statusCode, 401, 'a new password signs every session out');
      assert.equal((await signIn('shop-a-clerk', PASSWORD, '192.0.2.51')).statusCode, 401);
      assert.equal((await signIn('shop-a-clerk', 'a brand new password', '192.0.2.51')).statusCode, 200);
    });

    test('a password shorter than 10 characters is refused with VALIDATION_FAILED; names are unique whatever their case', async () => {
      const short = (e: unknown) =>
        e instanceof AppError &&
        e.code === 'VALIDATION_FAILED' &&
        /at least 10 characters/.test(e.message) &&
        e.details?.param === 'password';
      await assert.rejects(t.system.consoleUsers.create({ name: 'Shorty', password: 'too short', role: 'trader' }), short);
      await assert.rejects(t.system.consoleUsers.setPassword('Tara', '123456789'), short);
      assert.equal(await t.system.consoleUsers.findByName('Shorty'), null);
      await assert.rejects(
        t.system.consoleUsers.create({ name: 'tARA', password: PASSWORD, role: 'admin' }),
        (e: unknown) => e instanceof AppError && e.code === 'VALIDATION_FAILED' && /already exists/.test(e.message),
      );
      await assert.rejects(
        t.system.consoleUsers.create({ name: 'Nowhere', password: PASSWORD, role: 'merchant', merchantId: '424242' }),
        (e: unknown) => e instanceof AppError && e.code === 'NOT_FOUND',
      );
    });

    test('a socket handshake with the session cookie resolves to its principal', async () => {
      const shop = await signedIn('shop-a');
      const principal = await t.system.sessions.principalOfCookieHeader(`theme=dark; ${shop.cookie}`);
      assert.deepEqual(principal, { kind: 'merchant', merchant: { id: shopA, name: 'Shop A', sandbox: false } });
      const tara = await signedIn('Tara');
      const trader = await t.system.sessions.principalOfCookieHeader(tara.cookie);
      assert.equal(trader?.kind, 'account');
      assert.equal(trader?.kind === 'account' && trader.account.id, traderAccount);
      assert.equal(await t.system.sessions.principalOfCookieHeader(undefined), null);
      assert.equal(await t.system.sessions.principalOfCookieHeader('nltrade_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), null);
    });
  });
}

describe('console sessions behind an https PUBLIC_URL', () => {
  let t: TestSystem;
  let app: FastifyInstance;
  before(async () => {
    t = await testSystem('sqlite', { publicUrl: 'https://pay.example.com' });
    app = await buildApp(t.system);
    await t.system.consoleUsers.create({ name: 'Boss', password: PASSWORD, role: 'admin' });
  });
  after(async () => {
    await app?.close();
    await t?.cleanup();
  });

  test('the cookie is Secure, and the public origin may sign in', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/session',
      headers: { 'content-type': 'application/json', origin: 'https://pay.example.com', host: '127.0.0.1:8080' },
      payload: JSON.stringify({ name: 'Boss', password: PASSWORD }),
    });
    assert.equal(res.statusCode, 200, res.body);
    const attributes = String(res.headers['set-cookie'])
      .split(';')
      .map((a) => a.trim().toLowerCase());
    assert.ok(attributes.includes('secure'));
    assert.ok(attributes.includes('httponly'));
  });
});

describe('password hashing is bounded', () => {
  test('beyond the running hashes and the queue, work is refused with 503 UNAVAILABLE', async () => {
    const hasher = new PasswordHasher({ concurrency: 1, queue: 1 });
    const running = hasher.hash('first password');
    const queued = hasher.hash('second password');
    await assert.rejects(hasher.hash('third password'), (e: unknown) => e instanceof AppError && e.code === 'UNAVAILABLE');
    const [a, b] = await Promise.all([running, queued]);
    assert.match(a, /^scrypt\$ln=15,r=8,p=3\$/);
    assert.notEqual(a, b);
    assert.deepEqual(await hasher.verify('first password', a), { ok: true, stale: false });
    assert.deepEqual(await hasher.verify('second password', a), { ok: false, stale: false });
    const older = await new PasswordHasher({ cost: { ln: 10, r: 8, p: 1 } }).hash('first password');
    assert.deepEqual(await hasher.verify('first password', older), { ok: true, stale: true });
  });
});
