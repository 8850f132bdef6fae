import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MerchantApiError, MerchantClient, type MerchantInvoice, NlTradeError, RemoteInvoiceClient } from '@nltrade/sdk';
import { ManualClock } from '../src/clock.ts';
import { type Live, live } from './support/live.ts';
import { ReferenceClient } from './support/reference-client.ts';
import { dbKinds, describeOn } from './support/system.ts';

/** What a call through the SDK came to: its result, or the MerchantApiError it threw. */
async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: MerchantApiError }> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    if (!(e instanceof MerchantApiError)) throw e;
    return { ok: false, error: e };
  }
}

async function refused(p: Promise<unknown>): Promise<MerchantApiError> {
  const r = await settle(p);
  assert.ok(!r.ok, `expected a refusal, got ${JSON.stringify(r.ok ? r.value : null)}`);
  return r.error;
}

for (const kind of await dbKinds()) {
  describeOn(kind, `merchant REST API v1 (${kind})`, () => {
    let l: Live;
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 12, 0, 0));
    /** Every answer the SDK received, so tests can read headers the SDK does not surface. */
    const answers: Response[] = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      answers.push(res);
      return res;
    };
    const lastAnswer = () => {
      const a = answers.at(-1);
      assert.ok(a);
      return a;
    };
    let api: MerchantClient;
    let other: { merchantId: string; accessToken: string };
    let otherApi: MerchantClient;
    // Both aim at the invoice a test creates, by title: other changes (the sandbox trader's, a
    // timer's) may commit meanwhile and must not use them up.
    /** Makes the next change of the invoice with this title fail inside its transaction, as a broken dependency would. */
    let failTitle: string | undefined;
    /** While the next change of the invoice with this title runs, another request takes `key` over (its claim outlived its lease). */
    let takeOver: { title: string; key: string } | undefined;

    before(async () => {
      l = await live(kind, clock);
      api = new MerchantClient({ baseUrl: l.url, token: l.merchantToken, fetch: recordingFetch });
      other = await l.ts.system.merchants.create('Other shop');
      otherApi = new MerchantClient({ baseUrl: l.url, token: other.accessToken });
      l.ts.system.invoices.onChange(async (trx, change) => {
        if (takeOver !== undefined && change.invoice.title === takeOver.title) {
          const { key } = takeOver;
          takeOver = undefined;
          await trx
            .updateTable('idempotency_keys')
            .set((eb) => ({ created_at: eb('created_at', '+', 1) }))
            .where('key', '=', key)
            .execute();
        }
        if (failTitle === undefined || change.invoice.title !== failTitle) return;
        failTitle = undefined;
        throw new Error('simulated failure inside the change transaction');
      });
    });
    after(() => l.close());

    const countOf = async (merchantId = l.merchantId) => (await l.ts.system.invoices.list({ merchantId, limit: 200 })).length;

    test('create answers 201 with the invoice and its history; Request-Id on the answer', async () => {
      const invoice = await api.createInvoice({
        title: 'Order 1',
        amount: '1500.00',
        paymentTimeout: 600,
        returnUrl: 'https://shop.example/done',
        metadata: { order_id: '1' },
      });
      assert.equal(lastAnswer().status, 201);
      assert.match(lastAnswer().headers.get('request-id') ?? '', /\S/);
      assert.equal(invoice.object, 'invoice');
      assert.equal(invoice.title, 'Order 1');
      assert.equal(invoice.amount, '1500.00');
      assert.equal(invoice.status, 'not approve exchange');
      assert.equal(invoice.payment_timeout, 600);
      assert.equal(invoice.return_url, 'https://shop.example/done');
      assert.deepEqual(invoice.metadata, { order_id: '1' });
      assert.equal(invoice.sandbox, false);
      assert.equal(invoice.checkout_url, `/pay/${invoice.uid}`);
      assert.equal(invoice.created_at, new Date(clock.now()).toISOString());
      assert.match(invoice.receive_amount, /^\d+\.\d{2}$/);
      assert.equal(invoice.history?.length, 1);
      assert.equal(invoice.history?.[0]?.action, 'create');
      // What the API answered is what is stored.
      const stored = await l.ts.system.invoices.get(invoice.uid);
      assert.equal(stored.merchantId, l.merchantId);
      assert.equal(stored.sendMinor, 150000);
    });

    test('a sandbox merchant’s invoices are sandbox invoices', async () => {
      const sandbox = await l.ts.system.merchants.create('Sandbox shop', { sandbox: true });
      const invoice = await new MerchantClient({ baseUrl: l.url, token: sandbox.accessToken }).createInvoice({
        title: 'Test',
        amount: '10.00',
      });
      assert.equal(invoice.sandbox, true);
      assert.equal((await l.ts.system.invoices.get(invoice.uid)).sandbox, true);
    });

    test('get returns the invoice with its history; another merchant’s or an unknown one is 404', async () => {
      const created = await api.createInvoice({ title: 'Order 2', amount: '99.5' });
      const got = await api.getInvoice(created.uid);
      assert.deepEqual(got, created);
      assert.equal(got.amount, '99.50');
      for (const call of [
        () => otherApi.getInvoice(created.uid),
        () => api.getInvoice('0'.repeat(32)),
        () => api.getInvoice('not a uid'),
      ]) {
        const e = await refused(call());
        assert.equal(e.status, 404);
        assert.equal(e.code, 'INVOICE_NOT_FOUND');
      }
    });

    test('cancel answers 200 with the canceled invoice; a second cancel is refused; another merchant’s is 404', async () => {
      const created = await api.createInvoice({ title: 'Order 3', amount: '20.00' });
      assert.equal((await refused(otherApi.cancelInvoice(created.uid))).code, 'INVOICE_NOT_FOUND');
      const canceled = await api.cancelInvoice(created.uid);
      assert.equal(lastAnswer().status, 200);
      assert.equal(canceled.status, 'canceled');
      assert.equal(canceled.version, created.version + 1);
      assert.deepEqual(
        canceled.history?.map((h) => h.action),
        ['create', 'remove'],
      );
      assert.equal((await l.ts.system.invoices.get(created.uid)).status, 'canceled');
      const again = await refused(api.cancelInvoice(created.uid));
      assert.equal(again.status, 409);
    });

    test('list pages newest first by cursor, filters by status and creation time', async () => {
      const lister = await l.ts.system.merchants.create('Lister');
      const mine = new MerchantClient({ baseUrl: l.url, token: lister.accessToken });
      const t0 = clock.now();
      const made: MerchantInvoice[] = [];
      for (let i = 0; i < 5; i++) {
        made.push(await mine.createInvoice({ title: `L${i}`, amount: `${i + 1}.00` }));
        clock.advance(60_000);
      }
      await mine.cancelInvoice(made[1]?.uid ?? '');
      const newestFirst = made.map((m) => m.uid).reverse();

      const p1 = await mine.listInvoices({ limit: 2 });
      assert.equal(p1.object, 'list');
      assert.deepEqual(
        p1.data.map((i) => i.uid),
        newestFirst.slice(0, 2),
      );
      assert.equal(p1.has_more, true);
      assert.equal(p1.next_cursor, newestFirst[1]);
      assert.equal(p1.data[0]?.history, undefined);
      const p2 = await mine.listInvoices({ limit: 2, startingAfter: p1.next_cursor ?? '' });
      assert.deepEqual(
        p2.data.map((i) => i.uid),
        newestFirst.slice(2, 4),
      );
      const p3 = await mine.listInvoices({ limit: 2, startingAfter: p2.next_cursor ?? '' });
      assert.deepEqual(
        p3.data.map((i) => i.uid),
        newestFirst.slice(4),
      );
      assert.equal(p3.has_more, false);
      assert.equal(p3.next_cursor, null);

      const all: string[] = [];
      for await (const invoice of mine.listAllInvoices({ limit: 2 })) all.push(invoice.uid);
      assert.deepEqual(all, newestFirst);

      const canceled = await mine.listInvoices({ status: 'canceled' });
      assert.deepEqual(
        canceled.data.map((i) => i.uid),
        [made[1]?.uid],
      );

      // Invoices 1, 2, 3 were made at t0+60 s, +120 s, +180 s: unix seconds, ISO and Date bounds.
      const bySeconds = await mine.listInvoices({
        createdGte: Math.floor((t0 + 60_000) / 1000),
        createdLt: Math.floor((t0 + 240_000) / 1000),
      });
      assert.deepEqual(
        bySeconds.data.map((i) => i.uid),
        newestFirst.slice(1, 4),
      );
      const byIso = await mine.listInvoices({
        createdGte: new Date(t0 + 60_000).toISOString(),
        createdLt: new Date(t0 + 240_000).toISOString(),
      });
      assert.deepEqual(byIso.data, bySeconds.data);
      const byDate = await mine.listInvoices({ createdGte: new Date(t0 + 120_000) });
      assert.deepEqual(
        byDate.data.map((i) => i.uid),
        newestFirst.slice(0, 3),
      );
      // Other merchants' invoices never show.
      assert.ok((await api.listInvoices({ limit: 100 })).data.every((i) => !newestFirst.includes(i.uid)));
    });

    test('invalid list parameters are 400 naming the parameter', async () => {
      const cases: [Parameters<MerchantClient['listInvoices']>[0], string][] = [
        [{ createdGte: 'yesterday' }, 'created_gte'],
        [{ createdLt: '2026-13-45T99:00:00Z' }, 'created_lt'],
        [{ createdLt: '2026-01-01T00:00:00' }, 'created_lt'],
        [{ limit: 0 }, 'limit'],
        [{ limit: 101 }, 'limit'],
        [{ status: 'bogus' as never }, 'status'],
        [{ startingAfter: 'nonsense' }, 'starting_after'],
      ];
      for (const [filter, param] of cases) {
        const e = await refused(api.listInvoices(filter));
        assert.equal(e.status, 400, JSON.stringify(filter));
        assert.equal(e.code, 'VALIDATION_FAILED');
        assert.equal(e.param, param, JSON.stringify(filter));
        assert.match(e.requestId ?? '', /\S/);
      }
      // A cursor from another merchant's list is not a cursor here.
      const theirs = await otherApi.createInvoice({ title: 'Theirs', amount: '1.00' });
      assert.equal((await refused(api.listInvoices({ startingAfter: theirs.uid }))).param, 'starting_after');
    });

    test('invalid create bodies are 400 naming the field, and create nothing', async () => {
      const before = await countOf();
      const cases: [unknown, string, string][] = [
        [{ amount: '10.00' }, 'title', 'VALIDATION_FAILED'],
        [{ title: 'x' }, 'amount', 'VALIDATION_FAILED'],
        [{ title: 'x', amount: 'abc' }, 'amount', 'INVALID_AMOUNT'],
        [{ title: 'x', amount: '0.00' }, 'amount', 'INVALID_AMOUNT'],
        [{ title: 'x', amount: '1.001' }, 'amount', 'INVALID_AMOUNT'],
        [{ title: 'x', amount: 10 }, 'amount', 'VALIDATION_FAILED'],
        [{ title: '', amount: '10.00' }, 'title', 'VALIDATION_FAILED'],
        [{ title: 'x', amount: '10.00', payment_timeout: 5 }, 'payment_timeout', 'VALIDATION_FAILED'],
        [{ title: 'x', amount: '10.00', return_url: 'javascript:alert(1)' }, 'return_url', 'VALIDATION_FAILED'],
        [{ title: 'x', amount: '10.00', metadata: { a: 1 } }, 'metadata[a]', 'VALIDATION_FAILED'],
        [{ title: 'x', amount: '10.00', colour: 'red' }, 'colour', 'VALIDATION_FAILED'],
      ];
      for (const [body, param, code] of cases) {
        const e = await refused(api.request('POST', '/v1/invoices', body));
        assert.equal(e.status, 400, JSON.stringify(body));
        assert.equal(e.code, code, JSON.stringify(body));
        assert.equal(e.param, param, JSON.stringify(body));
      }
      assert.equal(await countOf(), before);
    });

    test('every endpoint is 401 without a valid merchant token, with the catalog body', async () => {
      const uid = (await api.createInvoice({ title: 'Auth', amount: '1.00' })).uid;
      for (const token of ['', 'not-a-token', `m_${'a'.repeat(40)}`]) {
        const anon = new MerchantClient({ baseUrl: l.url, token });
        for (const call of [
          () => anon.createInvoice({ title: 'x', amount: '1.00' }),
          () => anon.getInvoice(uid),
          () => anon.listInvoices(),
          () => anon.cancelInvoice(uid),
        ]) {
          const e = await refused(call());
          assert.equal(e.status, 401);
          assert.equal(e.code, 'UNAUTHORIZED');
        }
      }
      // A trader's token is not a merchant's.
      const trader = await l.account('trader', 'T');
      assert.equal((await refused(new MerchantClient({ baseUrl: l.url, token: trader.token }).listInvoices())).status, 401);
      assert.equal((await l.ts.system.invoices.get(uid)).status, 'not approve exchange');
    });

    test('the same invoices as the legacy API, both ways', async () => {
      const legacy = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: l.merchantToken });
      // Legacy create → v1 read.
      const uid = await legacy.create('Legacy order', '250.5');
      const v1 = await api.getInvoice(uid);
      assert.equal(v1.title, 'Legacy order');
      assert.equal(v1.amount, '250.50');
      const legacyView = await legacy.get(uid);
      assert.equal(legacyView.recive_value, v1.receive_amount);
      assert.equal(legacyView.id, v1.id);
      assert.equal(legacyView.status, v1.status);
      // v1 create → legacy read and remove (the original's reference client) → v1 sees it canceled.
      const created = await api.createInvoice({ title: 'V1 order', amount: '75.25' });
      const fromLegacy = await legacy.get(created.uid);
      assert.equal(fromLegacy.name_ex, 'V1 order');
      assert.equal(fromLegacy.send_value, '75.25');
      assert.equal(fromLegacy.id, created.id);
      const reference = new ReferenceClient(l.url, l.merchantToken);
      const removed = await reference.call({ type: 'remove', uid_link: created.uid });
      assert.equal(removed.json.status, true);
      assert.equal((await api.getInvoice(created.uid)).status, 'canceled');
      // And a legacy invoice canceled through v1 reads canceled on the legacy side.
      await api.cancelInvoice(uid);
      assert.equal((await legacy.get(uid)).status, 'canceled');
      // The other merchant's legacy client cannot read a v1 invoice either.
      const otherLegacy = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: other.accessToken });
      await assert.rejects(otherLegacy.get(created.uid), (e: unknown) => e instanceof NlTradeError && e.code === 'INVOICE_NOT_FOUND');
    });

    test('idempotency: the first answer is replayed with Idempotent-Replayed, one invoice made', async () => {
      const before = await countOf();
      const input = { title: 'Idem', amount: '10.00', metadata: { a: '1', b: '2' } };
      const first = await api.createInvoice(input, { idempotencyKey: 'order-idem-1' });
      assert.equal(lastAnswer().status, 201);
      assert.equal(lastAnswer().headers.get('idempotent-replayed'), null);
      clock.advance(1000);
      // Key order in the body does not make it another request.
      const second = await api.createInvoice(
        { amount: '10.00', title: 'Idem', metadata: { b: '2', a: '1' } },
        { idempotencyKey: 'order-idem-1' },
      );
      assert.equal(lastAnswer().status, 201);
      assert.equal(lastAnswer().headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(second, first);
      assert.equal(await countOf(), before + 1);
      // Keys are per merchant: another merchant's same key is its own.
      const theirs = await otherApi.createInvoice(input, { idempotencyKey: 'order-idem-1' });
      assert.notEqual(theirs.uid, first.uid);
      // Cancel replays its 200 instead of refusing the second cancel.
      const c1 = await api.cancelInvoice(first.uid, { idempotencyKey: 'cancel-idem-1' });
      const c2 = await api.cancelInvoice(first.uid, { idempotencyKey: 'cancel-idem-1' });
      assert.equal(lastAnswer().status, 200);
      assert.equal(lastAnswer().headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(c2, c1);
    });

    test('idempotency: the same key with other parameters is 422, on another path too', async () => {
      await api.createInvoice({ title: 'Mismatch', amount: '10.00' }, { idempotencyKey: 'mismatch-1' });
      const before = await countOf();
      const e = await refused(api.createInvoice({ title: 'Mismatch', amount: '11.00' }, { idempotencyKey: 'mismatch-1' }));
      assert.equal(e.status, 422);
      assert.equal(e.code, 'IDEMPOTENCY_KEY_REUSED');
      assert.equal(e.param, 'Idempotency-Key');
      const uid = (await api.listInvoices({ limit: 1 })).data[0]?.uid ?? '';
      assert.equal((await refused(api.cancelInvoice(uid, { idempotencyKey: 'mismatch-1' }))).code, 'IDEMPOTENCY_KEY_REUSED');
      assert.equal(await countOf(), before);
      assert.notEqual((await l.ts.system.invoices.get(uid)).status, 'canceled');
    });

    test('idempotency: malformed keys are 400 naming the header', async () => {
      for (const key of ['', 'x'.repeat(256), 'caf\u00e9']) {
        const res = await fetch(`${l.url}/v1/invoices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${l.merchantToken}`, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ title: 'k', amount: '1.00' }),
        });
        assert.equal(res.status, 400, JSON.stringify(key));
        const body = (await res.json()) as { code: string; param: string };
        assert.equal(body.code, 'VALIDATION_FAILED');
        assert.equal(body.param, 'Idempotency-Key');
      }
      const ok = await api.createInvoice({ title: 'k', amount: '1.00' }, { idempotencyKey: 'x'.repeat(255) });
      assert.equal(ok.title, 'k');
    });

    test('idempotency: 4xx answers are kept, schema refusals and 5xx answers release the key', async () => {
      // A refusal from the service is an answer: replayed.
      const bad = await refused(api.createInvoice({ title: 'x', amount: '0.00' }, { idempotencyKey: 'kept-400' }));
      assert.equal(bad.code, 'INVALID_AMOUNT');
      const badAgain = await refused(api.createInvoice({ title: 'x', amount: '0.00' }, { idempotencyKey: 'kept-400' }));
      assert.equal(badAgain.code, 'INVALID_AMOUNT');
      assert.equal(lastAnswer().headers.get('idempotent-replayed'), 'true');

      // A request refused by the schema never ran: the key is still free for another body.
      const schema = await refused(api.request('POST', '/v1/invoices', { title: 'x' }, 'schema-refused'));
      assert.equal(schema.param, 'amount');
      const after = await api.createInvoice({ title: 'x', amount: '3.00' }, { idempotencyKey: 'schema-refused' });
      assert.equal(after.amount, '3.00');

      // A failure inside the change (500) releases the key: the retry runs and creates once.
      const before = await countOf();
      failTitle = 'Retry me';
      const e500 = await refused(api.createInvoice({ title: 'Retry me', amount: '5.00' }, { idempotencyKey: 'released-500' }));
      assert.equal(e500.status, 500);
      assert.equal(await countOf(), before);
      const retried = await api.createInvoice({ title: 'Retry me', amount: '5.00' }, { idempotencyKey: 'released-500' });
      assert.equal(lastAnswer().headers.get('idempotent-replayed'), null);
      assert.equal(retried.title, 'Retry me');
      assert.equal(await countOf(), before + 1);
    });

    test('idempotency: the answer is recorded in the invoice’s own transaction, byte for byte', async () => {
      const res = await fetch(`${l.url}/v1/invoices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${l.merchantToken}`, 'content-type': 'application/json', 'idempotency-key': 'atomic-1' },
        body: JSON.stringify({ title: 'Atomic', amount: '12.00' }),
      });
      assert.equal(res.status, 201);
      const text = await res.text();
      const row = await l.ts.system.storage.db
        .selectFrom('idempotency_keys')
        .select(['state', 'response_status', 'response_body'])
        .where('merchant_id', '=', Number(l.merchantId))
        .where('key', '=', 'atomic-1')
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { state: 'done', response_status: 201, response_body: text });
    });

    test('idempotency: a create whose claim was taken over meanwhile commits nothing (no second invoice)', async () => {
      const before = await countOf();
      takeOver = { title: 'Taken over', key: 'taken-over-1' };
      await assert.rejects(
        api.createInvoice({ title: 'Taken over', amount: '13.00' }, { idempotencyKey: 'taken-over-1' }),
        (err: MerchantApiError) => err.status === 409 && err.code === 'IDEMPOTENCY_KEY_IN_USE',
      );
      assert.equal(takeOver, undefined, 'the create ran up to its change');
      assert.equal(await countOf(), before);
    });

    test('idempotency: an expired key runs again', async () => {
      const first = await api.createInvoice({ title: 'Expiring', amount: '7.00' }, { idempotencyKey: 'expiring-1' });
      clock.advance(l.ts.system.config.idempotencyTtlSeconds * 1000 - 1000);
      assert.equal((await api.createInvoice({ title: 'Expiring', amount: '7.00' }, { idempotencyKey: 'expiring-1' })).uid, first.uid);
      clock.advance(2000);
      const fresh = await api.createInvoice({ title: 'Expiring', amount: '7.00' }, { idempotencyKey: 'expiring-1' });
      assert.notEqual(fresh.uid, first.uid);
      assert.equal(lastAnswer().headers.get('idempotent-replayed'), null);
      // And its answer is the one replayed from now on.
      assert.equal((await api.createInvoice({ title: 'Expiring', amount: '7.00' }, { idempotencyKey: 'expiring-1' })).uid, fresh.uid);
    });

    test('idempotency: N identical requests at once make exactly one invoice; the rest replay it or get 409', async () => {
      const n = 16;
      const racer = await l.ts.system.merchants.create('Racer');
      const results = await Promise.all(
        Array.from({ length: n }, () => {
          const client = new MerchantClient({ baseUrl: l.url, token: racer.accessToken });
          return settle(client.createInvoice({ title: 'Race', amount: '42.00' }, { idempotencyKey: 'race-1' }));
        }),
      );
      assert.equal(await countOf(racer.merchantId), 1);
      const [only] = await l.ts.system.invoices.list({ merchantId: racer.merchantId });
      let created = 0;
      for (const r of results) {
        if (r.ok) {
          assert.equal(r.value.uid, only?.uid);
          created++;
        } else {
          assert.equal(r.error.status, 409);
          assert.equal(r.error.code, 'IDEMPOTENCY_KEY_IN_USE');
        }
      }
      assert.ok(created >= 1);
      // Once the first has answered, everyone gets the replay.
      const late = await new MerchantClient({ baseUrl: l.url, token: racer.accessToken }).createInvoice(
        { title: 'Race', amount: '42.00' },
        { idempotencyKey: 'race-1' },
      );
      assert.equal(late.uid, only?.uid);
    });
  });
}
