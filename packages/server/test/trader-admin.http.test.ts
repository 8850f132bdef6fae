import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NlTradeClient, NlTradeError } from '@nltrade/sdk';
import { ManualClock } from '../src/clock.ts';
import type { StaffInvoiceView } from '../src/views.ts';
import { call, type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const CARD = '4111111111111111';
const IP = '198.51.100.30';

for (const kind of await dbKinds()) {
  describeOn(kind, `trader and administrator API (${kind})`, () => {
    let l: Live;
    let t1: { id: string; token: string };
    let t2: { id: string; token: string };
    let admin: { id: string; token: string };
    const clock = new ManualClock(Date.now());
    // Through the SDK, as integrators call it: its types and its error handling are under test too.
    const sdk = (token: string) => new NlTradeClient({ baseUrl: l.url, token });
    /** An SDK call's outcome as status and body, so refusals can be compared case by case. */
    async function outcome(p: Promise<unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
      try {
        return { status: 200, body: (await p) as Record<string, unknown> };
      } catch (e) {
        if (!(e instanceof NlTradeError)) throw e;
        return { status: e.httpStatus, body: { status: false, code: e.code, message: e.message } };
      }
    }

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
      assert.equal((await outcome(sdk(t1.token).accept(id))).status, 200);
      if (status === 'wait card') return { uid, id };
      assert.equal((await outcome(sdk(t1.token).setCard(id, CARD))).status, 200);
      if (status === 'send card') return { uid, id };
      assert.equal((await call(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: IP })).status, 200);
      if (status === 'pay') return { uid, id };
      assert.equal((await outcome(sdk(t1.token).dispute(id))).status, 200);
      return { uid, id };
    }

    test('two traders accepting at once: exactly one wins, the other gets ALREADY_TAKEN', async () => {
      for (let round = 0; round < 5; round++) {
        const uid = await l.invoice();
        const id = await idOf(uid);
        const results = await Promise.all([outcome(sdk(t1.token).accept(id)), outcome(sdk(t2.token).accept(id))]);
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
      const card = await outcome(sdk(t2.token).setCard(waitCard, CARD));
      assert.equal(card.status, 403);
      assert.equal(card.body.code, 'NOT_YOUR_INVOICE');
      const { id: pay, uid: payUid } = await at('pay');
      for (const [path, body] of [
        ['confirm', undefined],
        ['dispute', { reason: 'x' }],
        ['amount', { amount: '10' }],
      ] as const) {
        const r = await outcome(sdk(t2.token).request('POST', `/v1/trader/invoices/${pay}/${path}`, body ?? {}));
        assert.equal(r.status, 403, path);
        assert.equal(r.body.code, 'NOT_YOUR_INVOICE');
      }
      const peek = await outcome(sdk(t2.token).traderInvoice(pay));
      assert.equal(peek.status, 403);
      // By UID another trader's invoice is not even confirmed to exist.
      const byUid = await outcome(sdk(t2.token).confirm(payUid));
      assert.equal(byUid.status, 404);
      assert.equal(byUid.body.code, 'INVOICE_NOT_FOUND');
      assert.equal((await l.ts.system.invoices.get(payUid)).status, 'pay', 'nothing changed');
    });

    test('lists: open invoices and own ones for traders; cards masked except for their trader', async () => {
      const openUid = await l.invoice();
      const open = await idOf(openUid);
      const { uid: mineUid, id: mine } = await at('send card');
      const l1 = await sdk(t1.token).traderInvoices({ limit: 200 });
      assert.ok(l1.invoices.some((i) => i.id === open));
      assert.equal(l1.invoices.find((i) => i.id === mine)?.card, CARD);
      assert.equal(l1.invoices.find((i) => i.id === mine)?.receiveAmount, '36.16', 'spelled right in v1 (1500.50 / 41.50)');
      const l2 = await sdk(t2.token).traderInvoices({ limit: 200 });
      assert.ok(l2.invoices.some((i) => i.id === open));
      assert.ok(!l2.invoices.some((i) => i.id === mine), "another trader's invoice is not listed");
      // The UID is the payer's secret: no trader sees one, not even of its own invoices.
      for (const list of [l1, l2]) {
        assert.ok(list.invoices.every((i) => i.uid === null));
        assert.ok(!JSON.stringify(list).includes(openUid) && !JSON.stringify(list).includes(mineUid));
      }
      const one = await sdk(t2.token).traderInvoice(open);
      assert.equal(one.uid, null);
      assert.ok(!JSON.stringify(one).includes(openUid));
      for (const i of l2.invoices) assert.ok(i.card === null || i.card.includes('*'));
      const onlyOpen = await sdk(t1.token).traderInvoices({ status: 'not approve exchange' });
      assert.ok(onlyOpen.invoices.every((i) => i.status === 'not approve exchange'));
      assert.ok(
        onlyOpen.invoices.every((i) => i.ip === null),
        'traders do not see payer IPs',
      );
      const adminView = await sdk(admin.token).adminInvoice(mineUid);
      assert.equal(adminView.card, '4111-11**-****-1111');
      assert.equal(adminView.ip, IP);
      assert.equal(adminView.uid, mineUid, 'administrators see UIDs');
      assert.equal((await sdk(admin.token).adminInvoice(mine)).uid, mineUid);
      const bad = await outcome(sdk(t1.token).request('GET', '/v1/trader/invoices?status=bogus'));
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'VALIDATION_FAILED');
    });

    test('an open invoice is taken by its number, not by its UID; taking it twice says so', async () => {
      const uid = await l.invoice();
      const id = await idOf(uid);
      const byUid = await outcome(sdk(t1.token).accept(uid));
      assert.equal(byUid.status, 404);
      assert.equal(byUid.body.code, 'INVOICE_NOT_FOUND');
      assert.equal((await outcome(sdk(t1.token).accept(id))).status, 200);
      const again = await outcome(sdk(t1.token).accept(id));
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'ALREADY_YOURS');
      assert.equal(again.body.message, 'You have already taken this invoice');
      const other = await outcome(sdk(t2.token).accept(id));
      assert.equal(other.body.code, 'ALREADY_TAKEN');
      // Once it holds the invoice, its trader may name it by UID as well (it cannot learn it from us, though).
      assert.equal((await outcome(sdk(t1.token).setCard(uid, CARD))).status, 200);
    });

    test('authentication and roles', async () => {
      const uid = await l.invoice();
      const none = await call(l.url, 'GET', '/v1/trader/invoices');
      assert.equal(none.status, 401);
      assert.equal(none.body.code, 'UNAUTHORIZED');
      assert.equal((await outcome(sdk('nlt_nope').traderInvoices())).status, 401);
      assert.equal((await outcome(sdk(l.merchantToken).traderInvoices())).status, 401);
      const asAdmin = await outcome(sdk(admin.token).accept(await idOf(uid)));
      assert.equal(asAdmin.status, 403);
      assert.equal(asAdmin.body.code, 'FORBIDDEN');
      const asTrader = await outcome(sdk(t1.token).adminInvoices());
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
          () => outcome(sdk(t1.token).setCard(fresh, CARD)),
          409,
          'TRANSITION_REFUSED',
          'This invoice is not waiting for a card',
        ],
        [
          'confirm before pay',
          () => outcome(sdk(t1.token).confirm(sendCard)),
          409,
          'TRANSITION_REFUSED',
          'This invoice has no payment waiting to be checked',
        ],
        ['amount before pay', () => outcome(sdk(t1.token).changeAmount(sendCard, '5')), 409, 'TRANSITION_REFUSED'],
        ['dispute in wait card', () => outcome(sdk(t1.token).dispute(waitCard)), 409, 'TRANSITION_REFUSED'],
        ['accept twice', () => outcome(sdk(t1.token).accept(waitCard)), 409, 'ALREADY_YOURS'],
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
          () => outcome(sdk(admin.token).decide(waitPhotoUid, 'success', 'r')),
          409,
          'TRANSITION_REFUSED',
          "This invoice is not waiting for an administrator's decision",
        ],
        [
          'a dispute reason with NUL',
          () => outcome(sdk(t1.token).dispute(pay, 'no\u0000money')),
          400,
          'VALIDATION_FAILED',
          'reason must not contain control characters',
        ],
        [
          'a cancel reason with an escape sequence',
          () => outcome(sdk(admin.token).cancel(payUid, '\u001b[2Jgone')),
          400,
          'VALIDATION_FAILED',
        ],
        ['a decision reason with NUL', () => outcome(sdk(admin.token).decide(reviewUid, 'success', 'ok\u0000')), 400, 'VALIDATION_FAILED'],
        ['a card of one repeated digit', () => outcome(sdk(t1.token).setCard(waitCard, '0000000000000000')), 400, 'INVALID_CARD'],
        ['a 13-digit card', () => outcome(sdk(t1.token).setCard(waitCard, '4222222222222')), 400, 'INVALID_CARD'],
        ['invalid card (Luhn)', () => outcome(sdk(t1.token).setCard(waitCard, '4111111111111112')), 400, 'INVALID_CARD'],
        ['same amount', () => outcome(sdk(t1.token).changeAmount(pay, '1500.50')), 400, 'INVALID_AMOUNT'],
        ['negative amount', () => outcome(sdk(t1.token).changeAmount(pay, '-5')), 400, 'INVALID_AMOUNT'],
        // Bodies the SDK's types would not let through, sent raw on purpose.
        [
          'card missing',
          () => outcome(sdk(t1.token).request('POST', `/v1/trader/invoices/${waitCard}/card`, {})),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'bad decision',
          () => outcome(sdk(admin.token).request('POST', `/v1/admin/invoices/${pay}/decide`, { decision: 'maybe', reason: 'r' })),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'decide without reason',
          () => outcome(sdk(admin.token).request('POST', `/v1/admin/invoices/${pay}/decide`, { decision: 'success' })),
          400,
          'VALIDATION_FAILED',
        ],
        ['malformed reference', () => outcome(sdk(t1.token).accept('NOT-A-UID')), 404, 'INVOICE_NOT_FOUND', 'Invoice not found'],
        ['unknown UID', () => outcome(sdk(t1.token).accept('z'.repeat(30))), 404, 'INVOICE_NOT_FOUND'],
        ['unknown number', () => outcome(sdk(t1.token).accept('999999')), 404, 'INVOICE_NOT_FOUND'],
        ['long reference', () => outcome(sdk(t1.token).accept('a'.repeat(65))), 404, 'INVOICE_NOT_FOUND', 'Invoice not found'],
        ['longer than a route segment', () => outcome(sdk(t1.token).accept('a'.repeat(150))), 404, 'INVOICE_NOT_FOUND'],
        ['long UID to an administrator', () => outcome(sdk(admin.token).adminInvoice('9'.repeat(400))), 404, 'INVOICE_NOT_FOUND'],
        [
          'malformed UID to an administrator',
          () => outcome(sdk(admin.token).adminInvoice('abc')),
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
      const ok = await outcome(sdk(t1.token).confirm(pay.id));
      assert.equal(ok.status, 200);
      assert.equal((ok.body as unknown as StaffInvoiceView).status, 'success');
      const cancelFinal = await outcome(sdk(admin.token).cancel(pay.uid));
      assert.equal(cancelFinal.status, 409);
      const open = await at('send card');
      const cancelled = await outcome(sdk(admin.token).cancel(open.id, 'fraud suspicion'));
      assert.equal(cancelled.status, 200);
      assert.equal((cancelled.body as unknown as StaffInvoiceView).status, 'canceled');
      assert.equal((cancelled.body as unknown as StaffInvoiceView).resolution, 'fraud suspicion');
      const plain = await outcome(sdk(admin.token).cancel(await l.invoice()));
      assert.equal(plain.status, 200, JSON.stringify(plain.body));
    });
  });
}
