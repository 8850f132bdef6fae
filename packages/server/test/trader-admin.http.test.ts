import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/clock.ts';
import type { StaffInvoiceView } from '../src/views.ts';
import { call, type Live, live } from './support/live.ts';
import { dbKinds } from './support/system.ts';

const CARD = '4111111111111111';
const IP = '198.51.100.30';

type List = { invoices: StaffInvoiceView[] };

for (const kind of await dbKinds()) {
  describe(`trader and administrator API (${kind})`, () => {
    let l: Live;
    let t1: { id: string; token: string };
    let t2: { id: string; token: string };
    let admin: { id: string; token: string };
    const clock = new ManualClock(Date.now());
    const post = (path: string, token: string, json?: unknown) => call(l.url, 'POST', path, { token, json });

    before(async () => {
      l = await live(kind, clock);
      t1 = await l.account('trader', 'One');
      t2 = await l.account('trader', 'Two');
      admin = await l.account('admin', 'Boss');
    });
    after(() => l.close());

    /** An invoice taken by t1 and moved on to `status`. */
    async function at(status: 'wait card' | 'send card' | 'pay' | 'waitPhoto'): Promise<string> {
      const uid = await l.invoice();
      await l.ts.system.invoices.bindIp(uid, IP);
      assert.equal((await post(`/v1/trader/invoices/${uid}/accept`, t1.token)).status, 200);
      if (status === 'wait card') return uid;
      assert.equal((await post(`/v1/trader/invoices/${uid}/card`, t1.token, { card: CARD })).status, 200);
      if (status === 'send card') return uid;
      assert.equal((await call(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: IP })).status, 200);
      if (status === 'pay') return uid;
      assert.equal((await post(`/v1/trader/invoices/${uid}/dispute`, t1.token)).status, 200);
      return uid;
    }

    test('two traders accepting at once: exactly one wins, the other gets ALREADY_TAKEN', async () => {
      for (let round = 0; round < 5; round++) {
        const uid = await l.invoice();
        const results = await Promise.all([
          post(`/v1/trader/invoices/${uid}/accept`, t1.token),
          post(`/v1/trader/invoices/${uid}/accept`, t2.token),
        ]);
        const codes = results.map((r) => r.status).sort();
        assert.deepEqual(codes, [200, 409], JSON.stringify(results.map((r) => r.body)));
        const loser = results.find((r) => r.status === 409);
        assert.equal(loser?.body.code, 'ALREADY_TAKEN');
        const winner = results.find((r) => r.status === 200)?.body as unknown as StaffInvoiceView;
        assert.equal((await l.ts.system.invoices.get(uid)).traderId, winner.traderId);
        const history = await l.ts.system.invoices.history((await l.ts.system.invoices.get(uid)).id);
        assert.equal(history.filter((h) => h.action === 'accept').length, 1);
      }
    });

    test("a trader acting on another trader's invoice is refused", async () => {
      const waitCard = await at('wait card');
      const card = await post(`/v1/trader/invoices/${waitCard}/card`, t2.token, { card: CARD });
      assert.equal(card.status, 403);
      assert.equal(card.body.code, 'NOT_YOUR_INVOICE');
      const pay = await at('pay');
      for (const [path, body] of [
        ['confirm', undefined],
        ['dispute', { reason: 'x' }],
        ['amount', { amount: '10' }],
      ] as const) {
        const r = await post(`/v1/trader/invoices/${pay}/${path}`, t2.token, body);
        assert.equal(r.status, 403, path);
        assert.equal(r.body.code, 'NOT_YOUR_INVOICE');
      }
      const peek = await call(l.url, 'GET', `/v1/trader/invoices/${pay}`, { token: t2.token });
      assert.equal(peek.status, 403);
      assert.equal((await l.ts.system.invoices.get(pay)).status, 'pay', 'nothing changed');
    });

    test('lists: open invoices and own ones for traders; cards masked except for their trader', async () => {
      const open = await l.invoice();
      const mine = await at('send card');
      const l1 = await call<List>(l.url, 'GET', '/v1/trader/invoices?limit=200', { token: t1.token });
      assert.equal(l1.status, 200);
      assert.ok(l1.body.invoices.some((i) => i.uid === open));
      assert.equal(l1.body.invoices.find((i) => i.uid === mine)?.card, CARD);
      const l2 = await call<List>(l.url, 'GET', '/v1/trader/invoices?limit=200', { token: t2.token });
      assert.ok(l2.body.invoices.some((i) => i.uid === open));
      assert.ok(!l2.body.invoices.some((i) => i.uid === mine), "another trader's invoice is not listed");
      for (const i of l2.body.invoices) assert.ok(i.card === null || i.card.includes('*'));
      const onlyOpen = await call<List>(l.url, 'GET', `/v1/trader/invoices?status=${encodeURIComponent('not approve exchange')}`, {
        token: t1.token,
      });
      assert.ok(onlyOpen.body.invoices.every((i) => i.status === 'not approve exchange'));
      assert.ok(
        onlyOpen.body.invoices.every((i) => i.ip === null),
        'traders do not see payer IPs',
      );
      const adminView = await call<StaffInvoiceView>(l.url, 'GET', `/v1/admin/invoices/${mine}`, { token: admin.token });
      assert.equal(adminView.body.card, '4111-11**-****-1111');
      assert.equal(adminView.body.ip, IP);
      const bad = await call(l.url, 'GET', '/v1/trader/invoices?status=bogus', { token: t1.token });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'VALIDATION_FAILED');
    });

    test('authentication and roles', async () => {
      const uid = await l.invoice();
      const none = await call(l.url, 'GET', '/v1/trader/invoices');
      assert.equal(none.status, 401);
      assert.equal(none.body.code, 'UNAUTHORIZED');
      assert.equal((await call(l.url, 'GET', '/v1/trader/invoices', { token: 'nlt_nope' })).status, 401);
      assert.equal((await call(l.url, 'GET', '/v1/trader/invoices', { token: l.merchantToken })).status, 401);
      const asAdmin = await post(`/v1/trader/invoices/${uid}/accept`, admin.token);
      assert.equal(asAdmin.status, 403);
      assert.equal(asAdmin.body.code, 'FORBIDDEN');
      const asTrader = await call(l.url, 'GET', '/v1/admin/invoices', { token: t1.token });
      assert.equal(asTrader.status, 403);
      // Unauthenticated callers are refused before their body is even looked at.
      const early = await call(l.url, 'POST', `/v1/admin/invoices/${uid}/decide`, { json: { nonsense: true } });
      assert.equal(early.status, 401);
    });

    test('each refused transition answers with a catalog error and changes nothing', async () => {
      const fresh = await l.invoice();
      const waitCard = await at('wait card');
      const sendCard = await at('send card');
      const pay = await at('pay');
      const waitPhoto = await at('waitPhoto');
      const cases: [string, () => Promise<{ status: number; body: Record<string, unknown> }>, number, string][] = [
        ['card before accept', () => post(`/v1/trader/invoices/${fresh}/card`, t1.token, { card: CARD }), 409, 'TRANSITION_REFUSED'],
        ['confirm before pay', () => post(`/v1/trader/invoices/${sendCard}/confirm`, t1.token), 409, 'TRANSITION_REFUSED'],
        ['amount before pay', () => post(`/v1/trader/invoices/${sendCard}/amount`, t1.token, { amount: '5' }), 409, 'TRANSITION_REFUSED'],
        ['dispute in wait card', () => post(`/v1/trader/invoices/${waitCard}/dispute`, t1.token), 409, 'TRANSITION_REFUSED'],
        ['accept twice', () => post(`/v1/trader/invoices/${waitCard}/accept`, t1.token), 409, 'ALREADY_TAKEN'],
        ['paid before card', () => call(l.url, 'POST', `/v1/checkout/${waitCard}/paid`, { ip: IP }), 409, 'TRANSITION_REFUSED'],
        ['paid twice', () => call(l.url, 'POST', `/v1/checkout/${pay}/paid`, { ip: IP }), 409, 'TRANSITION_REFUSED'],
        [
          'decide before dispute',
          () => post(`/v1/admin/invoices/${waitPhoto}/decide`, admin.token, { decision: 'success', reason: 'r' }),
          409,
          'TRANSITION_REFUSED',
        ],
        [
          'invalid card (Luhn)',
          () => post(`/v1/trader/invoices/${waitCard}/card`, t1.token, { card: '4111111111111112' }),
          400,
          'INVALID_CARD',
        ],
        ['same amount', () => post(`/v1/trader/invoices/${pay}/amount`, t1.token, { amount: '1500.50' }), 400, 'INVALID_AMOUNT'],
        ['negative amount', () => post(`/v1/trader/invoices/${pay}/amount`, t1.token, { amount: '-5' }), 400, 'INVALID_AMOUNT'],
        ['card missing', () => post(`/v1/trader/invoices/${waitCard}/card`, t1.token, {}), 400, 'VALIDATION_FAILED'],
        [
          'bad decision',
          () => post(`/v1/admin/invoices/${pay}/decide`, admin.token, { decision: 'maybe', reason: 'r' }),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'decide without reason',
          () => post(`/v1/admin/invoices/${pay}/decide`, admin.token, { decision: 'success' }),
          400,
          'VALIDATION_FAILED',
        ],
        ['malformed UID', () => post('/v1/trader/invoices/NOT-A-UID/accept', t1.token), 400, 'VALIDATION_FAILED'],
        ['unknown UID', () => post(`/v1/trader/invoices/${'z'.repeat(30)}/accept`, t1.token), 404, 'INVOICE_NOT_FOUND'],
      ];
      const before = await Promise.all([fresh, waitCard, sendCard, pay, waitPhoto].map((u) => l.ts.system.invoices.get(u)));
      for (const [name, run, status, code] of cases) {
        const r = await run();
        assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
        if (code) assert.equal(r.body.code, code, name);
        assert.equal(r.body.status, false, name);
        assert.equal(typeof r.body.message, 'string', name);
      }
      const afterwards = await Promise.all([fresh, waitCard, sendCard, pay, waitPhoto].map((u) => l.ts.system.invoices.get(u)));
      assert.deepEqual(
        afterwards.map((i) => i.version),
        before.map((i) => i.version),
      );

      // Past the payment deadline, a late "paid" is refused even before the sweeper runs.
      clock.advance(l.ts.system.config.paymentTimeoutSeconds * 1000);
      const late = await call(l.url, 'POST', `/v1/checkout/${sendCard}/paid`, { ip: IP });
      assert.equal(late.status, 409);
      assert.equal(late.body.code, 'DEADLINE_PASSED');
    });

    test('admin cancel works on any open invoice but not on a final one; confirm finishes', async () => {
      const pay = await at('pay');
      const ok = await post(`/v1/trader/invoices/${pay}/confirm`, t1.token);
      assert.equal(ok.status, 200);
      assert.equal((ok.body as unknown as StaffInvoiceView).status, 'success');
      const cancelFinal = await post(`/v1/admin/invoices/${pay}/cancel`, admin.token);
      assert.equal(cancelFinal.status, 409);
      const open = await at('send card');
      const cancelled = await post(`/v1/admin/invoices/${open}/cancel`, admin.token, { reason: 'fraud suspicion' });
      assert.equal(cancelled.status, 200);
      assert.equal((cancelled.body as unknown as StaffInvoiceView).status, 'canceled');
      assert.equal((cancelled.body as unknown as StaffInvoiceView).resolution, 'fraud suspicion');
      const plain = await post(`/v1/admin/invoices/${await l.invoice()}/cancel`, admin.token);
      assert.equal(plain.status, 200, JSON.stringify(plain.body));
    });
  });
}
