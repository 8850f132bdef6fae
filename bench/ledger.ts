// What the double-entry ledger costs an invoice's whole lifecycle, measured side by side.
//   node --conditions=source --import tsx bench/ledger.ts
// LIFECYCLES (200 per round; 80 with BENCH_QUICK=1), ROUNDS (5; 3 quick), BENCH_DB (sqlite or
// postgres; postgres needs NLTRADE_TEST_PG_URL or the test server). Each lifecycle is create →
// accept → card → paid → confirm (`success`) through InvoiceService, as the HTTP routes call it.
// "With" is the system as it runs (the stored rate, kept in memory between changes; the
// ledger's hook in every change: hold on accept, settlement on success, deposit gate on);
// "without" is an InvoiceService on an identical database with the other hooks (webhooks) but
// not the ledger's, and the configured rate. Both read the event log, as servers do.
// Lifecycles interleave one by one, so background load falls on both alike; the ratio is the
// median over rounds of with ÷ without (target ≤ 1.30).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Actor } from '@nltrade/core';
import pg from 'pg';
import { loadConfig } from '../packages/server/src/config.ts';
import { type ChangeHook, InvoiceService } from '../packages/server/src/services/invoices.ts';
import { createSystem, type System } from '../packages/server/src/system.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const LIFECYCLES = Number(process.env.LIFECYCLES ?? (QUICK ? 80 : 200));
const ROUNDS = Number(process.env.ROUNDS ?? (QUICK ? 3 : 5));
const DB = process.env.BENCH_DB === 'postgres' ? 'postgres' : 'sqlite';
const PG_URL = process.env.NLTRADE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test';
const TARGET = 1.3;
const CARD = '4441114441114442';

interface Side {
  system: System;
  invoices: InvoiceService;
  merchantId: string;
  trader: Actor;
  cleanup(): Promise<void>;
}

async function side(withLedger: boolean): Promise<Side> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-bench-ledger-'));
  let databaseUrl: string | undefined;
  let drop: (() => Promise<void>) | undefined;
  if (DB === 'postgres') {
    const schema = `bench_${randomBytes(5).toString('hex')}`;
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`CREATE SCHEMA ${schema}`);
    await c.end();
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    databaseUrl = url.toString();
    drop = async () => {
      const d = new pg.Client({ connectionString: PG_URL });
      await d.connect();
      await d.query(`DROP SCHEMA ${schema} CASCADE`);
      await d.end();
    };
  }
  const config = loadConfig(
    {},
    {
      dataDir,
      databaseUrl,
      masterKey: randomBytes(32).toString('hex'),
      rsaKeyBits: 2048,
      rsaThreads: 1,
      requireTraderDeposit: true,
      merchantFeeBps: 150,
      traderRewardBps: 50,
    },
  );
  const system = await createSystem(config);
  // As a server runs it: reading the event log (and, on PostgreSQL, listening on its channels,
  // which lets the stored rate be kept in memory between changes).
  await system.eventLog.start();
  const merchantId = (await system.merchants.create('Bench shop')).merchantId;
  const traderId = (await system.accounts.create('trader', 'Bench trader')).id;
  await system.ledger.deposit(traderId, '100000000.00', { type: 'admin', id: null });
  await system.ledger.setRate('41.50', null, { type: 'admin', id: null });
  let invoices = system.invoices;
  if (!withLedger) {
    invoices = new InvoiceService(system.storage.db, system.bus, system.eventLog, system.clock, {
      ...system.invoices.settings,
      rateOf: undefined,
    });
    // Every other hook a running system has stays, so the difference is the ledger's alone.
    const others = (system as { webhooks?: { hook: ChangeHook } }).webhooks;
    if (others) invoices.onChange(others.hook);
  }
  return {
    system,
    invoices,
    merchantId,
    trader: { type: 'trader', id: traderId },
    async cleanup() {
      await system.close();
      await drop?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function lifecycle(s: Side, i: number): Promise<number> {
  const started = process.hrtime.bigint();
  const inv = await s.invoices.create(s.merchantId, { title: `Bench ${i}`, price: '1500.50' });
  await s.invoices.bindIp(inv.uid, '192.0.2.1');
  await s.invoices.act(inv.uid, 'accept', s.trader);
  await s.invoices.act(inv.uid, 'setCard', s.trader, { card: CARD });
  await s.invoices.act(inv.uid, 'paid', { type: 'payer', id: '192.0.2.1' });
  const done = await s.invoices.act(inv.uid, 'confirm', s.trader);
  if (done.status !== 'success') throw new Error(`lifecycle ended in ${done.status}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** One round: lifecycles on both sides taking turns one by one, so load from elsewhere falls on both alike. */
async function round(a: Side, b: Side, n: number, swap: boolean): Promise<{ a: number; b: number }> {
  let ta = 0;
  let tb = 0;
  for (let i = 0; i < n; i++) {
    if (swap) {
      tb += await lifecycle(b, i);
      ta += await lifecycle(a, i);
    } else {
      ta += await lifecycle(a, i);
      tb += await lifecycle(b, i);
    }
  }
  return { a: ta / n, b: tb / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

const withLedger = await side(true);
const without = await side(false);
try {
  // Warm-up: statement caches, JIT, connection pools.
  await round(withLedger, without, 20, false);
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const { a: z, b: y } = await round(withLedger, without, LIFECYCLES, r % 2 === 1);
    a.push(z);
    b.push(y);
    ratios.push(z / y);
    console.log(`round ${r + 1}: with ledger ${z.toFixed(2)} ms, without ${y.toFixed(2)} ms per lifecycle (${(z / y).toFixed(2)}×)`);
  }
  // Every invoice settled: the figures are for real work, not refusals.
  const audit = await withLedger.system.ledger.audit();
  const merchant = audit.find((x) => x.account === `merchant:${withLedger.merchantId}`);
  if (!merchant || merchant.balance <= 0 || audit.some((x) => x.balance !== x.sum)) throw new Error('the ledger did not settle');
  const ratio = median(ratios);
  console.log(
    `${DB}: median with ${median(a).toFixed(2)} ms, without ${median(b).toFixed(2)} ms per lifecycle; ratio ${ratio.toFixed(2)}× (target ≤ ${TARGET}×): ${ratio <= TARGET ? 'met' : 'NOT MET'}`,
  );
  console.log(
    `RESULT ${JSON.stringify({
      name: 'ledger',
      metric: `lifecycle to success with the ledger, ms (${DB}); ratio = median over rounds of with ÷ without`,
      value: Number(median(a).toFixed(3)),
      baseline: Number(median(b).toFixed(3)),
      ratio: Number(ratio.toFixed(2)),
      target: `<= ${TARGET}`,
      met: ratio <= TARGET,
    })}`,
  );
} finally {
  await withLedger.cleanup();
  await without.cleanup();
}
