import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../../cli/src/main.ts';
import { assertLedgerInvariants } from './support/ledger-invariants.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

/**
 * The ledger's admin commands, run through the CLI's own `main` on the test database (the
 * environment points it there, as `DATA_DIR` / `DATABASE_URL` would in a shell).
 */
async function nltrade(ts: TestSystem, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const saved = { ...process.env };
  Object.assign(process.env, {
    DATA_DIR: ts.dataDir,
    DATABASE_URL: ts.databaseUrl ?? '',
    NLTRADE_MASTER_KEY: ts.system.config.masterKey,
    RSA_KEY_BITS: '2048',
  });
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

for (const kind of await dbKinds()) {
  describeOn(kind, `nltrade admin ledger commands on ${kind}`, () => {
    let ts: TestSystem;
    let merchantId: string;
    let traderId: string;

    before(async () => {
      ts = await testSystem(kind, { requireTraderDeposit: true });
      merchantId = (await ts.system.merchants.create('Shop')).merchantId;
      traderId = (await ts.system.accounts.create('trader', 'T')).id;
    });
    after(() => ts.cleanup());

    test('deposit, withdraw, adjust and payout, with --json, and refusals below zero', async () => {
      const dep = await nltrade(ts, 'admin', 'deposit', '--trader', traderId, '--amount', '1000.00', '--json');
      assert.equal(dep.code, 0, dep.stderr);
      const entry = JSON.parse(dep.stdout) as { kind: string; lines: { account: string; amount: string }[] };
      assert.equal(entry.kind, 'deposit');
      assert.deepEqual(entry.lines.find((l) => l.account === `trader_deposit:${traderId}`)?.amount, '1000.00');

      const text = await nltrade(ts, 'admin', 'withdraw', '--trader', traderId, '--amount', '0.50');
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /withdraw/);
      assert.match(text.stdout, /-0\.50 USDT/);

      const over = await nltrade(ts, 'admin', 'withdraw', '--trader', traderId, '--amount', '999.51');
      assert.equal(over.code, 1);
      assert.match(over.stderr, /below zero \(INSUFFICIENT_FUNDS\)/);
      const payout = await nltrade(ts, 'admin', 'payout', '--merchant', merchantId, '--amount', '1');
      assert.equal(payout.code, 1);
      assert.match(payout.stderr, /INSUFFICIENT_FUNDS/);

      const noReason = await nltrade(ts, 'admin', 'adjust', '--account', `merchant:${merchantId}`, '--amount', '5');
      assert.equal(noReason.code, 2);
      assert.match(noReason.stderr, /--reason is required/);
      const adj = await nltrade(
        ts,
        'admin',
        'adjust',
        '--account',
        `merchant:${merchantId}`,
        '--amount',
        '5',
        '--reason',
        'goodwill',
        '--json',
      );
      assert.equal(adj.code, 0, adj.stderr);
      assert.equal((JSON.parse(adj.stdout) as { memo: string }).memo, 'goodwill');
      const paid = await nltrade(ts, 'admin', 'payout', '--merchant', merchantId, '--amount', '5', '--json');
      assert.equal(paid.code, 0, paid.stderr);
      assert.deepEqual(await ts.system.ledger.merchantBalance(merchantId), { currency: 'USDT', available: 0, paidOut: 500 });

      const bad = await nltrade(ts, 'admin', 'deposit', '--trader', traderId, '--amount', '1.234');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /INVALID_AMOUNT/);
      const unknown = await nltrade(ts, 'admin', 'deposit', '--trader', '424242', '--amount', '1');
      assert.match(unknown.stderr, /No trader 424242 \(NOT_FOUND\)/);
      assert.equal((await nltrade(ts, 'admin', 'deposit', '--amount', '1')).code, 2);

      const balances = await nltrade(ts, 'admin', 'balances', '--json');
      const accounts = (JSON.parse(balances.stdout) as { accounts: { account: string; balance: string }[] }).accounts;
      assert.equal(accounts.find((a) => a.account === `trader_deposit:${traderId}`)?.balance, '999.50');
      await assertLedgerInvariants(ts.system);
    });

    test('set-setting changes a timeout at run time; settings lists it with the configured value', async () => {
      const set = await nltrade(ts, 'admin', 'set-setting', 'CARD_TIMEOUT', '90');
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /CARD_TIMEOUT is 90 s/);
      const bad = await nltrade(ts, 'admin', 'set-setting', 'CARD_TIMEOUT', '5');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /from 30 to 86400/);
      assert.equal((await nltrade(ts, 'admin', 'set-setting', 'CARD_TIMEOUT')).code, 2);
      const listed = await nltrade(ts, 'admin', 'settings', '--json');
      const card = (JSON.parse(listed.stdout) as { settings: { key: string; value: number; configured: number }[] }).settings.find(
        (x) => x.key === 'CARD_TIMEOUT',
      );
      assert.equal(card?.value, 90);
      assert.equal(card?.configured, ts.system.config.cardTimeoutSeconds);
      assert.match((await nltrade(ts, 'admin', 'settings')).stdout, /CARD_TIMEOUT\s+90 s {2}\(configured/);
    });

    test('set-rate, set-fee and set-reward are stored with history; new invoices get the rate', async () => {
      const r = await nltrade(ts, 'admin', 'set-rate', '41.75');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /41\.75/);
      assert.equal((await nltrade(ts, 'admin', 'set-rate', '0')).code, 1);
      assert.equal((await nltrade(ts, 'admin', 'set-rate')).code, 2);
      const mine = await nltrade(ts, 'admin', 'set-rate', '40', '--merchant', merchantId, '--json');
      assert.deepEqual((JSON.parse(mine.stdout) as { ownerId: string; value: string }).value, '40');
      assert.equal((await ts.system.invoices.create(merchantId, { title: 'x', price: '100' })).rate, '40');
      const other = (await ts.system.merchants.create('Other')).merchantId;
      assert.equal((await ts.system.invoices.create(other, { title: 'x', price: '100' })).rate, '41.75');

      assert.equal((await nltrade(ts, 'admin', 'set-fee', '--merchant', merchantId, '--bps', '150')).code, 0);
      assert.equal((await nltrade(ts, 'admin', 'set-reward', '--trader', traderId, '--bps', '25')).code, 0);
      const badBps = await nltrade(ts, 'admin', 'set-fee', '--bps', '10001');
      assert.equal(badBps.code, 1);
      assert.match(badBps.stderr, /VALIDATION_FAILED/);
      assert.equal(await ts.system.ledger.merchantFeeBps(merchantId), 150);
      assert.equal(await ts.system.ledger.traderRewardBps(traderId), 25);
      assert.deepEqual(
        (await ts.system.ledger.settingsHistory()).map((h) => [h.kind, h.value]),
        [
          ['trader_reward', '25'],
          ['merchant_fee', '150'],
          ['rate', '40'],
          ['rate', '41.75'],
        ],
      );
    });

    test('export-ledger writes the journal as CSV for the accountant, within --from/--to', async () => {
      const out = path.join(ts.dataDir, 'ledger.csv');
      const r = await nltrade(ts, 'admin', 'export-ledger', '--from', '2000-01-01', '--format', 'csv', '--out', out);
      assert.equal(r.code, 0, r.stderr);
      const rows = fs.readFileSync(out, 'utf8').trim().split('\n');
      assert.equal(rows[0], 'entry_id,at,kind,invoice_id,event_id,account,currency,amount,memo,actor_type,actor_id');
      const total = (await ts.system.ledger.entries({ limit: 1000 })).entries.reduce((n, e) => n + e.lines.length, 0);
      assert.equal(rows.length - 1, total);
      const sums = new Map<string, number>();
      for (const row of rows.slice(1)) {
        const cells = row.split(',');
        sums.set(cells[0] as string, (sums.get(cells[0] as string) ?? 0) + Math.round(Number(cells[7]) * 100));
      }
      for (const [id, sum] of sums) assert.equal(sum, 0, `entry ${id} sums to zero`);
      assert.ok(rows.some((row) => row.includes(',goodwill,')));
      // Never overwrites a file.
      assert.equal((await nltrade(ts, 'admin', 'export-ledger', '--out', out)).code, 1);
      const early = path.join(ts.dataDir, 'none.csv');
      assert.equal((await nltrade(ts, 'admin', 'export-ledger', '--to', '2000-01-01', '--out', early)).code, 0);
      assert.equal(
        fs.readFileSync(early, 'utf8'),
        'entry_id,at,kind,invoice_id,event_id,account,currency,amount,memo,actor_type,actor_id\n',
      );
      assert.equal(fs.statSync(early).mode & 0o777, 0o600);
      assert.equal((await nltrade(ts, 'admin', 'export-ledger', '--from', 'soon')).code, 2);
      assert.equal((await nltrade(ts, 'admin', 'export-ledger', '--format', 'xlsx')).code, 2);
    });
  });
}
