import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AppError, type InvoiceEvent } from '@nltrade/core';
import { ManualClock } from '../src/clock.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const CARD = '4441114441114442';

for (const kind of await dbKinds()) {
  describeOn(kind, `storage: invoices on ${kind}`, () => {
    let t: TestSystem;
    let merchantId: string;
    let traderA: string;
    let traderB: string;
    const clock = new ManualClock();
    const events: InvoiceEvent[] = [];

    before(async () => {
      t = await testSystem(kind, {}, clock);
      t.system.bus.subscribe((e) => events.push(e));
      merchantId = (await t.system.merchants.create('Shop')).merchantId;
      traderA = (await t.system.accounts.create('trader', 'A')).id;
      traderB = (await t.system.accounts.create('trader', 'B')).id;
    });
    after(() => t.cleanup());

    test('create stores exact money, the rate, a 30-char uid and a history entry', async () => {
      const inv = await t.system.invoices.create(merchantId, { title: 'Order 1', price: '1500.50' });
      assert.match(inv.uid, /^[a-z0-9]{30}$/);
      assert.equal(inv.sendMinor, 150_050);
      assert.equal(inv.reciveMinor, 3_616); // 1500.50 / 41.50 = 36.1566 → 36.16
      assert.equal(inv.rate, '41.50');
      assert.equal(inv.status, 'not approve exchange');
      assert.equal(inv.version, 1);
      assert.equal(inv.deadlineAt, clock.now() + 1_800_000);
      const h = await t.system.invoices.history(inv.id);
      assert.deepEqual(
        h.map((e) => [e.version, e.status, e.note]),
        [[1, 'not approve exchange', 'Инвойс создан']],
      );
      assert.equal(events.at(-1)?.type, 'invoice.created');
    });

    test('bad input is refused and nothing is stored', async () => {
      const before = (await t.system.invoices.list({ merchantId })).length;
      for (const input of [
        { title: '', price: '1' },
        { title: 'x'.repeat(256), price: '1' },
        { title: 'ok', price: '-5' },
        { title: 'ok', price: '1.234' },
        { title: 42, price: '1' },
        { title: 'ok', price: '1', returnUrl: 'javascript:alert(1)' },
      ]) {
        await assert.rejects(t.system.invoices.create(merchantId, input), AppError);
      }
      assert.equal((await t.system.invoices.list({ merchantId })).length, before);
    });

    test('a full lifecycle writes one history entry and one event per change', async () => {
      const inv = await t.system.invoices.create(merchantId, { title: 'Order 2', price: '830' });
      const trader = { type: 'trader', id: traderA } as const;
      await t.system.invoices.act(inv.uid, 'accept', trader);
      await t.system.invoices.act(inv.uid, 'setCard', trader, { card: CARD });
      const bound = await t.system.invoices.bindIp(inv.uid, '203.0.113.5');
      assert.equal(bound.ip, '203.0.113.5');
      const payer = { type: 'payer', id: '203.0.113.5' } as const;
      await t.system.invoices.act(inv.uid, 'paid', payer, {}, { note: 'Заявка оплаченна клієнтом' });
      const changed = await t.system.invoices.act(inv.uid, 'changeAmount', trader, { amount: '415', reason: 'The payer sent 415' });
      assert.equal(changed.status, 'pay');
      assert.equal(changed.resolution, 'The payer sent 415', 'the trader says why');
      assert.equal(changed.sendMinor, 41_500);
      assert.equal(changed.reciveMinor, 1_000);
      assert.equal(changed.traderChangePrice, '830');
      await t.system.invoices.act(inv.uid, 'dispute', trader, { reason: 'not received' });
      await t.system.invoices.act(inv.uid, 'proofPhoto', payer, { photoUrl: 'https://shop.example/receipt.jpg' });
      const done = await t.system.invoices.act(
        inv.uid,
        'decide',
        { type: 'admin', id: '9' },
        { decision: 'success', reason: 'receipt ok' },
      );
      assert.equal(done.status, 'success');
      assert.equal(done.version, 8);
      assert.equal(done.approvePhoto, 'https://shop.example/receipt.jpg');
      const h = await t.system.invoices.history(inv.id);
      assert.deepEqual(
        h.map((e) => e.status),
        ['not approve exchange', 'wait card', 'send card', 'pay', 'pay', 'waitPhoto', 'notApprove', 'success'],
      );
      assert.equal(h[3]?.note, 'Заявка оплаченна клієнтом');
      const mine = events.filter((e) => e.uid === inv.uid);
      assert.equal(mine.length, 8);
      // Binding the IP is not a transition: no version, no event.
      assert.deepEqual(
        mine.map((e) => e.version),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
    });

    test('the first IP wins a bind; later binds keep it', async () => {
      const inv = await t.system.invoices.create(merchantId, { title: 'Order 3', price: '10' });
      const results = await Promise.all(
        ['198.51.100.1', '198.51.100.2', '198.51.100.3'].map((ip) => t.system.invoices.bindIp(inv.uid, ip)),
      );
      const ips = new Set(results.map((r) => r.ip));
      assert.equal(ips.size, 1);
    });

    test('two concurrent accepts: exactly one wins, the other is ALREADY_TAKEN', async () => {
      for (let round = 0; round < 5; round++) {
        const inv = await t.system.invoices.create(merchantId, { title: `Race ${round}`, price: '10' });
        const outcomes = await Promise.allSettled([
          t.system.invoices.act(inv.uid, 'accept', { type: 'trader', id: traderA }),
          t.system.invoices.act(inv.uid, 'accept', { type: 'trader', id: traderB }),
        ]);
        const won = outcomes.filter((o) => o.status === 'fulfilled');
        const lost = outcomes.filter((o) => o.status === 'rejected');
        assert.equal(won.length, 1);
        assert.equal(lost.length, 1);
        assert.equal(((lost[0] as PromiseRejectedResult).reason as AppError).code, 'ALREADY_TAKEN');
        const h = await t.system.invoices.history(inv.id);
        assert.equal(h.length, 2);
      }
    });

    test('refused actions change nothing', async () => {
      const inv = await t.system.invoices.create(merchantId, { title: 'Order 4', price: '10' });
      await assert.rejects(t.system.invoices.act(inv.uid, 'confirm', { type: 'trader', id: traderA }), { code: 'TRANSITION_REFUSED' });
      await assert.rejects(t.system.invoices.act(inv.uid, 'remove', { type: 'merchant', id: '999' }, {}, { merchantId: '999' }), {
        code: 'INVOICE_NOT_FOUND',
      });
      await assert.rejects(t.system.invoices.act('nope', 'accept', { type: 'trader', id: traderA }), {
        code: 'INVOICE_NOT_FOUND',
        message: 'Invoice not found',
      });
      // Numbers name invoices only where the caller allows them (staff routes), never for payers.
      await assert.rejects(t.system.invoices.get(inv.id), { code: 'INVOICE_NOT_FOUND' });
      assert.equal((await t.system.invoices.get(inv.id, { numbers: true })).uid, inv.uid);
      const same = await t.system.invoices.get(inv.uid);
      assert.equal(same.version, 1);
      assert.equal((await t.system.invoices.history(inv.id)).length, 1);
    });

    test('due() finds expired timers and expire moves them', async () => {
      const inv = await t.system.invoices.create(merchantId, { title: 'Order 5', price: '10' });
      assert.ok(!(await t.system.invoices.due(clock.now())).some((i) => i.uid === inv.uid));
      clock.advance(1_800_000);
      assert.ok((await t.system.invoices.due(clock.now())).some((i) => i.uid === inv.uid));
      const expired = await t.system.invoices.act(inv.uid, 'expire', { type: 'system', id: null });
      assert.equal(expired.status, 'rejected');
      assert.equal(expired.deadlineAt, null);
    });
  });
}
