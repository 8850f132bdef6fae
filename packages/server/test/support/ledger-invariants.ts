import assert from 'node:assert/strict';
import { splitSettlement } from '@nltrade/core';
import type { System } from '../../src/system.ts';

/** Every invariant the issue lists that holds at any moment, checked against the database. */
export async function assertLedgerInvariants(system: System): Promise<void> {
  const db = system.storage.db;
  const unbalanced = await db
    .selectFrom('ledger_lines as l')
    .innerJoin('ledger_entries as e', 'e.id', 'l.entry_id')
    .select(['l.entry_id', (eb) => eb.fn.sum<number | string>('l.amount').as('sum')])
    .groupBy(['l.entry_id', 'e.currency'])
    .having((eb) => eb.fn.sum('l.amount'), '!=', 0)
    .execute();
  assert.deepEqual(unbalanced, [], 'every entry sums to zero');
  const audit = await system.ledger.audit();
  for (const a of audit) assert.equal(a.balance, a.sum, `running balance of ${a.account} equals the sum of its lines`);
  const totals = new Map<string, number>();
  for (const a of audit) totals.set(a.currency, (totals.get(a.currency) ?? 0) + a.balance);
  for (const [currency, total] of totals) assert.equal(total, 0, `all ${currency} accounts sum to zero`);
  if (system.config.requireTraderDeposit) {
    for (const a of audit)
      if (a.account.startsWith('trader_deposit:')) assert.ok(a.balance >= 0, `${a.account} available ${a.balance} ≥ 0`);
  }
  // What is held is exactly the settlement value of the invoices traders hold now.
  const holding = await db
    .selectFrom('invoices')
    .select(['trader_id', (eb) => eb.fn.sum<number | string>('recive_minor').as('sum')])
    .where('status', 'in', ['wait card', 'send card', 'pay', 'waitPhoto', 'notApprove'])
    .where('sandbox', '=', 0)
    .groupBy('trader_id')
    .execute();
  const held = new Map(
    audit.filter((a) => a.account.startsWith('trader_held:')).map((a) => [a.account.slice('trader_held:'.length), a.balance]),
  );
  for (const h of holding) assert.equal(held.get(String(h.trader_id)) ?? 0, Number(h.sum), `held by trader ${h.trader_id}`);
  for (const [trader, amount] of held) {
    if (!holding.some((h) => String(h.trader_id) === trader)) assert.equal(amount, 0, `trader ${trader} holds nothing`);
  }
  // Each merchant: Σ(settlement − fee) over its successful invoices − payouts (+ adjustments).
  const settled = await db
    .selectFrom('invoices')
    .select(['merchant_id', 'trader_id', 'recive_minor'])
    .where('status', '=', 'success')
    .where('sandbox', '=', 0)
    .execute();
  const expected = new Map<string, number>();
  const fees = new Map<string, number>();
  const rewards = new Map<string, number>();
  for (const inv of settled) {
    const m = String(inv.merchant_id);
    const t = String(inv.trader_id);
    if (!fees.has(m)) fees.set(m, await system.ledger.merchantFeeBps(m));
    if (!rewards.has(t)) rewards.set(t, await system.ledger.traderRewardBps(t));
    const fee = fees.get(m) as number;
    const reward = rewards.get(t) as number;
    expected.set(m, (expected.get(m) ?? 0) + splitSettlement(Number(inv.recive_minor), fee, reward).merchant);
  }
  const moved = await db
    .selectFrom('ledger_lines as l')
    .innerJoin('ledger_entries as e', 'e.id', 'l.entry_id')
    .innerJoin('ledger_accounts as a', 'a.id', 'l.account_id')
    .select(['a.owner_id', (eb) => eb.fn.sum<number | string>('l.amount').as('sum')])
    .where('a.kind', '=', 'merchant')
    .where('e.kind', 'in', ['payout', 'adjust'])
    .groupBy('a.owner_id')
    .execute();
  for (const r of moved) expected.set(String(r.owner_id), (expected.get(String(r.owner_id)) ?? 0) + Number(r.sum));
  for (const a of audit) {
    if (!a.account.startsWith('merchant:')) continue;
    assert.equal(a.balance, expected.get(a.account.slice('merchant:'.length)) ?? 0, `${a.account} balance`);
  }
}
