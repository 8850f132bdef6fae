import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, publicEncrypt } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type RunningServer, startServer } from '../src/start.ts';
import { encryptRequest, type LegacyResponse, originalReading, ReferenceClient, unrot13 } from './support/reference-client.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const CARD = '4441114441114442';
const GENERIC = 'The data could not be decrypted into a valid request; check the key, the padding and the verification word';

/** Asserts a legacy error answer: status false, a message, the code, no stack anywhere. */
function assertError(res: LegacyResponse, http: number, code: string, message?: string | RegExp): void {
  assert.equal(res.http, http, JSON.stringify(res.json));
  assert.equal(res.json.status, false);
  assert.equal(res.json.code, code);
  assert.equal(typeof res.json.message, 'string');
  if (typeof message === 'string') assert.equal(res.json.message, message);
  else if (message) assert.match(res.json.message, message);
  assert.ok(!JSON.stringify(res.json).includes('    at '), 'no stack trace');
  assert.equal(res.json.response, undefined);
}

for (const kind of await dbKinds()) {
  describeOn(kind, `legacy API on ${kind}`, () => {
    let t: TestSystem;
    let server: RunningServer;
    let merchantId: string;
    let token: string;
    let client: ReferenceClient;
    let otherClient: ReferenceClient;
    let traderId: string;

    before(async () => {
      t = await testSystem(kind);
      server = await startServer(t.system.config, { system: t.system, sweeper: { start: false } });
      ({ merchantId, accessToken: token } = await t.system.merchants.create('Shop'));
      client = new ReferenceClient(server.url, token);
      otherClient = new ReferenceClient(server.url, (await t.system.merchants.create('Other shop')).accessToken);
      traderId = (await t.system.accounts.create('trader', 'T')).id;
    });
    after(async () => {
      await server?.close();
      await t?.cleanup();
    });

    const trader = () => ({ type: 'trader' as const, id: traderId });
    /** Everything a request could change about an invoice, to assert that nothing did. */
    const snapshot = async (uid: string) => {
      const invoice = await t.system.invoices.get(uid);
      return JSON.stringify({ invoice, history: await t.system.invoices.history(invoice.id) });
    };
    const countInvoices = async () =>
      Number(
        (
          await t.system.storage.db
            .selectFrom('invoices')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const raw = (body: unknown, contentType = 'application/json') =>
      fetch(`${server.url}/method/RemoteInvoiceApi`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }).then(async (res) => ({ http: res.status, json: await res.json() }));

    test('the reference client runs create → get → remove against the started server', async () => {
      const uid = await client.create('Order 1', '150.50');
      assert.match(uid, /^[a-z0-9]{30}$/);

      const got = await client.call({ type: 'get', uid_link: uid });
      assert.equal(got.http, 200);
      assert.equal(got.json.status, true);
      assert.equal(got.json.response.data.invoice.length, 1);
      const record = got.json.response.data.invoice[0];
      assert.equal(Object.keys(record).length, 25);
      for (const [name, value] of Object.entries(record)) assert.ok(value === null || typeof value === 'string', name);
      assert.equal(record.uid_link, uid);
      assert.equal(record.name_ex, 'Order 1');
      assert.equal(record.send_value, '150.50');
      assert.equal(record.recive_value, '3.63'); // 150.50 / 41.50 = 3.6265 → 3.63
      assert.equal(record.currency, '41.50');
      assert.equal(record.status, 'not approve exchange');
      assert.equal(record.payment_timeout, '960');
      assert.equal(record.exchange_type, 'invoice');
      assert.match(record.date, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      assert.deepEqual(JSON.parse(record.exchange_log), [{ date: record.date, status: 'Инвойс создан' }]);
      for (const name of ['card_f_pay', 'trader_id', 'ip', 'accept_date', 'pay_date', 'approve_photo', 'msg', 'user_id']) {
        assert.equal(record[name], null, name);
      }

      const removed = await client.call({ type: 'remove', uid_link: uid });
      assert.equal(removed.http, 200);
      assert.equal(removed.json.status, true);

      const after = await client.call({ type: 'get', uid_link: uid });
      assert.equal(after.json.response.data.invoice[0].status, 'canceled', 'the record stays, canceled');
      assert.equal(JSON.parse(after.json.response.data.invoice[0].exchange_log).length, 2);
    });

    test('get shows the trader, the full card, the bound IP and dates as the invoice moves', async () => {
      const uid = await client.create('Order 2', '1000');
      await t.system.invoices.act(uid, 'accept', trader());
      await t.system.invoices.act(uid, 'setCard', trader(), { card: CARD });
      await t.system.invoices.bindIp(uid, '127.0.0.1');
      const record = (await client.call({ type: 'get', uid_link: uid })).json.response.data.invoice[0];
      assert.equal(record.status, 'send card');
      assert.equal(record.card_f_pay, '4441-1144-4111-4442');
      assert.equal(record.trader_id, traderId);
      assert.equal(record.ip, '127.0.0.1');
      assert.match(record.accept_date, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      assert.equal(record.send_value, '1000');
      assert.equal(record.recive_value, '24.10');
      const log = JSON.parse(record.exchange_log);
      assert.deepEqual(
        log.map((e: { status: string }) => e.status),
        ['Инвойс создан', 'Заявку прийнято трейдером', 'Трейдер надав картку для оплати'],
      );
    });

    test('update: the payer pays, then sends the proof photo; log lines become the history', async () => {
      const uid = await client.create('Order 3', '500');
      await t.system.invoices.act(uid, 'accept', trader());
      await t.system.invoices.act(uid, 'setCard', trader(), { card: CARD });

      const unbound = await client.call({ type: 'update', uid_link: uid, status: 'pay', log: 'Заявка оплаченна клієнтом' });
      assertError(unbound, 200, 'IP_NOT_BOUND');
      await t.system.invoices.bindIp(uid, '127.0.0.1');

      const paid = await client.call({ type: 'update', uid_link: uid, status: 'pay', log: 'Заявка оплаченна клієнтом' });
      assert.equal(paid.http, 200, JSON.stringify(paid.json));
      assert.equal(paid.json.status, true);
      let record = (await client.call({ type: 'get', uid_link: uid })).json.response.data.invoice[0];
      assert.equal(record.status, 'pay');
      assert.match(record.pay_date, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

      await t.system.invoices.act(uid, 'dispute', trader());
      const url = 'https://cdn.example.com/receipts/2026/01/receipt-8f3a.jpg';
      const photo = await client.call({ type: 'update', uid_link: uid, approve_photo: url, log: 'Мій лог' });
      assert.equal(photo.http, 200, JSON.stringify(photo.json));
      record = (await client.call({ type: 'get', uid_link: uid })).json.response.data.invoice[0];
      assert.equal(record.status, 'notApprove');
      assert.equal(record.approve_photo, url);
      const log = JSON.parse(record.exchange_log).map((e: { status: string }) => e.status);
      assert.deepEqual(log.slice(-3), ['Заявка оплаченна клієнтом', 'Трейдер не отримав оплату, очікується фото підтвердження', 'Мій лог']);
      const history = await t.system.invoices.history(record.id);
      assert.deepEqual(history.at(-1)?.actorType, 'payer');
      assert.deepEqual(history.at(-1)?.actorId, '127.0.0.1');
    });

    test('update from another IP than the bound one is refused', async () => {
      const uid = await client.create('Order 4', '500');
      await t.system.invoices.act(uid, 'accept', trader());
      await t.system.invoices.act(uid, 'setCard', trader(), { card: CARD });
      await t.system.invoices.bindIp(uid, '203.0.113.7');
      const before = await snapshot(uid);
      assertError(await client.call({ type: 'update', uid_link: uid, status: 'pay' }), 200, 'IP_MISMATCH');
      assert.equal(await snapshot(uid), before);
    });

    test('every bad input gets a clear error, and nothing changes', async () => {
      const uid = await client.create('Order 5', '250');
      await t.system.invoices.act(uid, 'accept', trader());
      await t.system.invoices.act(uid, 'setCard', trader(), { card: CARD });
      await t.system.invoices.bindIp(uid, '127.0.0.1');
      const otherUid = await otherClient.create('Not yours', '10');
      const pem = await client.fetchPublicKey();
      const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      const encryptRaw = (text: string) =>
        publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(text)).toString('base64');
      const get = { type: 'get', uid_link: uid };
      const before = await snapshot(uid);
      const otherBefore = await snapshot(otherUid);
      const count = await countInvoices();

      // Every way of not being a valid request object gets the very same answer.
      const undecryptable: [string, () => Promise<LegacyResponse>][] = [
        ['wrong key', () => client.callWithKey(wrongKey, get)],
        ['truncated ciphertext', () => client.post(encryptRequest(pem, get).slice(0, 200))],
        ['ciphertext one byte short', () => client.post(Buffer.from(encryptRequest(pem, get), 'base64').subarray(1).toString('base64'))],
        ['random bytes of the right length', () => client.post(Buffer.alloc(256, 7).toString('base64'))],
        ['ciphertext not below the modulus', () => client.post(Buffer.alloc(256, 0xff).toString('base64'))],
        ['ciphertext of non-JSON', () => client.post(encryptRaw('hello, not json'))],
        ['ciphertext of a JSON array', () => client.post(encryptRaw('["get"]'))],
        ['missing verificationWord', () => client.post(encryptRaw(JSON.stringify(get)))],
        ['wrong verificationWord', () => client.post(encryptRaw(JSON.stringify({ ...get, verificationWord: 'bandasosambo' })))],
      ];
      for (const [name, send] of undecryptable) {
        const res = await send();
        assertError(res, 400, 'BAD_REQUEST', GENERIC);
        assert.deepEqual(res.json, { status: false, code: 'BAD_REQUEST', message: GENERIC }, name);
      }

      const cases: [string, () => Promise<LegacyResponse>, number, string, RegExp?][] = [
        ['malformed base64', () => client.post('@@not base64@@'), 400, 'BAD_REQUEST', /base64/],
        ['data missing', () => raw({ access_token: token }), 400, 'BAD_REQUEST', /data must be a base64 string/],
        ['data not a string', () => raw({ access_token: token, data: ['x'] }), 400, 'BAD_REQUEST', /data must be a base64 string/],
        ['data too long', () => client.post('A'.repeat(4000)), 400, 'BAD_REQUEST', /too long/],
        ['unknown type', () => client.call({ type: 'delete', uid_link: uid }), 200, 'UNKNOWN_REQUEST_TYPE', /"delete"/],
        ['type missing', () => client.call({ uid_link: uid }), 200, 'UNKNOWN_REQUEST_TYPE'],
        ['get without uid_link', () => client.call({ type: 'get' }), 200, 'VALIDATION_FAILED', /uid_link/],
        [
          'get with a bad uid_link',
          () => client.call({ type: 'get', uid_link: '../etc' }),
          200,
          'INVOICE_NOT_FOUND',
          /^Invoice not found$/,
        ],
        ['remove without uid_link', () => client.call({ type: 'remove' }), 200, 'VALIDATION_FAILED', /uid_link/],
        ['update without uid_link', () => client.call({ type: 'update', status: 'pay' }), 200, 'VALIDATION_FAILED', /uid_link/],
        [
          'create with NUL in the title',
          () => client.call({ type: 'create', title: 'a\u0000b', price: '1' }),
          200,
          'VALIDATION_FAILED',
          /control/,
        ],
        [
          'update with NUL in the log',
          () => client.call({ type: 'update', uid_link: uid, status: 'pay', log: 'paid\u0000' }),
          200,
          'VALIDATION_FAILED',
          /control/,
        ],
        ['get another merchant’s invoice', () => client.call({ type: 'get', uid_link: otherUid }), 200, 'INVOICE_NOT_FOUND'],
        ['remove another merchant’s invoice', () => client.call({ type: 'remove', uid_link: otherUid }), 200, 'INVOICE_NOT_FOUND'],
        [
          'update another merchant’s invoice',
          () => otherClient.call({ type: 'update', uid_link: uid, status: 'pay' }),
          200,
          'INVOICE_NOT_FOUND',
        ],
        ['get an unknown invoice', () => client.call({ type: 'get', uid_link: 'a'.repeat(30) }), 200, 'INVOICE_NOT_FOUND'],
        [
          'update status success',
          () => client.call({ type: 'update', uid_link: uid, status: 'success' }),
          200,
          'FIELD_NOT_ALLOWED',
          /"status"/,
        ],
        [
          'update status canceled',
          () => client.call({ type: 'update', uid_link: uid, status: 'canceled' }),
          200,
          'FIELD_NOT_ALLOWED',
          /"status"/,
        ],
        [
          'update send_value',
          () => client.call({ type: 'update', uid_link: uid, status: 'pay', send_value: '1' }),
          200,
          'FIELD_NOT_ALLOWED',
          /"send_value"/,
        ],
        [
          'update card_f_pay',
          () => client.call({ type: 'update', uid_link: uid, card_f_pay: '1' }),
          200,
          'FIELD_NOT_ALLOWED',
          /"card_f_pay"/,
        ],
        ['update ip', () => client.call({ type: 'update', uid_link: uid, status: 'pay', ip: '1.2.3.4' }), 200, 'FIELD_NOT_ALLOWED', /"ip"/],
        [
          'update a photo when none is awaited',
          () => client.call({ type: 'update', uid_link: uid, approve_photo: 'https://x.test/a.jpg' }),
          200,
          'TRANSITION_REFUSED',
        ],
        ['create without a price', () => client.call({ type: 'create', title: 'x' }), 200, 'INVALID_AMOUNT'],
        ['create with a bad price', () => client.call({ type: 'create', title: 'x', price: '-1' }), 200, 'INVALID_AMOUNT'],
        ['create without a title', () => client.call({ type: 'create', price: '1' }), 200, 'VALIDATION_FAILED', /title/],
        ['unknown token', () => new ReferenceClient(server.url, 'nlm_nope').post(encryptRequest(pem, get)), 401, 'UNAUTHORIZED'],
        ['token missing', () => raw({ data: encryptRequest(pem, get) }), 401, 'UNAUTHORIZED'],
        [
          'unknown token on the key endpoint',
          async () => {
            const res = await fetch(`${server.url}/helpers/getLatestPublicRemoteRsaKey.php`, {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              body: 'access_token=nlm_nope',
            });
            return { http: res.status, json: await res.json() };
          },
          401,
          'UNAUTHORIZED',
        ],
        ['body not JSON', () => raw('{"data": ', 'application/json'), 400, 'BAD_REQUEST'],
        ['body a JSON array', () => raw([1, 2]), 401, 'UNAUTHORIZED'],
        ['oversized body', () => raw({ access_token: token, data: 'A'.repeat(70 * 1024) }), 413, 'PAYLOAD_TOO_LARGE'],
        ['unsupported content type', () => raw('<data/>', 'application/xml'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ];
      for (const [name, send, http, code, message] of cases) {
        await test(name, async () => {
          assertError(await send(), http, code, message);
        });
      }
      assert.equal(await snapshot(uid), before, 'the invoice is unchanged');
      assert.equal(await snapshot(otherUid), otherBefore, 'the other merchant’s invoice is unchanged');
      assert.equal(await countInvoices(), count, 'no invoice was created');
    });

    test('answers read as the original client reads them: refusals are 200 + status false, envelope errors keep their codes', async () => {
      const uid = await client.create('Order R', '40');
      const pem = await client.fetchPublicKey();
      const refusals: [string, () => Promise<LegacyResponse>][] = [
        ['remove an unknown invoice', () => client.call({ type: 'remove', uid_link: 'q'.repeat(30) })],
        ['remove a malformed uid', () => client.call({ type: 'remove', uid_link: 'not-a-uid' })],
        ['get an unknown invoice', () => client.call({ type: 'get', uid_link: 'q'.repeat(30) })],
        ['pay before the card', () => client.call({ type: 'update', uid_link: uid, status: 'pay' })],
        ['a field update may not set', () => client.call({ type: 'update', uid_link: uid, send_value: '1' })],
        ['an invalid price', () => client.call({ type: 'create', title: 'x', price: 'abc' })],
        ['an invalid title', () => client.call({ type: 'create', title: '', price: '1' })],
        ['an invalid approve_photo', () => client.call({ type: 'update', uid_link: uid, approve_photo: 'javascript:alert(1)' })],
        ['an unknown type', () => client.call({ type: 'refund', uid_link: uid })],
      ];
      for (const [name, send] of refusals) {
        const res = await send();
        assert.equal(res.http, 200, name);
        assert.equal(res.json.status, false, name);
        assert.equal(typeof res.json.code, 'string', name);
        assert.equal(typeof res.json.message, 'string', name);
        assert.equal(originalReading(res), 'refused', name);
      }
      assert.equal(originalReading(await client.call({ type: 'remove', uid_link: uid })), 'ok');

      // Envelope and authentication errors keep their HTTP codes, so the client throws them.
      const stranger = new ReferenceClient(server.url, 'nlm_unknown');
      assert.equal(
        originalReading(await stranger.post(encryptRequest(pem, { type: 'get', uid_link: uid }))),
        'thrown: Unknown or missing access token',
      );
      assert.match(originalReading(await client.post(Buffer.alloc(256, 1).toString('base64'))), /^thrown: The data could not be decrypted/);
      assert.equal((await raw({ access_token: token, data: 'A'.repeat(70 * 1024) })).http, 413);
      await t.system.merchants.rotateKey(merchantId);
      assert.equal(originalReading(await client.callWithKey(pem, { type: 'get', uid_link: uid })), 'refetch-key');
    });

    test('create takes an optional return_url, which the checkout page offers the payer; a bad one is refused', async () => {
      const res = await client.call({ type: 'create', title: 'With return', price: '10', return_url: 'https://shop.example/thanks?o=42' });
      assert.equal(res.json.status, true, JSON.stringify(res.json));
      const uid = res.json.response.data.yourLink as string;
      const view = (await fetch(`${server.url}/v1/checkout/${uid}`).then((r) => r.json())) as { returnUrl: string | null };
      assert.equal(view.returnUrl, 'https://shop.example/thanks?o=42');
      for (const bad of ['javascript:alert(1)', 'not a url', 'https://x.example/\u0000']) {
        const refused = await client.call({ type: 'create', title: 'x', price: '1', return_url: bad });
        assertError(refused, 200, 'VALIDATION_FAILED', /return_url/);
      }
      const without = await client.call({ type: 'create', title: 'Old client', price: '10' });
      const plain = (await fetch(`${server.url}/v1/checkout/${without.json.response.data.yourLink}`).then((r) => r.json())) as {
        returnUrl: string | null;
      };
      assert.equal(plain.returnUrl, null);
    });

    test('approve_photo naming another invoice’s receipt photo on this server is refused; the invoice’s own is fine', async () => {
      const own = await client.create('Photo A', '60');
      const other = await client.create('Photo B', '60');
      for (const uid of [own, other]) {
        await t.system.invoices.bindIp(uid, '127.0.0.1');
        await t.system.invoices.act(uid, 'accept', trader());
        await t.system.invoices.act(uid, 'setCard', trader(), { card: CARD });
        await t.system.invoices.act(uid, 'paid', { type: 'payer', id: '127.0.0.1' });
        await t.system.invoices.act(uid, 'dispute', trader());
      }
      // A's receipt, uploaded the way the checkout page does it.
      const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
      const form = new FormData();
      form.append('photo', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'a.png');
      const uploaded = await fetch(`${server.url}/v1/checkout/${own}/photo`, { method: 'POST', body: form });
      assert.equal(uploaded.status, 200, await uploaded.clone().text());
      const photoPath = (await t.system.invoices.get(own)).approvePhoto ?? '';
      const before = await snapshot(other);
      const stolen = await client.call({ type: 'update', uid_link: other, approve_photo: `${server.url}${photoPath}` });
      assertError(stolen, 200, 'VALIDATION_FAILED', /another invoice/);
      assert.equal(await snapshot(other), before);
      const outside = await client.call({ type: 'update', uid_link: other, approve_photo: 'https://shop.example/r/b.jpg' });
      assert.equal(outside.json.status, true, JSON.stringify(outside.json));
    });

    test('remove after the payer paid is refused; removing twice is refused', async () => {
      const uid = await client.create('Order 6', '99');
      await t.system.invoices.act(uid, 'accept', trader());
      await t.system.invoices.act(uid, 'setCard', trader(), { card: CARD });
      await t.system.invoices.bindIp(uid, '127.0.0.1');
      assert.equal((await client.call({ type: 'update', uid_link: uid, status: 'pay' })).http, 200);
      const before = await snapshot(uid);
      assertError(await client.call({ type: 'remove', uid_link: uid }), 200, 'ALREADY_PAID');
      assert.equal(await snapshot(uid), before);

      const other = await client.create('Order 7', '99');
      assert.equal((await client.call({ type: 'remove', uid_link: other })).http, 200);
      assertError(await client.call({ type: 'remove', uid_link: other }), 200, 'TRANSITION_REFUSED');
    });

    test('a request made with a retired key: "Your key is too old"; the reference client recovers', async () => {
      const uid = await client.create('Order 8', '10');
      const invoicesBefore = await countInvoices();
      const firstPem = await client.fetchPublicKey();
      await t.system.merchants.rotateKey(merchantId);
      const secondPem = await client.fetchPublicKey();
      assert.notEqual(secondPem, firstPem);
      assert.match(secondPem, /^-----BEGIN RSA PUBLIC KEY-----\n/);

      const old = await client.callWithKey(firstPem, { type: 'get', uid_link: uid });
      assertError(old, 400, 'KEY_TOO_OLD', 'Your key is too old');
      const oldCreate = await client.callWithKey(firstPem, { type: 'create', title: 'x', price: '1' });
      assertError(oldCreate, 400, 'KEY_TOO_OLD', 'Your key is too old');
      // An old key does not vouch for garbage: without the verification word it is just undecryptable.
      const oldGarbage = await client.post(
        publicEncrypt({ key: firstPem, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('{"type":"get"}')).toString('base64'),
      );
      assertError(oldGarbage, 400, 'BAD_REQUEST', GENERIC);
      assert.equal((await client.call({ type: 'get', uid_link: uid })).http, 200, 'the client fetches the new key and retries');

      // Two retired keys are recognised; an older one is just undecryptable.
      await t.system.merchants.rotateKey(merchantId);
      assertError(await client.callWithKey(firstPem, { type: 'get', uid_link: uid }), 400, 'KEY_TOO_OLD');
      assertError(await client.callWithKey(secondPem, { type: 'get', uid_link: uid }), 400, 'KEY_TOO_OLD');
      await t.system.merchants.rotateKey(merchantId);
      assertError(await client.callWithKey(firstPem, { type: 'get', uid_link: uid }), 400, 'BAD_REQUEST', GENERIC);
      assertError(await client.callWithKey(secondPem, { type: 'get', uid_link: uid }), 400, 'KEY_TOO_OLD');
      assert.equal((await client.call({ type: 'get', uid_link: uid })).http, 200);
      assert.equal(await countInvoices(), invoicesBefore, 'no request with an old key created an invoice');
    });

    test('through app.inject: the key endpoint takes a form or JSON, and the key decodes as documented', async () => {
      const form = await server.app.inject({
        method: 'POST',
        url: '/helpers/getLatestPublicRemoteRsaKey.php',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `access_token=${encodeURIComponent(token)}`,
      });
      assert.equal(form.statusCode, 200);
      const body = form.json();
      assert.deepEqual(Object.keys(body), ['status', 'response']);
      assert.equal(body.status, true);
      assert.ok(body.response.data.result.startsWith('LS0tLS1PUlRWQSBFRk4gQ0'));
      const pem = unrot13(atob(body.response.data.result));
      assert.equal(pem, await t.system.merchants.currentPublicPem(merchantId));

      const json = await server.app.inject({
        method: 'POST',
        url: '/helpers/getLatestPublicRemoteRsaKey.php',
        payload: { access_token: token },
      });
      assert.equal(json.json().response.data.result, body.response.data.result);

      const created = await server.app.inject({
        method: 'POST',
        url: '/method/RemoteInvoiceApi',
        payload: { data: encryptRequest(pem, { type: 'create', title: 'Injected', price: '12.5' }), access_token: token },
      });
      assert.equal(created.statusCode, 200);
      const uid = created.json().response.data.yourLink;
      const got = await server.app.inject({
        method: 'POST',
        url: '/method/RemoteInvoiceApi',
        payload: { data: encryptRequest(pem, { type: 'get', uid_link: uid }), access_token: token },
      });
      assert.equal(got.json().response.data.invoice[0].send_value, '12.50');

      // A form body works too, even one whose '+' signs were left unescaped.
      const data = encryptRequest(pem, { type: 'get', uid_link: uid });
      for (const encoded of [encodeURIComponent(data), data]) {
        const form = await server.app.inject({
          method: 'POST',
          url: '/method/RemoteInvoiceApi',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: `data=${encoded}&access_token=${encodeURIComponent(token)}`,
        });
        assert.equal(form.statusCode, 200, form.body);
      }
    });
  });
}
