import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../src/clock.ts';
import { SESSION_COOKIE } from '../src/services/sessions.ts';
import { type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

type Json = Record<string, unknown>;

async function api(
  url: string,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
}

const PASSWORD = 'a long enough password';

for (const kind of await dbKinds()) {
  describeOn(kind, `people and credentials: administrators and merchants (${kind})`, () => {
    let l: Live;
    let admin: { id: string; token: string };
    let trader: { id: string; token: string };
    const clock = new ManualClock(Date.now());
    before(async () => {
      l = await live(kind, clock);
      admin = await l.account('admin', 'Boss');
      trader = await l.account('trader', 'Taras');
    });
    after(() => l.close());

    test('only an administrator manages people', async () => {
      for (const [method, path] of [
        ['GET', '/v1/admin/users'],
        ['GET', '/v1/admin/merchants'],
        ['POST', '/v1/admin/merchants'],
        ['POST', `/v1/admin/accounts/${trader.id}/token`],
      ] as const) {
        assert.equal((await api(l.url, method, path, trader.token, method === 'POST' ? {} : undefined)).status, 403, path);
        assert.equal((await api(l.url, method, path, l.merchantToken, method === 'POST' ? {} : undefined)).status, 401, path);
        assert.equal((await api(l.url, method, path, null, method === 'POST' ? {} : undefined)).status, 401, path);
      }
    });

    test('a merchant made by an administrator works at once; its token is shown once and can be replaced', async () => {
      const made = await api(l.url, 'POST', '/v1/admin/merchants', admin.token, { name: 'Corner shop' });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const token = made.body.access_token as string;
      assert.match(made.body.public_key as string, /BEGIN (RSA )?PUBLIC KEY/);
      assert.equal((await api(l.url, 'GET', '/v1/invoices', token)).status, 200);
      const listed = (await api(l.url, 'GET', '/v1/admin/merchants', admin.token)).body.data as Json[];
      const row = listed.find((m) => m.id === made.body.id);
      assert.deepEqual(Object.keys(row ?? {}).sort(), ['created_at', 'disabled', 'id', 'name', 'sandbox']);
      assert.equal(row?.disabled, false);

      const reissued = await api(l.url, 'POST', `/v1/admin/merchants/${made.body.id}/token`, admin.token, {});
      assert.equal(reissued.status, 200);
      assert.notEqual(reissued.body.access_token, token);
      assert.equal((await api(l.url, 'GET', '/v1/invoices', token)).status, 401, 'the old token stops working');
      assert.equal((await api(l.url, 'GET', '/v1/invoices', reissued.body.access_token as string)).status, 200);

      const rotated = await api(l.url, 'POST', `/v1/admin/merchants/${made.body.id}/rotate-key`, admin.token, {});
      assert.equal(rotated.status, 200);
      assert.notEqual(rotated.body.public_key, made.body.public_key);
      assert.equal((await api(l.url, 'POST', '/v1/admin/merchants/999999/rotate-key', admin.token, {})).status, 404);
      assert.equal((await api(l.url, 'POST', '/v1/admin/merchants', admin.token, { name: '' })).status, 400);
    });

    test('console users: create with a password (staff get an API token too), disable ends sessions, reset the password', async () => {
      const made = await api(l.url, 'POST', '/v1/admin/users', admin.token, { name: 'Nadia', password: PASSWORD, role: 'trader' });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.role, 'trader');
      assert.equal(made.body.disabled, false);
      assert.equal((await api(l.url, 'GET', '/v1/trader/invoices', made.body.token as string)).status, 200);
      const session = await l.ts.system.sessions.login('Nadia', PASSWORD, { ip: '127.0.0.1' });
      const cookie = `${SESSION_COOKIE}=${session.token}`;
      const asSession = () => fetch(`${l.url}/v1/trader/invoices`, { headers: { cookie } }).then((r) => r.status);
      assert.equal(await asSession(), 200);

      const disabled = await api(l.url, 'POST', `/v1/admin/users/${made.body.id}/disable`, admin.token, {});
      assert.equal(disabled.body.disabled, true);
      assert.equal(await asSession(), 401, 'a disabled user’s session ends');
      assert.equal((await api(l.url, 'GET', '/v1/trader/invoices', made.body.token as string)).status, 401, 'and its API token');
      await assert.rejects(l.ts.system.sessions.login('Nadia', PASSWORD, { ip: '127.0.0.1' }), { code: 'INVALID_CREDENTIALS' });
      await api(l.url, 'POST', `/v1/admin/users/${made.body.id}/enable`, admin.token, {});
      assert.equal(
        (await api(l.url, 'GET', '/v1/trader/invoices', made.body.token as string)).status,
        200,
        'enabled: the token works again',
      );

      const reset = await api(l.url, 'POST', `/v1/admin/users/${made.body.id}/password`, admin.token, {
        password: 'another long password',
      });
      assert.equal(reset.status, 200, JSON.stringify(reset.body));
      await assert.rejects(l.ts.system.sessions.login('Nadia', PASSWORD, { ip: '127.0.0.2' }), { code: 'INVALID_CREDENTIALS' });
      await l.ts.system.sessions.login('Nadia', 'another long password', { ip: '127.0.0.1' });

      const merchantUser = await api(l.url, 'POST', '/v1/admin/users', admin.token, {
        name: 'Shop clerk',
        password: PASSWORD,
        role: 'merchant',
        merchant_id: l.merchantId,
      });
      assert.equal(merchantUser.status, 201, JSON.stringify(merchantUser.body));
      assert.equal(merchantUser.body.merchant_id, l.merchantId);
      assert.equal(merchantUser.body.token, undefined, 'a merchant user has no API token of its own');
      const noMerchant = await api(l.url, 'POST', '/v1/admin/users', admin.token, { name: 'X', password: PASSWORD, role: 'merchant' });
      assert.equal(noMerchant.status, 400);
      assert.equal(noMerchant.body.param, 'merchant_id');
      const short = await api(l.url, 'POST', '/v1/admin/users', admin.token, { name: 'Short', password: 'abc', role: 'admin' });
      assert.equal(short.status, 400);
      const taken = await api(l.url, 'POST', '/v1/admin/users', admin.token, { name: 'NADIA', password: PASSWORD, role: 'admin' });
      assert.equal(taken.status, 400, JSON.stringify(taken.body));
      assert.equal(taken.body.param, 'name', 'names are one login whatever their case');

      const users = (await api(l.url, 'GET', '/v1/admin/users', admin.token)).body.data as Json[];
      assert.ok(users.some((u) => u.name === 'Nadia' && u.role === 'trader'));
      assert.ok(users.every((u) => !('password_hash' in u) && !('passwordHash' in u)));

      const newToken = await api(l.url, 'POST', `/v1/admin/accounts/${trader.id}/token`, admin.token, {});
      assert.equal((await api(l.url, 'GET', '/v1/trader/invoices', trader.token)).status, 401);
      trader = { id: trader.id, token: newToken.body.token as string };
      assert.equal((await api(l.url, 'GET', '/v1/trader/invoices', trader.token)).status, 200);
    });

    test('a disabled merchant: its token and its console users are refused until it is enabled; its invoices run on', async () => {
      const { merchantId, accessToken } = await l.ts.system.merchants.create('Paused shop');
      await l.ts.system.consoleUsers.create({ name: 'paused-clerk', password: PASSWORD, role: 'merchant', merchantId });
      const session = await l.ts.system.sessions.login('paused-clerk', PASSWORD, { ip: '127.0.0.1' });
      const cookie = `${SESSION_COOKIE}=${session.token}`;
      const asClerk = () => fetch(`${l.url}/v1/invoices`, { headers: { cookie } }).then((r) => r.status);
      const open = await l.ts.system.invoices.create(merchantId, { title: 'Under way', price: '100' });
      assert.equal((await api(l.url, 'GET', '/v1/invoices', accessToken)).status, 200);

      const off = await api(l.url, 'POST', `/v1/admin/merchants/${merchantId}/disable`, admin.token, {});
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.equal(off.body.disabled, true);
      assert.equal((await api(l.url, 'GET', '/v1/invoices', accessToken)).status, 401);
      assert.equal(await asClerk(), 401);
      assert.equal(await l.ts.system.merchants.authenticateWithKeys(accessToken), null, 'the legacy API refuses it too');
      const listed = ((await api(l.url, 'GET', '/v1/admin/merchants', admin.token)).body.data as Json[]).find((m) => m.id === merchantId);
      assert.equal(listed?.disabled, true);
      // The payer of an invoice already made still sees it.
      assert.equal((await fetch(`${l.url}/v1/checkout/${open.uid}`)).status, 200);

      const on = await api(l.url, 'POST', `/v1/admin/merchants/${merchantId}/enable`, admin.token, {});
      assert.equal(on.body.disabled, false);
      assert.equal((await api(l.url, 'GET', '/v1/invoices', accessToken)).status, 200);
      assert.equal(await asClerk(), 200);
      assert.equal((await api(l.url, 'POST', '/v1/admin/merchants/999999/disable', admin.token, {})).status, 404);
    });

    test('an administrator reads an invoice with its event log and the settlement currency; the fees in force', async () => {
      const uid = await l.invoice();
      const id = await l.idOf(uid);
      await l.ts.system.invoices.act(id, 'accept', { type: 'trader', id: trader.id }, {}, { numbers: true });
      const one = await api(l.url, 'GET', `/v1/admin/invoices/${id}`, admin.token);
      assert.equal(one.body.receiveCurrency, l.ts.system.ledger.currency);
      const history = one.body.history as Json[];
      assert.deepEqual(
        history.map((h) => [h.action, h.status, h.actor_type]),
        [
          ['create', 'not approve exchange', 'merchant'],
          ['accept', 'wait card', 'trader'],
        ],
      );
      assert.equal(history[1]?.actor_id, trader.id);
      const list = (await api(l.url, 'GET', '/v1/admin/invoices', admin.token)).body.invoices as Json[];
      assert.ok(
        list.every((i) => i.history === undefined),
        'lists stay light',
      );

      await api(l.url, 'POST', '/v1/admin/ledger/fee', admin.token, { bps: 150 });
      await api(l.url, 'POST', '/v1/admin/ledger/reward', admin.token, { trader: trader.id, bps: 30 });
      const fees = await api(l.url, 'GET', '/v1/admin/ledger/fees', admin.token);
      assert.equal(fees.status, 200, JSON.stringify(fees.body));
      assert.equal(fees.body.merchant_fee_bps, 150);
      assert.equal(fees.body.trader_reward_bps, l.ts.system.config.traderRewardBps, 'a trader’s own reward is not the platform’s');
      assert.equal((fees.body.history as Json[]).length, 2);
    });

    test('a merchant switches its own sandbox on (its token shown once, its invoices simulated) and off', async () => {
      const { accessToken } = await l.ts.system.merchants.create('Sandboxing shop');
      assert.deepEqual((await api(l.url, 'GET', '/v1/merchant/sandbox', accessToken)).body, { enabled: false, merchant_id: null });
      const on = await api(l.url, 'POST', '/v1/merchant/sandbox', accessToken, { enabled: true });
      assert.equal(on.status, 200, JSON.stringify(on.body));
      assert.equal(on.body.enabled, true);
      const testToken = on.body.access_token as string;
      assert.match(testToken, /^nlm_test_/);
      const made = await api(l.url, 'POST', '/v1/invoices', testToken, { title: 'Test order', amount: '100.00' });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.sandbox, true, 'the simulated trader serves it');
      const sandboxMerchant = await api(l.url, 'GET', '/v1/merchant', testToken);
      assert.equal(sandboxMerchant.body.sandbox, true);
      assert.equal((await api(l.url, 'GET', '/v1/merchant/sandbox', testToken)).status, 403, 'a sandbox has no sandbox');

      const again = await api(l.url, 'POST', '/v1/merchant/sandbox', accessToken, { enabled: true });
      assert.equal(again.body.merchant_id, on.body.merchant_id, 'one sandbox per merchant');
      assert.equal(again.body.access_token, undefined, 'its token is shown only once');

      const off = await api(l.url, 'POST', '/v1/merchant/sandbox', accessToken, { enabled: false });
      assert.deepEqual(off.body, { enabled: false, merchant_id: on.body.merchant_id });
      assert.equal((await api(l.url, 'GET', '/v1/invoices', testToken)).status, 401, 'off: its token is refused');
      await api(l.url, 'POST', '/v1/merchant/sandbox', accessToken, { enabled: true });
      assert.equal((await api(l.url, 'GET', '/v1/invoices', testToken)).status, 200, 'on again: the same token works');
      assert.equal((await api(l.url, 'POST', '/v1/merchant/sandbox', accessToken, { enabled: 'yes' })).status, 400);
    });

    test('a merchant sees its public key, rotates it and replaces its own token', async () => {
      const { accessToken } = await l.ts.system.merchants.create('Self-service shop');
      const me = await api(l.url, 'GET', '/v1/merchant', accessToken);
      assert.equal(me.status, 200);
      assert.equal(me.body.name, 'Self-service shop');
      const rotated = await api(l.url, 'POST', '/v1/merchant/rotate-key', accessToken, {});
      assert.notEqual(rotated.body.public_key, me.body.public_key);
      const fresh = await api(l.url, 'POST', '/v1/merchant/token', accessToken, {});
      assert.equal((await api(l.url, 'GET', '/v1/merchant', accessToken)).status, 401);
      assert.equal((await api(l.url, 'GET', '/v1/merchant', fresh.body.access_token as string)).status, 200);
      assert.equal((await api(l.url, 'GET', '/v1/merchant', trader.token)).status, 401);
    });

    test('administrators search invoices by merchant, trader and creation time', async () => {
      const other = await l.ts.system.merchants.create('Other shop');
      const mine = await l.invoice();
      const theirs = (await l.ts.system.invoices.create(other.merchantId, { title: 'x', price: '10' })).uid;
      const taken = await l.idOf(mine);
      await l.ts.system.invoices.act(taken, 'accept', { type: 'trader', id: trader.id }, {}, { numbers: true });
      const uids = async (query: string) =>
        ((await api(l.url, 'GET', `/v1/admin/invoices?${query}`, admin.token)).body.invoices as Json[]).map((i) => i.uid);

      const byMerchant = await uids(`merchant_id=${other.merchantId}`);
      assert.deepEqual(byMerchant, [theirs]);
      const byTrader = await uids(`trader_id=${trader.id}`);
      assert.ok(byTrader.includes(mine) && !byTrader.includes(theirs), JSON.stringify(byTrader));
      const later = Math.floor(clock.now() / 1000) + 60;
      assert.deepEqual(await uids(`created_gte=${later}`), []);
      assert.ok((await uids(`created_lt=${later}`)).includes(theirs));
      const bad = await api(l.url, 'GET', '/v1/admin/invoices?created_gte=yesterday', admin.token);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.param, 'created_gte');
      assert.equal((await api(l.url, 'GET', '/v1/admin/invoices?merchant_id=abc', admin.token)).status, 400);
    });
  });
}
