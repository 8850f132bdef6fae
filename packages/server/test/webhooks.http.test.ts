import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WebhookEndpointView } from '@nltrade/core';
import { NlTradeClient, RemoteInvoiceClient, verifyWebhook, WebhookVerificationError } from '@nltrade/sdk';
import { ManualClock } from '../src/clock.ts';
import type { ConfigOverrides } from '../src/config.ts';
import { startServer } from '../src/start.ts';
import { call, type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';
import { Receiver } from './support/webhook-receiver.ts';

const CARD = '4111111111111111';
const IP = '198.51.100.40';
/** Receivers live on loopback: allowed only with WEBHOOK_ALLOW_PRIVATE=1 (tests and development). */
const DEV: ConfigOverrides = { webhookAllowPrivate: true, webhookRetryBaseMs: 20, requireTraderDeposit: false };

type Json = Record<string, unknown>;

async function api(url: string, method: 'GET' | 'POST' | 'DELETE', path: string, token: string | undefined, json?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
}

async function addEndpoint(l: Live, url: string, events?: string[]): Promise<WebhookEndpointView> {
  const res = await api(l.url, 'POST', '/v1/webhook-endpoints', l.merchantToken, { url, ...(events && { events }) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as unknown as WebhookEndpointView;
}

/** Every delivery row of the test database, to check what was (not) queued. */
async function deliveryRows(l: Live) {
  return l.ts.system.storage.db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('invoice_history as h', 'h.id', 'd.event_id')
    .innerJoin('invoices as i', 'i.id', 'h.invoice_id')
    .select(['d.id', 'd.status', 'd.endpoint_id', 'd.attempts', 'i.uid', 'i.title'])
    .execute();
}

for (const kind of await dbKinds()) {
  describeOn(kind, `webhook endpoints and deliveries (${kind})`, () => {
    let l: Live;
    let receiver: Receiver;
    before(async () => {
      l = await live(kind, undefined, DEV);
      receiver = await Receiver.start();
    });
    after(async () => {
      await l.close();
      await receiver.close();
    });

    test('endpoints: created with a secret shown once, listed, logged, deleted; other merchants see nothing', async () => {
      const created = await addEndpoint(l, receiver.url, ['invoice.created', 'invoice.status_changed']);
      assert.match(created.id, /^we_/);
      assert.match(created.secret ?? '', /^whsec_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(created.events, ['invoice.created', 'invoice.status_changed']);
      assert.equal(created.status, 'enabled');

      const list = await api(l.url, 'GET', '/v1/webhook-endpoints', l.merchantToken);
      assert.equal(list.status, 200);
      const listed = (list.body.data as Json[]).find((e) => e.id === created.id);
      assert.ok(listed);
      assert.equal(listed.secret, undefined, 'the secret is shown only when made');
      assert.equal(JSON.stringify(list.body).includes(created.secret ?? '-'), false);

      const uid = await l.invoice();
      await receiver.until((r) => r.delivered().some((e) => e.data.invoice.uid === uid));
      // The receiver answered before the deliverer recorded its answer: wait for the record.
      const newest = async () => {
        const log = await api(l.url, 'GET', `/v1/webhook-endpoints/${created.id}/deliveries`, l.merchantToken);
        assert.equal(log.status, 200);
        return (log.body.data as Json[])[0];
      };
      await waitFor(async () => (await newest())?.status === 'delivered');
      const line = await newest();
      assert.equal(line?.status, 'delivered');
      assert.equal(line?.event_type, 'invoice.created');
      assert.equal(line?.attempts, 1);
      assert.equal(line?.last_status_code, 200);

      const other = await l.ts.system.merchants.create('Other shop');
      for (const [method, path] of [
        ['GET', `/v1/webhook-endpoints/${created.id}/deliveries`],
        ['DELETE', `/v1/webhook-endpoints/${created.id}`],
        ['POST', `/v1/webhook-endpoints/${created.id}/rotate-secret`],
      ] as const) {
        const res = await api(l.url, method, path, other.accessToken);
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(res.body.code, 'NOT_FOUND');
      }
      assert.deepEqual((await api(l.url, 'GET', '/v1/webhook-endpoints', other.accessToken)).body.data, []);
      assert.equal((await api(l.url, 'GET', '/v1/webhook-endpoints', undefined)).status, 401);
      assert.equal((await api(l.url, 'GET', '/v1/webhook-endpoints', 'not-a-token')).status, 401);

      const del = await api(l.url, 'DELETE', `/v1/webhook-endpoints/${created.id}`, l.merchantToken);
      assert.equal(del.status, 200);
      assert.equal(del.body.deleted, true);
      assert.equal((await api(l.url, 'DELETE', `/v1/webhook-endpoints/${created.id}`, l.merchantToken)).status, 404);
      const after = await api(l.url, 'GET', '/v1/webhook-endpoints', l.merchantToken);
      assert.equal(
        (after.body.data as Json[]).some((e) => e.id === created.id),
        false,
      );
      // Nothing more is queued for a deleted endpoint.
      const before = (await deliveryRows(l)).filter((d) => d.endpoint_id === created.id).length;
      await l.invoice();
      assert.equal((await deliveryRows(l)).filter((d) => d.endpoint_id === created.id).length, before);
    });

    test('Idempotency-Key on endpoint creation: the retry replays the first answer and makes nothing', async () => {
      const other = await l.ts.system.merchants.create('Idempotent shop');
      const post = () =>
        fetch(`${l.url}/v1/webhook-endpoints`, {
          method: 'POST',
          headers: { authorization: `Bearer ${other.accessToken}`, 'content-type': 'application/json', 'idempotency-key': 'hook-1' },
          body: JSON.stringify({ url: receiver.url }),
        });
      const first = await post();
      const again = await post();
      assert.equal(first.status, 201);
      assert.equal(again.status, 201);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(await again.json(), await first.json());
      assert.equal(((await api(l.url, 'GET', '/v1/webhook-endpoints', other.accessToken)).body.data as Json[]).length, 1);
    });

    test('bad endpoint input gets a catalog error naming the field', async () => {
      for (const [body, param] of [
        [{}, 'url'],
        [{ url: 'not a url' }, 'url'],
        [{ url: 'ftp://example.com/hook' }, 'url'],
        [{ url: 'https://user:pw@example.com/hook' }, 'url'],
        [{ url: receiver.url, events: ['invoice.paid'] }, 'events'],
        [{ url: receiver.url, events: [] }, 'events'],
      ] as const) {
        const res = await api(l.url, 'POST', '/v1/webhook-endpoints', l.merchantToken, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.code, 'VALIDATION_FAILED', JSON.stringify(res.body));
        if (param) assert.match(String(res.body.param ?? res.body.message), new RegExp(param), JSON.stringify(res.body));
      }
      const none = await api(l.url, 'POST', '/v1/events/evt_999999999/redeliver', l.merchantToken);
      assert.equal(none.status, 404);
    });

    test('a receiver that fails its first 3 deliveries still gets every event, in order, with valid signatures', async (t) => {
      const flaky = await Receiver.start((n) => (n < 3 ? 500 : 200));
      // Closed even when an assertion fails: an open receiver would keep the test process alive.
      t.after(() => flaky.close());
      const other = await l.ts.system.merchants.create('Flaky shop');
      const endpoint = (await api(l.url, 'POST', '/v1/webhook-endpoints', other.accessToken, { url: flaky.url }))
        .body as unknown as WebhookEndpointView;
      const trader = await l.account('trader', 'Flaky trader');
      const uids: string[] = [];
      for (let i = 0; i < 3; i++)
        uids.push((await l.ts.system.invoices.create(other.merchantId, { title: `Order ${i}`, price: '100' })).uid);
      const first = uids[0] as string;
      await new NlTradeClient({ baseUrl: l.url, token: trader.token }).accept(await l.idOf(first));
      const history = await l.ts.system.storage.db
        .selectFrom('invoice_history as h')
        .innerJoin('invoices as i', 'i.id', 'h.invoice_id')
        .select(['h.id'])
        .where('i.merchant_id', '=', Number(other.merchantId))
        .orderBy('h.id')
        .execute();
      const expected = history.map((h) => `evt_${h.id}`);
      assert.equal(expected.length, 4);
      await flaky.until((r) => r.delivered().length >= expected.length);
      assert.deepEqual(
        flaky.delivered().map((e) => e.id),
        expected,
      );
      // The first event was tried 4 times; nothing after it went out before it succeeded.
      assert.deepEqual(
        flaky.requests.slice(0, 4).map((r) => JSON.parse(r.body).id),
        [expected[0], expected[0], expected[0], expected[0]],
      );
      for (const r of flaky.requests) {
        const event = verifyWebhook(r.body, r.headers['nltrade-signature'], endpoint.secret as string);
        assert.equal(r.headers['nltrade-event-id'], event.id);
      }
      const accepted = flaky.delivered().find((e) => e.type === 'invoice.status_changed');
      assert.equal(accepted?.sequence, 2);
      assert.equal(accepted?.data.invoice.status, 'wait card');
      // The receiver answered before the deliverer recorded the answer: wait for the record.
      const oldestLine = async () =>
        ((await api(l.url, 'GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, other.accessToken)).body.data as Json[]).at(-1);
      await waitFor(async () => (await oldestLine())?.status === 'delivered');
      const oldest = await oldestLine();
      assert.equal(oldest?.attempts, 4);
      assert.equal(oldest?.status, 'delivered');
      // A wrong secret, a changed body or an old timestamp is refused by the SDK.
      const sample = flaky.requests.at(-1);
      assert.ok(sample);
      assert.throws(() => verifyWebhook(sample.body, sample.headers['nltrade-signature'], 'whsec_wrong'), WebhookVerificationError);
      assert.throws(
        () => verifyWebhook(`${sample.body} `, sample.headers['nltrade-signature'], endpoint.secret as string),
        (e: unknown) => e instanceof WebhookVerificationError && e.code === 'WEBHOOK_SIGNATURE_MISMATCH',
      );
      assert.throws(
        () => verifyWebhook(sample.body, sample.headers['nltrade-signature'], endpoint.secret as string, { now: Date.now() + 3600_000 }),
        (e: unknown) => e instanceof WebhookVerificationError && e.code === 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE',
      );
      assert.throws(
        () => verifyWebhook(sample.body, undefined, endpoint.secret as string),
        (e: unknown) => e instanceof WebhookVerificationError && e.code === 'WEBHOOK_SIGNATURE_MISSING',
      );
    });

    test('nothing is queued or delivered for a change that rolled back', async (t) => {
      const rec = await Receiver.start();
      t.after(() => rec.close());
      const other = await l.ts.system.merchants.create('Rollback shop');
      await api(l.url, 'POST', '/v1/webhook-endpoints', other.accessToken, { url: rec.url });
      // A hook after the webhook one fails the transaction of invoices with this title.
      l.ts.system.invoices.onChange(async (_trx, change) => {
        if (change.invoice.title === 'Doomed order') throw new Error('fails on purpose');
      });
      await assert.rejects(l.ts.system.invoices.create(other.merchantId, { title: 'Doomed order', price: '100' }), /fails on purpose/);
      const ok = await l.ts.system.invoices.create(other.merchantId, { title: 'Fine order', price: '100' });
      // Per-endpoint order: once the later event is in, an earlier one would have been too.
      await rec.until((r) => r.delivered().some((e) => e.data.invoice.uid === ok.uid));
      assert.equal(rec.requests.length, 1);
      assert.equal(
        (await deliveryRows(l)).some((d) => d.title === 'Doomed order'),
        false,
      );
    });

    test('the queue is a Prometheus gauge', async () => {
      const text = await (await fetch(`${l.url}/metrics`)).text();
      assert.match(text, /^nltrade_webhook_deliveries_pending\{state="pending"\} \d+$/m);
      assert.match(text, /^nltrade_webhook_deliveries_pending\{state="due"\} \d+$/m);
    });

    test('redelivery sends the same event again, with the same id', async (t) => {
      const rec = await Receiver.start();
      t.after(() => rec.close());
      const other = await l.ts.system.merchants.create('Redelivery shop');
      await api(l.url, 'POST', '/v1/webhook-endpoints', other.accessToken, { url: rec.url });
      await l.ts.system.invoices.create(other.merchantId, { title: 'Order', price: '100' });
      await rec.until((r) => r.delivered().length === 1);
      const id = rec.delivered()[0]?.id as string;
      const res = await api(l.url, 'POST', `/v1/events/${id}/redeliver`, other.accessToken);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.event, id);
      await rec.until((r) => r.delivered().length === 2);
      assert.deepEqual(
        rec.delivered().map((e) => e.id),
        [id, id],
      );
      // Another merchant cannot name it.
      assert.equal((await api(l.url, 'POST', `/v1/events/${id}/redeliver`, l.merchantToken)).status, 404);
    });
  });

  describeOn(kind, `webhook events from every kind of change, and secret rotation (${kind})`, () => {
    let l: Live;
    let receiver: Receiver;
    let secret: string;
    let endpointId: string;
    const clock = new ManualClock(Date.now());
    before(async () => {
      l = await live(kind, clock, DEV);
      receiver = await Receiver.start();
      receiver.clock = () => clock.now();
      const endpoint = await addEndpoint(l, receiver.url);
      secret = endpoint.secret as string;
      endpointId = endpoint.id;
    });
    after(async () => {
      await l.close();
      await receiver.close();
    });

    test('legacy create and remove, trader, payer, timer and administrator moves all produce events', async () => {
      const legacy = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: l.merchantToken });
      const trader = await l.account('trader', 'Events trader');
      const admin = await l.account('admin', 'Events admin');
      const t = new NlTradeClient({ baseUrl: l.url, token: trader.token });

      const removed = await legacy.create('Removed order', '250');
      await legacy.remove(removed);

      const uid = await legacy.create('Full order', '1500.50');
      const id = await l.idOf(uid);
      await l.ts.system.invoices.bindIp(uid, IP);
      await t.accept(id);
      await t.setCard(id, CARD);
      assert.equal((await call(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: IP })).status, 200);
      await t.changeAmount(id, '1400.00');
      // Delivered before the clock jumps, so each signature is checked at the time it arrived.
      await receiver.until((r) => r.delivered().filter((e) => e.data.invoice.uid === uid).length === 5);
      clock.advance(l.ts.system.config.traderCheckTimeoutSeconds * 1000 + 1000);
      assert.equal((await l.server.sweeper.runOnce()).expired, 1);
      await new NlTradeClient({ baseUrl: l.url, token: admin.token }).decide(id, 'success', 'Paid, checked the statement');

      await receiver.until((r) => r.delivered().filter((e) => e.data.invoice.uid === uid).length === 7);
      const got = receiver.delivered().map((e) => e as unknown as { type: string; sequence: number; data: Json & { invoice: Json } });
      const summary = (u: string) =>
        got
          .filter((e) => e.data.invoice.uid === u)
          .map((e) => [e.type, e.sequence, e.data.action, e.data.actor_type, e.data.from, e.data.to, e.data.invoice.status]);
      assert.deepEqual(summary(removed), [
        ['invoice.created', 1, 'create', 'merchant', null, 'not approve exchange', 'not approve exchange'],
        ['invoice.status_changed', 2, 'remove', 'merchant', 'not approve exchange', 'canceled', 'canceled'],
      ]);
      assert.deepEqual(summary(uid), [
        ['invoice.created', 1, 'create', 'merchant', null, 'not approve exchange', 'not approve exchange'],
        ['invoice.status_changed', 2, 'accept', 'trader', 'not approve exchange', 'wait card', 'wait card'],
        ['invoice.status_changed', 3, 'setCard', 'trader', 'wait card', 'send card', 'send card'],
        ['invoice.status_changed', 4, 'paid', 'payer', 'send card', 'pay', 'pay'],
        ['invoice.amount_changed', 5, 'changeAmount', 'trader', 'pay', 'pay', 'pay'],
        ['invoice.status_changed', 6, 'expire', 'system', 'pay', 'notApprove', 'notApprove'],
        ['invoice.status_changed', 7, 'decide', 'admin', 'notApprove', 'success', 'success'],
      ]);
      const amount = got.find((e) => e.type === 'invoice.amount_changed' && e.data.invoice.uid === uid);
      assert.equal(amount?.data.previous_amount, '1500.50');
      assert.equal(amount?.data.invoice.amount, '1400.00');
      // Every delivery verifies (at the server's clock, which the test moved).
      for (const r of receiver.requests) verifyWebhook(r.body, r.headers['nltrade-signature'], secret, { now: r.receivedAt });
    });

    test('the invoice snapshot carries the metadata, and an event keeps the invoice as it was then', async () => {
      const invoice = await l.ts.system.invoices.create(l.merchantId, { title: 'Meta', price: '100', metadata: { order_id: 'A-17' } });
      await l.ts.system.invoices.act(
        invoice.id,
        'cancel',
        { type: 'admin', id: (await l.account('admin', 'Meta admin')).id },
        {},
        { numbers: true },
      );
      await receiver.until((r) => r.delivered().filter((e) => e.data.invoice.uid === invoice.uid).length === 2);
      const [created, canceled] = receiver.delivered().filter((e) => e.data.invoice.uid === invoice.uid) as unknown as {
        data: { invoice: Json };
      }[];
      assert.deepEqual(created?.data.invoice.metadata, { order_id: 'A-17' });
      assert.equal(created?.data.invoice.status, 'not approve exchange');
      assert.equal(canceled?.data.invoice.status, 'canceled');
    });

    test('rotation: for 24 hours every delivery carries two v1 signatures, and each secret verifies it alone', async () => {
      const rotated = await api(l.url, 'POST', `/v1/webhook-endpoints/${endpointId}/rotate-secret`, l.merchantToken);
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      const fresh = rotated.body.secret as string;
      assert.match(fresh, /^whsec_/);
      assert.notEqual(fresh, secret);
      assert.ok(rotated.body.previous_secret_expires_at);
      const seen = receiver.requests.length;
      const during = await l.invoice();
      await receiver.until((r) => r.delivered().some((e) => e.data.invoice.uid === during));
      const header = String(receiver.requests.at(-1)?.headers['nltrade-signature']);
      assert.equal(header.match(/v1=/g)?.length, 2, header);
      const body = receiver.requests.at(-1)?.body as string;
      assert.equal(verifyWebhook(body, header, secret, { now: clock.now() }).data.invoice.uid, during);
      assert.equal(verifyWebhook(body, header, fresh, { now: clock.now() }).data.invoice.uid, during);
      assert.equal(receiver.requests.length, seen + 1);

      clock.advance(24 * 3600_000 + 1000);
      const later = await l.invoice();
      await receiver.until((r) => r.delivered().some((e) => e.data.invoice.uid === later));
      const last = receiver.requests.at(-1);
      assert.ok(last);
      assert.equal(String(last.headers['nltrade-signature']).match(/v1=/g)?.length, 1);
      verifyWebhook(last.body, last.headers['nltrade-signature'], fresh, { now: clock.now() });
      assert.throws(
        () => verifyWebhook(last.body, last.headers['nltrade-signature'], secret, { now: clock.now() }),
        WebhookVerificationError,
      );
    });
  });

  describeOn(kind, `an endpoint failing for the whole retry period (${kind})`, () => {
    test('its deliveries fail and the endpoint is disabled; nothing more is queued for it until it is enabled again', async () => {
      // WEBHOOK_RETRY_FOR=1: the "3 days" in one second.
      const l = await live(kind, undefined, { ...DEV, webhookRetryForSeconds: 1 });
      let answer = 503;
      const down = await Receiver.start(() => answer);
      try {
        const endpoint = await addEndpoint(l, down.url);
        await l.invoice();
        await waitFor(async () => {
          const list = await api(l.url, 'GET', '/v1/webhook-endpoints', l.merchantToken);
          return (list.body.data as Json[])[0]?.status === 'disabled';
        }, 20_000);
        const log = await api(l.url, 'GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, l.merchantToken);
        const line = (log.body.data as Json[])[0];
        assert.equal(line?.status, 'failed');
        assert.equal(line?.last_status_code, 503);
        assert.ok(Number(line?.attempts) >= 2, 'retried before giving up');
        const listed = (await api(l.url, 'GET', '/v1/webhook-endpoints', l.merchantToken)).body.data as Json[];
        assert.ok(listed[0]?.failing_since);
        const rows = (await deliveryRows(l)).length;
        await l.invoice();
        assert.equal((await deliveryRows(l)).length, rows);

        // The receiver is fixed; the merchant turns the endpoint back on.
        answer = 200;
        const stranger = await l.ts.system.merchants.create('Another shop');
        const refused = await api(l.url, 'POST', `/v1/webhook-endpoints/${endpoint.id}/enable`, stranger.accessToken);
        assert.equal(refused.status, 404, 'another merchant cannot enable it');
        const enabled = await api(l.url, 'POST', `/v1/webhook-endpoints/${endpoint.id}/enable`, l.merchantToken);
        assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
        assert.equal(enabled.body.status, 'enabled');
        assert.equal(enabled.body.failing_since, null);
        const after = await l.invoice();
        await down.until((r) => r.delivered().some((e) => e.data.invoice.uid === after));
      } finally {
        await l.close();
        await down.close();
      }
    });
  });

  describeOn(kind, `webhook SSRF refusals with WEBHOOK_ALLOW_PRIVATE=0 (${kind})`, () => {
    let l: Live;
    let receiver: Receiver;
    before(async () => {
      l = await live(kind, undefined, { ...DEV, webhookAllowPrivate: false });
      receiver = await Receiver.start();
    });
    after(async () => {
      l.ts.system.webhooks.useResolver(undefined);
      await l.close();
      await receiver.close();
    });

    test('registration refuses http, private and loopback literals, localhost, and names resolving to private addresses', async () => {
      l.ts.system.webhooks.useResolver(async (host) => {
        if (host === 'internal.example.com') return [{ address: '10.1.2.3', family: 4 }];
        if (host === 'mixed.example.com')
          return [
            { address: '8.8.8.8', family: 4 },
            { address: '192.168.1.5', family: 4 },
          ];
        return [{ address: '8.8.8.8', family: 4 }];
      });
      for (const url of [
        receiver.url,
        'http://example.com/hooks',
        `https://127.0.0.1:${receiver.port}/hooks`,
        'https://10.0.0.1/hooks',
        'https://169.254.169.254/latest/meta-data',
        'https://[::1]/hooks',
        'https://[::ffff:127.0.0.1]/hooks',
        'https://[fd00::1]/hooks',
        'https://localhost/hooks',
        'https://internal.example.com/hooks',
        'https://mixed.example.com/hooks',
      ]) {
        const res = await api(l.url, 'POST', '/v1/webhook-endpoints', l.merchantToken, { url });
        assert.equal(res.status, 400, `${url}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, 'VALIDATION_FAILED');
        assert.equal(res.body.param, 'url');
      }
      assert.equal(
        (await api(l.url, 'POST', '/v1/webhook-endpoints', l.merchantToken, { url: 'https://public.example.com/hooks' })).status,
        201,
      );
    });

    test('delivery checks again: a name that now resolves to loopback, or a stored private URL, is never connected to', async () => {
      const other = await l.ts.system.merchants.create('Rebinding shop');
      let answer = '8.8.8.8';
      l.ts.system.webhooks.useResolver(async () => [{ address: answer, family: 4 }]);
      const rebinding = await api(l.url, 'POST', '/v1/webhook-endpoints', other.accessToken, {
        url: `https://rebind.example.com:${receiver.port}/hooks`,
      });
      assert.equal(rebinding.status, 201);
      // As if registered while WEBHOOK_ALLOW_PRIVATE=1, then the server restarted without it.
      const stored = await api(l.url, 'POST', '/v1/webhook-endpoints', other.accessToken, { url: 'https://stored.example.com/hooks' });
      await l.ts.system.storage.db
        .updateTable('webhook_endpoints')
        .set({ url: `http://127.0.0.1:${receiver.port}/hooks` })
        .where('id', '=', String(stored.body.id))
        .execute();
      answer = '127.0.0.1';
      await l.ts.system.invoices.create(other.merchantId, { title: 'Order', price: '100' });
      const logOf = async (id: unknown) =>
        ((await api(l.url, 'GET', `/v1/webhook-endpoints/${id}/deliveries`, other.accessToken)).body.data as Json[])[0];
      await waitFor(
        async () => Number((await logOf(rebinding.body.id))?.attempts) >= 1 && Number((await logOf(stored.body.id))?.attempts) >= 1,
      );
      const refusedName = await logOf(rebinding.body.id);
      assert.equal(refusedName?.status, 'pending', 'refused attempts are retried (the name may be fixed)');
      assert.match(String(refusedName?.last_error), /private or reserved address \(127\.0\.0\.1\)/);
      const refusedStored = await logOf(stored.body.id);
      assert.match(String(refusedStored?.last_error), /must be https/);
      assert.equal(receiver.connections, 0, 'nothing reached the loopback receiver');
    });

    test('the connected socket itself is checked: a connection to loopback is refused', async () => {
      const { assertPublicPeer, WebhookRefused } = await import('../src/workers/webhook-http.ts');
      const net = await import('node:net');
      const socket = net.connect(receiver.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      assert.throws(() => assertPublicPeer(socket), WebhookRefused);
      socket.destroy();
    });
  });

  describeOn(kind, `the deliverer wakes for what was queued (${kind})`, () => {
    test('a change that queued deliveries is sent at once, with the queue poll an hour away', async () => {
      // Only the wake after the commit can deliver within the test: the poll never comes.
      const l = await live(kind, undefined, DEV, { sweeper: { start: false }, webhooks: { pollMs: 3_600_000 } });
      const rec = await Receiver.start();
      try {
        // Changes of a merchant without endpoints queue nothing (and no longer wake it).
        await l.invoice();
        await addEndpoint(l, rec.url);
        const uids = [await l.invoice(), await l.invoice()];
        await rec.until((r) => uids.every((uid) => r.delivered().some((e) => e.data.invoice.uid === uid)));
      } finally {
        await l.close();
        await rec.close();
      }
    });
  });

  if (kind === 'postgres') {
    describeOn(kind, 'two deliverers on one PostgreSQL database (postgres)', () => {
      test('each event is delivered once, in order per endpoint', async () => {
        const l = await live(kind, undefined, DEV);
        const second = await startServer({ ...l.ts.system.config, port: 0 }, { sweeper: { start: false } });
        const rec = await Receiver.start();
        try {
          await addEndpoint(l, rec.url);
          const uids: string[] = [];
          // Half the changes committed by each process: both wake up, both claim.
          for (let i = 0; i < 40; i++) {
            const system = i % 2 === 0 ? l.ts.system : second.system;
            uids.push((await system.invoices.create(l.merchantId, { title: `Order ${i}`, price: '100' })).uid);
          }
          await rec.until((r) => r.requests.length >= 40);
          // Both settle: nothing pending anywhere, then compare.
          await waitFor(async () => (await deliveryRows(l)).every((d) => d.status === 'delivered'));
          const ids = rec.requests.map((r) => JSON.parse(r.body).id as string);
          assert.equal(ids.length, 40);
          assert.equal(new Set(ids).size, 40, 'no event twice');
          const sorted = [...ids].sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
          assert.deepEqual(ids, sorted);
          assert.deepEqual(
            rec.requests.map((r) => JSON.parse(r.body).data.invoice.uid),
            uids,
          );
        } finally {
          await second.close();
          await l.close();
          await rec.close();
        }
      });
    });
  }
}

async function waitFor(predicate: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
