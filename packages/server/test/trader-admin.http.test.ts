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

    /** Traders name invoices by number; tests create them by UID, as merchants do. */
    const idOf = async (uid: string) => (await l.ts.system.invoices.get(uid)).id;

    /** An invoice taken by t1 and moved on to `status`: its UID (the payer's side) and number (the trader's). */
    async function at(status: 'wait card' | 'send card' | 'pay' | 'waitPhoto'): Promise<{ uid: string; id: string }> {
      const uid = await l.invoice();
      const id = await idOf(uid);
      await l.ts.system.invoices.bindIp(uid, IP);
      assert.equal((await post(`/v1/trader/invoices/${id}/accept`, t1.token)).status, 200);
      if (status === 'wait card') return { uid, id };
      assert.equal((await post(`/v1/trader/invoices/${id}/card`, t1.token, { card: CARD })).status, 200);
      if (status === 'send card') return { uid, id };
      assert.equal((await call(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: IP })).status, 200);
      if (status === 'pay') return { uid, id };
      assert.equal((await post(`/v1/trader/invoices/${id}/dispute`, t1.token)).status, 200);
      return { uid, id };
    }

    test('two traders accepting at once: exactly one wins, the other gets ALREADY_TAKEN', async () => {
      for (let round = 0; round < 5; round++) {
        const uid = await l.invoice();
        const id = await idOf(uid);
        const results = await Promise.all([
          post(`/v1/trader/invoices/${id}/accept`, t1.token),
          post(`/v1/trader/invoices/${id}/accept`, t2.token),
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
      const waitCard = (await at('wait card')).id;
      const card = await post(`/v1/trader/invoices/${waitCard}/card`, t2.token, { card: CARD });
      assert.equal(card.status, 403);
      assert.equal(card.body.code, 'NOT_YOUR_INVOICE');
      const { id: pay, uid: payUid } = await at('pay');
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
      // By UID another trader's invoice is not even confirmed to exist.
      const byUid = await post(`/v1/trader/invoices/${payUid}/confirm`, t2.token);
      assert.equal(byUid.status, 404);
      assert.equal(byUid.body.code, 'INVOICE_NOT_FOUND');
      assert.equal((await l.ts.system.invoices.get(payUid)).status, 'pay', 'nothing changed');
    });

    test('lists: open invoices and own ones for traders; cards masked except for their trader', async () => {
      const openUid = await l.invoice();
      const open = await idOf(openUid);
      const { uid: mineUid, id: mine } = await at('send card');
      const l1 = await call<List>(l.url, 'GET', '/v1/trader/invoices?limit=200', { token: t1.token });
      assert.equal(l1.status, 200);
      assert.ok(l1.body.invoices.some((i) => i.id === open));
      assert.equal(l1.body.invoices.find((i) => i.id === mine)?.card, CARD);
      const l2 = await call<List>(l.url, 'GET', '/v1/trader/invoices?limit=200', { token: t2.token });
      assert.ok(l2.body.invoices.some((i) => i.id === open));
      assert.ok(!l2.body.invoices.some((i) => i.id === mine), "another trader's invoice is not listed");
      // The UID is the payer's secret: no trader sees one, not even of its own invoices.
      for (const list of [l1, l2]) {
        assert.ok(list.body.invoices.every((i) => i.uid === null));
        assert.ok(!JSON.stringify(list.body).includes(openUid) && !JSON.stringify(list.body).includes(mineUid));
      }
      const one = await call<StaffInvoiceView>(l.url, 'GET', `/v1/trader/invoices/${open}`, { token: t2.token });
      assert.equal(one.status, 200);
      assert.equal(one.body.uid, null);
      assert.ok(!JSON.stringify(one.body).includes(openUid));
      for (const i of l2.body.invoices) assert.ok(i.card === null || i.card.includes('*'));
      const onlyOpen = await call<List>(l.url, 'GET', `/v1/trader/invoices?status=${encodeURIComponent('not approve exchange')}`, {
        token: t1.token,
      });
      assert.ok(onlyOpen.body.invoices.every((i) => i.status === 'not approve exchange'));
      assert.ok(
        onlyOpen.body.invoices.every((i) => i.ip === null),
        'traders do not see payer IPs',
      );
      const adminView = await call<StaffInvoiceView>(l.url, 'GET', `/v1/admin/invoices/${mineUid}`, { token: admin.token });
      assert.equal(adminView.body.card, '4111-11**-****-1111');
      assert.equal(adminView.body.ip, IP);
      assert.equal(adminView.body.uid, mineUid, 'administrators see UIDs');
      const adminById = await call<StaffInvoiceView>(l.url, 'GET', `/v1/admin/invoices/${mine}`, { token: admin.token });
      assert.equal(adminById.body.uid, mineUid);
      const bad = await call(l.url, 'GET', '/v1/trader/invoices?status=bogus', { token: t1.token });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'VALIDATION_FAILED');
    });

    test('an open invoice is taken by its number, not by its UID; taking it twice says so', async () => {
      const uid = await l.invoice();
      const id = await idOf(uid);
      const byUid = await post(`/v1/trader/invoices/${uid}/accept`, t1.token);
      assert.equal(byUid.status, 404);
      assert.equal(byUid.body.code, 'INVOICE_NOT_FOUND');
      assert.equal((await post(`/v1/trader/invoices/${id}/accept`, t1.token)).status, 200);
      const again = await post(`/v1/trader/invoices/${id}/accept`, t1.token);
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'ALREADY_YOURS');
      assert.equal(again.body.message, 'You have already taken this invoice');
      const other = await post(`/v1/trader/invoices/${id}/accept`, t2.token);
      assert.equal(other.body.code, 'ALREADY_TAKEN');
      // Once it holds the invoice, its trader may name it by UID as well (it cannot learn it from us, though).
      assert.equal((await post(`/v1/trader/invoices/${uid}/card`, t1.token, { card: CARD })).status, 200);
    });

    test('authentication and roles', async () => {
      const uid = await l.invoice();
      const none = await call(l.url, 'GET', '/v1/trader/invoices');
      assert.equal(none.status, 401);
      assert.equal(none.body.code, 'UNAUTHORIZED');
      assert.equal((await call(l.url, 'GET', '/v1/trader/invoices', { token: 'nlt_nope' })).status, 401);
      assert.equal((await call(l.url, 'GET', '/v1/trader/invoices', { token: l.merchantToken })).status, 401);
      const asAdmin = await post(`/v1/trader/invoices/${await idOf(uid)}/accept`, admin.token);
      assert.equal(asAdmin.status, 403);
      assert.equal(asAdmin.body.code, 'FORBIDDEN');
      const asTrader = await call(l.url, 'GET', '/v1/admin/invoices', { token: t1.token });
      assert.equal(asTrader.status, 403);
      // Unauthenticated callers are refused before their body is even looked at.
      const early = await call(l.url, 'POST', `/v1/admin/invoices/${uid}/decide`, { json: { nonsense: true } });
      assert.equal(early.status, 401);
    });

    test('each refused transition answers with a catalog error and changes nothing', async () => {
      const freshUid = await l.invoice();
      const fresh = await idOf(freshUid);
      const { id: waitCard, uid: waitCardUid } = await at('wait card');
      const { id: sendCard, uid: sendCardUid } = await at('send card');
      const { id: pay, uid: payUid } = await at('pay');
      const { uid: waitPhotoUid } = await at('waitPhoto');
      const { uid: reviewUid } = await at('waitPhoto');
      await l.ts.system.invoices.act(reviewUid, 'proofPhoto', { type: 'payer', id: IP }, { photoUrl: 'https://shop.example/r.jpg' });
      type Case = [string, () => Promise<{ status: number; body: Record<string, unknown> }>, number, string, string?];
      const cases: Case[] = [
        [
          'card before accept',
          () => post(`/v1/trader/invoices/${fresh}/card`, t1.token, { card: CARD }),
          409,
          'TRANSITION_REFUSED',
          'This invoice is not waiting for a card',
        ],
        [
          'confirm before pay',
          () => post(`/v1/trader/invoices/${sendCard}/confirm`, t1.token),
          409,
          'TRANSITION_REFUSED',
          'This invoice has no payment waiting to be checked',
        ],
        ['amount before pay', () => post(`/v1/trader/invoices/${sendCard}/amount`, t1.token, { amount: '5' }), 409, 'TRANSITION_REFUSED'],
        ['dispute in wait card', () => post(`/v1/trader/invoices/${waitCard}/dispute`, t1.token), 409, 'TRANSITION_REFUSED'],
        ['accept twice', () => post(`/v1/trader/invoices/${waitCard}/accept`, t1.token), 409, 'ALREADY_YOURS'],
        [
          'paid before card',
          () => call(l.url, 'POST', `/v1/checkout/${waitCardUid}/paid`, { ip: IP }),
          409,
          'TRANSITION_REFUSED',
          'This invoice is not waiting for payment',
        ],
        ['paid twice', () => call(l.url, 'POST', `/v1/checkout/${payUid}/paid`, { ip: IP }), 409, 'TRANSITION_REFUSED'],
        [
          'decide before dispute',
          () => post(`/v1/admin/invoices/${waitPhotoUid}/decide`, admin.token, { decision: 'success', reason: 'r' }),
          409,
          'TRANSITION_REFUSED',
          "This invoice is not waiting for an administrator's decision",
        ],
        [
          'a dispute reason with NUL',
          () => post(`/v1/trader/invoices/${pay}/dispute`, t1.token, { reason: 'no\u0000money' }),
          400,
          'VALIDATION_FAILED',
          'reason must not contain control characters',
        ],
        [
          'a cancel reason with an escape sequence',
          () => post(`/v1/admin/invoices/${payUid}/cancel`, admin.token, { reason: '\u001b[2Jgone' }),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'a decision reason with NUL',
          () => post(`/v1/admin/invoices/${reviewUid}/decide`, admin.token, { decision: 'success', reason: 'ok\u0000' }),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'a card of one repeated digit',
          () => post(`/v1/trader/invoices/${waitCard}/card`, t1.token, { card: '0000000000000000' }),
          400,
          'INVALID_CARD',
        ],
        ['a 13-digit card', () => post(`/v1/trader/invoices/${waitCard}/card`, t1.token, { card: '4222222222222' }), 400, 'INVALID_CARD'],
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
        [
          'malformed reference',
          () => post('/v1/trader/invoices/NOT-A-UID/accept', t1.token),
          404,
          'INVOICE_NOT_FOUND',
          'Invoice not found',
        ],
        ['unknown UID', () => post(`/v1/trader/invoices/${'z'.repeat(30)}/accept`, t1.token), 404, 'INVOICE_NOT_FOUND'],
        ['unknown number', () => post('/v1/trader/invoices/999999/accept', t1.token), 404, 'INVOICE_NOT_FOUND'],
        [
          'malformed UID to an administrator',
          () => call(l.url, 'GET', '/v1/admin/invoices/abc', { token: admin.token }),
          404,
          'INVOICE_NOT_FOUND',
          'Invoice not found',
        ],
      ];
      const uids = [freshUid, waitCardUid, sendCardUid, payUid, waitPhotoUid, reviewUid];
      const before = await Promise.all(uids.map((u) => l.ts.system.invoices.get(u)));
      for (const [name, run, status, code, message] of cases) {
        const r = await run();
        assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
        if (code) assert.equal(r.body.code, code, name);
        assert.equal(r.body.status, false, name);
        assert.equal(typeof r.body.message, 'string', name);
        if (message) assert.equal(r.body.message, message, name);
        assert.doesNotMatch(String(r.body.message), /Cannot |setCard|proofPhoto|\^\[a-z0-9\]/, name);
      }
      const afterwards = await Promise.all(uids.map((u) => l.ts.system.invoices.get(u)));
      assert.deepEqual(
        afterwards.map((i) => i.version),
        before.map((i) => i.version),
      );

      // Past the payment deadline, a late "paid" is refused even before the sweeper runs.
      clock.advance(l.ts.system.config.paymentTimeoutSeconds * 1000);
      const late = await call(l.url, 'POST', `/v1/checkout/${sendCardUid}/paid`, { ip: IP });
      assert.equal(late.status, 409);
      assert.equal(late.body.code, 'DEADLINE_PASSED');
    });

    test('admin cancel works on any open invoice but not on a final one; confirm finishes', async () => {
      const pay = await at('pay');
      const ok = await post(`/v1/trader/invoices/${pay.id}/confirm`, t1.token);
      assert.equal(ok.status, 200);
      assert.equal((ok.body as unknown as StaffInvoiceView).status, 'success');
      const cancelFinal = await post(`/v1/admin/invoices/${pay.uid}/cancel`, admin.token);
      assert.equal(cancelFinal.status, 409);
      const open = await at('send card');
      const cancelled = await post(`/v1/admin/invoices/${open.id}/cancel`, admin.token, { reason: 'fraud suspicion' });
      assert.equal(cancelled.status, 200);
      assert.equal((cancelled.body as unknown as StaffInvoiceView).status, 'canceled');
      assert.equal((cancelled.body as unknown as StaffInvoiceView).resolution, 'fraud suspicion');
      const plain = await post(`/v1/admin/invoices/${await l.invoice()}/cancel`, admin.token);
      assert.equal(plain.status, 200, JSON.stringify(plain.body));
    });
  });
}
