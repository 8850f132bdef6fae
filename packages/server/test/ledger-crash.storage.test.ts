import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { Actor } from '@nltrade/core';
import { loadConfig } from '../src/config.ts';
import { createSystem } from '../src/system.ts';
import { assertLedgerInvariants } from './support/ledger-invariants.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

/**
 * `kill -9` during a stream of successes: afterwards every `success` has its settlement entry
 * and every entry its status change. This file is also the child that makes the successes
 * (LEDGER_CRASH_CHILD=1), so the test needs no helper beside it.
 */
if (process.env.LEDGER_CRASH_CHILD === '1') {
  const system = await createSystem(loadConfig(process.env));
  const merchantId = process.env.MERCHANT as string;
  const trader: Actor = { type: 'trader', id: process.env.TRADER as string };
  let n = 0;
  const lane = async (lane: number) => {
    for (;;) {
      const inv = await system.invoices.create(merchantId, { title: `Crash ${lane}`, price: '41.50' });
      const ip = `192.0.2.${lane + 1}`;
      await system.invoices.bindIp(inv.uid, ip);
      await system.invoices.act(inv.uid, 'accept', trader);
      await system.invoices.act(inv.uid, 'setCard', trader, { card: '4441114441114442' });
      await system.invoices.act(inv.uid, 'paid', { type: 'payer', id: ip });
      await system.invoices.act(inv.uid, 'confirm', trader);
      process.stdout.write(`success ${++n}\n`);
    }
  };
  await Promise.all([0, 1, 2, 3].map(lane));
} else {
  for (const kind of await dbKinds()) {
    describeOn(kind, `storage: ledger survives kill -9 on ${kind}`, () => {
      let t: TestSystem;
      before(async () => {
        t = await testSystem(kind, { requireTraderDeposit: true });
      });
      after(() => t.cleanup());

      test('every success has its journal entry and no entry exists without its status change', async () => {
        const s = t.system;
        const merchantId = (await s.merchants.create('Shop')).merchantId;
        const traderId = (await s.accounts.create('trader', 'T')).id;
        await s.ledger.deposit(traderId, '100000.00', { type: 'admin', id: null });
        const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', import.meta.filename], {
          env: {
            ...process.env,
            LEDGER_CRASH_CHILD: '1',
            DATA_DIR: t.dataDir,
            DATABASE_URL: t.databaseUrl ?? '',
            NLTRADE_MASTER_KEY: s.config.masterKey,
            REQUIRE_TRADER_DEPOSIT: '1',
            MERCHANT: merchantId,
            TRADER: traderId,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
        // Kill it in the middle of the stream, at a moment it does not choose.
        const target = 20 + Math.floor(Math.random() * 20);
        await new Promise<void>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if ((out.match(/success/g) ?? []).length >= target) resolve();
          });
          child.on('exit', () => reject(new Error(`the child stopped before ${target} successes: ${stderr}`)));
        });
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 15)));
        child.kill('SIGKILL');
        assert.equal(await exited, 'SIGKILL');

        // Another process opens the database after the crash, as a restarted server would.
        const after = await createSystem(s.config);
        try {
          const db = after.storage.db;
          const successes = await db.selectFrom('invoices').select('id').where('status', '=', 'success').execute();
          assert.ok(successes.length >= target, `${successes.length} successes`);
          const settled = await db.selectFrom('ledger_entries').select(['invoice_id', 'event_id']).where('kind', '=', 'settle').execute();
          assert.deepEqual(
            settled.map((e) => Number(e.invoice_id)).sort((a, b) => a - b),
            successes.map((i) => Number(i.id)).sort((a, b) => a - b),
          );
          // Every entry an invoice change made points at a history row that exists, with the status it records.
          const orphans = await db
            .selectFrom('ledger_entries as e')
            .leftJoin('invoice_history as h', 'h.id', 'e.event_id')
            .select(['e.id', 'e.kind', 'h.status', 'h.invoice_id', 'e.invoice_id as entry_invoice'])
            .where('e.invoice_id', 'is not', null)
            .execute();
          for (const o of orphans) {
            assert.notEqual(o.status, null, `entry ${o.id} has its history row`);
            assert.equal(Number(o.invoice_id), Number(o.entry_invoice));
            if (o.kind === 'settle') assert.equal(o.status, 'success');
          }
          await assertLedgerInvariants(after);
        } finally {
          await after.close();
        }
      });
    });
  }
}
