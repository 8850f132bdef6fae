import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Actor, AppError, formatMoney } from '@nltrade/core';
import { ManualClock } from '../src/clock.ts';
import type { System } from '../src/system.ts';
import { assertLedgerInvariants } from './support/ledger-invariants.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const CARD = '4441114441114442';
const ADMIN: Actor = { type: 'admin', id: null };
const IP = '192.0.2.44';

const refused = (code: string) => (e: unknown) => e instanceof AppError && e.code === code;

for (const kind of await dbKinds()) {
  describeOn(kind, `storage: ledger on ${kind}`, () => {
    let t: TestSystem;
    let s: System;
    let merchantId: string;
    let traderId: string;
    const clock = new ManualClock();
    const trader = (id = traderId): Actor => ({ type: 'trader', id });

    before(async () => {
      t = await testSystem(kind, { requireTraderDeposit: true, merchantFeeBps: 150, traderRewardBps: 50 }, clock);
      s = t.system;
      merchantId = (await s.merchants.create('Shop')).merchantId;
      traderId = (await s.accounts.create('trader', 'T')).id;
    });
    after(() => t.cleanup());

    async function toPay(price: string, who = traderId): Promise<string> {
      const inv = await s.invoices.create(merchantId, { title: 'Order', price });
      await s.invoices.bindIp(inv.uid, IP);
      await s.invoices.act(inv.uid, 'accept', trader(who));
      await s.invoices.act(inv.uid, 'setCard', trader(who), { card: CARD });
      await s.invoices.act(inv.uid, 'paid', { type: 'payer', id: IP });
      return inv.uid;
    }

    test('without a deposit a trader cannot accept; the invoice stays open and nothing is written', async () => {
      const inv = await s.invoices.create(merchantId, { title: 'Order', price: '415.00' });
      await assert.rejects(s.invoices.act(inv.uid, 'accept', trader()), refused('INSUFFICIENT_DEPOSIT'));
      const after = await s.invoices.get(inv.uid);
      assert.equal(after.status, 'not approve exchange');
      assert.equal(after.traderId, null);
      assert.equal((await s.invoices.history(inv.id)).length, 1);
      assert.deepEqual((await s.ledger.entries({ account: `trader_deposit:${traderId}` })).entries, []);
      await assertLedgerInvariants(s);
    });

    test('accept holds, an amount change moves the hold, success settles with fee and reward', async () => {
      await s.ledger.deposit(traderId, '100.00', ADMIN);
      assert.deepEqual(await s.ledger.traderBalance(traderId), {
        currency: 'USDT',
        deposit: 10_000,
        held: 0,
        available: 10_000,
        rewards: 0,
      });
      const uid = await toPay('1500.50'); // 36.16 USDT at 41.50
      assert.deepEqual(await s.ledger.traderBalance(traderId), {
        currency: 'USDT',
        deposit: 10_000,
        held: 3616,
        available: 6384,
        rewards: 0,
      });
      await s.invoices.act(uid, 'changeAmount', trader(), { amount: '2075' }); // 50.00 USDT
      assert.deepEqual(await s.ledger.traderBalance(traderId), {
        currency: 'USDT',
        deposit: 10_000,
        held: 5000,
        available: 5000,
        rewards: 0,
      });
      await assertLedgerInvariants(s);
      const done = await s.invoices.act(uid, 'confirm', trader());
      assert.equal(done.status, 'success');
      // 50.00: fee 1.5 % = 0.75, reward 0.5 % = 0.25, platform 0.50.
      assert.deepEqual(await s.ledger.traderBalance(traderId), { currency: 'USDT', deposit: 5000, held: 0, available: 5000, rewards: 25 });
      assert.deepEqual(await s.ledger.merchantBalance(merchantId), { currency: 'USDT', available: 4925, paidOut: 0 });
      const platform = (await s.ledger.balances('platform'))[0];
      assert.equal(platform?.balance, 50);
      const history = await s.invoices.history(done.id);
      const { entries } = await s.ledger.entries({ account: `merchant:${merchantId}` });
      const settle = entries.at(-1);
      assert.equal(settle?.kind, 'settle');
      assert.equal(settle?.invoiceId, done.id);
      assert.equal(settle?.eventId !== null, true);
      assert.equal(history.at(-1)?.status, 'success');
      // The payer's side, in UAH: the amount paid (after the change) reached the trader's card.
      const received = await s.ledger.entries({ account: `trader_received:${traderId}` });
      const payment = received.entries.at(-1);
      assert.equal(payment?.kind, 'payment');
      assert.equal(payment?.currency, 'UAH');
      assert.equal(payment?.invoiceId, done.id);
      assert.equal(payment?.eventId, settle?.eventId);
      assert.deepEqual(
        payment?.lines.map((l) => [l.account, l.amount]).sort(),
        [
          [`trader_received:${traderId}`, 207_500],
          ['world', -207_500],
        ].sort(),
      );
      const uah = (await s.ledger.balances()).filter((a) => a.currency === 'UAH');
      assert.deepEqual(
        uah.map((a) => [a.account, a.balance]).sort(),
        [
          [`trader_received:${traderId}`, 207_500],
          ['world', -207_500],
        ].sort(),
      );
      await assertLedgerInvariants(s);
    });

    test('an amount change beyond the available deposit is refused and changes nothing', async () => {
      const before = await s.ledger.traderBalance(traderId);
      const uid = await toPay('415'); // 10.00 of the 50.00 available
      await assert.rejects(s.invoices.act(uid, 'changeAmount', trader(), { amount: '4150' }), refused('INSUFFICIENT_DEPOSIT'));
      const inv = await s.invoices.get(uid);
      assert.equal(inv.sendMinor, 41_500);
      assert.equal(inv.status, 'pay');
      await s.invoices.act(uid, 'dispute', trader());
      await s.invoices.act(uid, 'proofPhoto', { type: 'payer', id: IP }, { photoUrl: 'https://example.com/p.jpg' });
      await s.invoices.act(uid, 'decide', ADMIN, { decision: 'canceled', reason: 'no money arrived' });
      assert.deepEqual(await s.ledger.traderBalance(traderId), before);
      await assertLedgerInvariants(s);
    });

    test('cancel, remove and every timer release the hold, including the return to the queue', async () => {
      const before = await s.ledger.traderBalance(traderId);
      const a = await s.invoices.create(merchantId, { title: 'A', price: '41.50' });
      await s.invoices.act(a.uid, 'accept', trader());
      await s.invoices.act(a.uid, 'remove', { type: 'merchant', id: merchantId });
      const b = await s.invoices.create(merchantId, { title: 'B', price: '41.50' });
      await s.invoices.act(b.uid, 'accept', trader());
      await s.invoices.act(b.uid, 'cancel', ADMIN, { reason: 'test' });
      const c = await s.invoices.create(merchantId, { title: 'C', price: '41.50' });
      await s.invoices.act(c.uid, 'accept', trader());
      assert.equal((await s.ledger.traderBalance(traderId)).held, 100);
      clock.advance(s.config.cardTimeoutSeconds * 1000);
      const back = await s.invoices.act(c.uid, 'expire', { type: 'system', id: null });
      assert.equal(back.status, 'not approve exchange');
      assert.deepEqual(await s.ledger.traderBalance(traderId), before);
      await s.invoices.act(c.uid, 'accept', trader());
      await s.invoices.act(c.uid, 'setCard', trader(), { card: CARD });
      clock.advance(s.config.paymentTimeoutSeconds * 1000);
      assert.equal((await s.invoices.act(c.uid, 'expire', { type: 'system', id: null })).status, 'rejected');
      assert.deepEqual(await s.ledger.traderBalance(traderId), before);
      // The pay timer hands the invoice to an administrator: still held until the decision.
      const d = await toPay('83');
      clock.advance(s.config.traderCheckTimeoutSeconds * 1000);
      assert.equal((await s.invoices.act(d, 'expire', { type: 'system', id: null })).status, 'notApprove');
      assert.equal((await s.ledger.traderBalance(traderId)).held, 200);
      await s.invoices.act(d, 'decide', ADMIN, { decision: 'success', reason: 'paid' });
      const after = await s.ledger.traderBalance(traderId);
      assert.equal(after.held, 0);
      assert.equal(after.deposit, before.deposit - 200);
      await assertLedgerInvariants(s);
    });

    test('sandbox invoices never touch the ledger', async () => {
      const entriesBefore = (await s.ledger.entries({ limit: 1000 })).entries.length;
      const inv = await s.invoices.create(merchantId, { title: 'Sandbox', price: '100000', sandbox: true });
      const t2 = (await s.accounts.create('trader', 'No deposit')).id;
      await s.invoices.act(inv.uid, 'accept', trader(t2));
      await s.invoices.act(inv.uid, 'setCard', trader(t2), { card: CARD });
      await s.invoices.bindIp(inv.uid, IP);
      await s.invoices.act(inv.uid, 'paid', { type: 'payer', id: IP });
      await s.invoices.act(inv.uid, 'confirm', trader(t2));
      assert.equal((await s.ledger.entries({ limit: 1000 })).entries.length, entriesBefore);
      await assertLedgerInvariants(s);
    });

    test('operations refuse to take an account below zero, with clear errors, and write nothing', async () => {
      const balance = await s.ledger.traderBalance(traderId);
      await assert.rejects(s.ledger.withdraw(traderId, '1000000.00', ADMIN), refused('INSUFFICIENT_FUNDS'));
      const rewards = formatMoney(balance.rewards);
      assert.ok(balance.rewards > 0);
      await assert.rejects(s.ledger.withdraw(traderId, formatMoney(balance.rewards + 1), ADMIN, 'rewards'), refused('INSUFFICIENT_FUNDS'));
      await s.ledger.withdraw(traderId, rewards, ADMIN, 'rewards');
      assert.equal((await s.ledger.traderBalance(traderId)).rewards, 0);
      await assert.rejects(s.ledger.payout(merchantId, '1000.00', ADMIN), refused('INSUFFICIENT_FUNDS'));
      const m = await s.ledger.merchantBalance(merchantId);
      await s.ledger.payout(merchantId, '10.00', ADMIN);
      assert.deepEqual(await s.ledger.merchantBalance(merchantId), { currency: 'USDT', available: m.available - 1000, paidOut: 1000 });
      await assert.rejects(s.ledger.adjust(`merchant:${merchantId}`, '-100000', 'oops', ADMIN), refused('INSUFFICIENT_FUNDS'));
      await assert.rejects(s.ledger.adjust(`merchant:${merchantId}`, '1.00', '', ADMIN), refused('VALIDATION_FAILED'));
      await assert.rejects(s.ledger.adjust(`trader_held:${traderId}`, '1.00', 'x', ADMIN), refused('VALIDATION_FAILED'));
      await assert.rejects(s.ledger.adjust('world', '1.00', 'x', ADMIN), refused('VALIDATION_FAILED'));
      await assert.rejects(s.ledger.adjust('merchant:999999', '1.00', 'x', ADMIN), refused('NOT_FOUND'));
      await assert.rejects(s.ledger.deposit('999999', '1.00', ADMIN), refused('NOT_FOUND'));
      await assert.rejects(s.ledger.deposit(traderId, '-1.00', ADMIN), refused('INVALID_AMOUNT'));
      await assert.rejects(s.ledger.deposit(traderId, '1.001', ADMIN), refused('INVALID_AMOUNT'));
      const adj = await s.ledger.adjust(`merchant:${merchantId}`, '-0.01', 'rounding correction', ADMIN);
      assert.equal(adj.memo, 'rounding correction');
      assert.deepEqual(adj.lines.map((l) => l.amount).sort(), [-1, 1]);
      assert.equal((await s.ledger.traderBalance(traderId)).deposit, balance.deposit);
      await assertLedgerInvariants(s);
    });

    test('the rate is a stored setting with history, per merchant; each invoice keeps its own', async () => {
      assert.equal(await s.ledger.rateFor(merchantId), '41.50');
      const old = await s.invoices.create(merchantId, { title: 'Old', price: '100' });
      await s.ledger.setRate('40.00', null, ADMIN);
      const other = (await s.merchants.create('Other')).merchantId;
      await s.ledger.setRate('50', other, ADMIN);
      const a = await s.invoices.create(merchantId, { title: 'A', price: '100' });
      const b = await s.invoices.create(other, { title: 'B', price: '100' });
      assert.equal(a.rate, '40.00');
      assert.equal(a.reciveMinor, 250);
      assert.equal(b.rate, '50');
      assert.equal(b.reciveMinor, 200);
      assert.equal((await s.invoices.get(old.uid)).rate, '41.50');
      const history = await s.ledger.settingsHistory('rate');
      assert.deepEqual(
        history.map((h) => [h.ownerId, h.value]),
        [
          [other, '50'],
          [null, '40.00'],
        ],
      );
      await assert.rejects(s.ledger.setRate('0', null, ADMIN), refused('VALIDATION_FAILED'));
      await assert.rejects(s.ledger.setRate('abc', null, ADMIN), refused('VALIDATION_FAILED'));
      await assert.rejects(s.ledger.setRate('41', '999999', ADMIN), refused('NOT_FOUND'));
      await s.ledger.setMerchantFee(other, 300, ADMIN);
      await s.ledger.setTraderReward(traderId, 0, ADMIN);
      assert.equal(await s.ledger.merchantFeeBps(other), 300);
      assert.equal(await s.ledger.merchantFeeBps(merchantId), 150);
      assert.equal(await s.ledger.traderRewardBps(traderId), 0);
      await assert.rejects(s.ledger.setMerchantFee(other, 10_001, ADMIN), refused('VALIDATION_FAILED'));
      await s.ledger.setTraderReward(traderId, 50, ADMIN);
    });

    test('one trader with a deposit for 3 invoices accepts 10 at the same instant: 3 succeed, 7 INSUFFICIENT_DEPOSIT', async () => {
      const racer = (await s.accounts.create('trader', 'Racer')).id;
      await s.ledger.deposit(racer, '30.00', ADMIN);
      const shop = (await s.merchants.create('Race shop')).merchantId;
      await s.ledger.setRate('41.50', shop, ADMIN);
      const uids: string[] = [];
      for (let i = 0; i < 10; i++) uids.push((await s.invoices.create(shop, { title: `R${i}`, price: '415' })).uid); // 10.00 each at 41.50
      const results = await Promise.allSettled(uids.map((uid) => s.invoices.act(uid, 'accept', trader(racer))));
      const won = results.filter((r) => r.status === 'fulfilled').length;
      const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as AppError).code] : []));
      assert.equal(won, 3, JSON.stringify(codes));
      assert.deepEqual(codes, Array(7).fill('INSUFFICIENT_DEPOSIT'));
      assert.deepEqual(await s.ledger.traderBalance(racer), { currency: 'USDT', deposit: 3000, held: 3000, available: 0, rewards: 0 });
      await assertLedgerInvariants(s);
    });
  });
}
