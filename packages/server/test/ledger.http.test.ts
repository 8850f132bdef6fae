import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NlTradeClient, type TraderBalanceView } from '@nltrade/sdk';
import { ManualClock } from '../src/clock.ts';
import { assertLedgerInvariants } from './support/ledger-invariants.ts';
import { call, type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const CARD = '4111111111111111';
const IP = '198.51.100.61';

interface Entry {
  id: string;
  kind: string;
  invoice_id: string | null;
  memo: string | null;
  lines: { account: string; amount: string }[];
}

for (const kind of await dbKinds()) {
  describeOn(kind, `ledger HTTP API (${kind})`, () => {
    let l: Live;
    let trader: { id: string; token: string };
    let admin: { id: string; token: string };
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 10, 0, 0));

    before(async () => {
      l = await live(kind, clock, { requireTraderDeposit: true, merchantFeeBps: 200, traderRewardBps: 100 });
      trader = await l.account('trader', 'T');
      admin = await l.account('admin', 'A');
    });
    after(() => l.close());

    // Trader calls go through the SDK, as integrators make them: its types and its errors are under test too.
    const sdk = (token: string) => new NlTradeClient({ baseUrl: l.url, token });
    /** What the SDK throws for a refusal: the server's status and catalog code. */
    const refused = (httpStatus: number, code?: string) => ({ name: 'NlTradeError', httpStatus, ...(code !== undefined && { code }) });

    const asAdmin = (method: 'GET' | 'POST', path: string, json?: unknown) =>
      call<Record<string, unknown>>(l.url, method, path, { token: admin.token, ...(json !== undefined && { json }) });

    test('each balance needs its own kind of token', async () => {
      await assert.rejects(sdk('').traderBalance(), refused(401));
      await assert.rejects(sdk(admin.token).traderBalance(), refused(403));
      assert.equal((await call(l.url, 'GET', '/v1/balance', { token: trader.token })).status, 401);
      assert.equal((await call(l.url, 'GET', '/v1/admin/balances', { token: trader.token })).status, 403);
      assert.equal((await call(l.url, 'POST', '/v1/admin/ledger/deposit', { token: l.merchantToken, json: {} })).status, 401);
    });

    test('the open queue hides what the deposit cannot cover, and accepting it is refused', async () => {
      const uid = await l.invoice('830.00'); // 20.00 USDT at 41.50
      const id = await l.idOf(uid);
      const t = sdk(trader.token);
      const queue = async () => (await t.traderInvoices()).invoices.map((i) => i.id);
      assert.deepEqual(await t.traderBalance(), {
        currency: 'USDT',
        deposit: '0.00',
        held: '0.00',
        available: '0.00',
        rewards: '0.00',
      } satisfies TraderBalanceView);
      assert.ok(!(await queue()).includes(id));
      await assert.rejects(t.accept(id), refused(409, 'INSUFFICIENT_DEPOSIT'));

      const dep = await asAdmin('POST', '/v1/admin/ledger/deposit', { trader: trader.id, amount: '25.00', reason: 'bank transfer 17' });
      assert.equal(dep.status, 200, JSON.stringify(dep.body));
      const entry = dep.body as unknown as Entry;
      assert.equal(entry.kind, 'deposit');
      assert.equal(entry.memo, 'bank transfer 17');
      assert.deepEqual(
        entry.lines.map((x) => [x.account, x.amount]),
        [
          [`trader_deposit:${trader.id}`, '25.00'],
          ['world', '-25.00'],
        ],
      );
      assert.ok((await queue()).includes(id));
      assert.equal((await t.accept(id)).status, 'wait card');
      assert.deepEqual(await t.traderBalance(), {
        currency: 'USDT',
        deposit: '25.00',
        held: '20.00',
        available: '5.00',
        rewards: '0.00',
      });
      // Still listed: it is the trader's own now.
      assert.ok((await queue()).includes(id));
      assert.equal((await t.setCard(id, CARD)).status, 'send card');
      await l.ts.system.invoices.bindIp(uid, IP);
      assert.equal((await call(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: IP })).status, 200);
      assert.equal((await t.confirm(id)).status, 'success');
      // 20.00: fee 2 % = 0.40, reward 1 % = 0.20.
      assert.deepEqual((await call(l.url, 'GET', '/v1/balance', { token: l.merchantToken })).body, {
        currency: 'USDT',
        available: '19.60',
        paid_out: '0.00',
      });
      assert.deepEqual(await t.traderBalance(), {
        currency: 'USDT',
        deposit: '5.00',
        held: '0.00',
        available: '5.00',
        rewards: '0.20',
      });
      await assertLedgerInvariants(l.ts.system);
    });

    test('administrators: operations with clear refusals, balances, the journal page by page', async () => {
      const tooMuch = await asAdmin('POST', '/v1/admin/ledger/payout', { merchant: l.merchantId, amount: '19.61' });
      assert.equal(tooMuch.status, 409);
      assert.equal(tooMuch.body.code, 'INSUFFICIENT_FUNDS');
      assert.equal((await asAdmin('POST', '/v1/admin/ledger/payout', { merchant: l.merchantId, amount: '10' })).status, 200);
      assert.deepEqual((await call(l.url, 'GET', '/v1/balance', { token: l.merchantToken })).body, {
        currency: 'USDT',
        available: '9.60',
        paid_out: '10.00',
      });
      // The merchant sees each payout, and only its own.
      const payouts = (await call(l.url, 'GET', '/v1/balance/payouts', { token: l.merchantToken })).body as {
        data: { amount: string; currency: string }[];
        next_cursor: string | null;
      };
      assert.deepEqual(
        payouts.data.map((p) => [p.amount, p.currency]),
        [['10.00', 'USDT']],
      );
      assert.equal(payouts.next_cursor, null);
      const stranger = await l.ts.system.merchants.create('No payouts');
      assert.deepEqual((await call(l.url, 'GET', '/v1/balance/payouts', { token: stranger.accessToken })).body, {
        data: [],
        next_cursor: null,
      });
      assert.equal(
        (await asAdmin('POST', '/v1/admin/ledger/withdraw', { trader: trader.id, amount: '5.01' })).body.code,
        'INSUFFICIENT_FUNDS',
      );
      assert.equal(
        (await asAdmin('POST', '/v1/admin/ledger/withdraw', { trader: trader.id, amount: '0.20', from: 'rewards' })).status,
        200,
      );
      assert.equal((await asAdmin('POST', '/v1/admin/ledger/adjust', { account: 'platform', amount: '-0.01' })).status, 400);
      const badAmount = await asAdmin('POST', '/v1/admin/ledger/adjust', { account: 'platform', amount: '1.001', reason: 'x' });
      assert.equal(badAmount.body.code, 'INVALID_AMOUNT');
      assert.equal(
        (await asAdmin('POST', '/v1/admin/ledger/adjust', { account: 'bank:1', amount: '1', reason: 'x' })).body.code,
        'VALIDATION_FAILED',
      );
      const received = await asAdmin('POST', '/v1/admin/ledger/adjust', {
        account: `trader_received:${trader.id}`,
        amount: '1',
        reason: 'x',
      });
      assert.deepEqual([received.status, received.body.code, received.body.param], [400, 'VALIDATION_FAILED', 'account']);
      const adj = await asAdmin('POST', '/v1/admin/ledger/adjust', { account: 'platform', amount: '-0.01', reason: 'rounding' });
      assert.equal(adj.status, 200, JSON.stringify(adj.body));
      assert.equal((await asAdmin('POST', '/v1/admin/ledger/deposit', { trader: '99999', amount: '1' })).status, 404);

      const balances = (await asAdmin('GET', '/v1/admin/balances')).body.accounts as { account: string; balance: string }[];
      const byCode = Object.fromEntries(balances.map((b) => [b.account, b.balance]));
      assert.equal(byCode[`merchant:${l.merchantId}`], '9.60');
      assert.equal(byCode.platform, '0.19');
      assert.equal(byCode[`trader_rewards:${trader.id}`], '0.00');
      const merchantsOnly = (await asAdmin('GET', '/v1/admin/balances?kind=merchant')).body.accounts as { kind: string }[];
      assert.ok(merchantsOnly.length > 0 && merchantsOnly.every((a) => a.kind === 'merchant'));

      const all: Entry[] = [];
      let cursor: string | null = null;
      do {
        const page = await asAdmin('GET', `/v1/admin/ledger?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(page.status, 200);
        all.push(...(page.body.entries as Entry[]));
        cursor = page.body.next_cursor as string | null;
      } while (cursor);
      assert.deepEqual(
        all.map((e) => e.kind),
        ['deposit', 'hold', 'settle', 'payment', 'payout', 'withdraw', 'adjust'],
      );
      for (const e of all)
        assert.equal(
          e.lines.reduce((n, x) => n + Math.round(Number(x.amount) * 100), 0),
          0,
        );
      const mine = (await asAdmin('GET', `/v1/admin/ledger?account=merchant:${l.merchantId}`)).body.entries as Entry[];
      assert.deepEqual(
        mine.map((e) => e.kind),
        ['settle', 'payout'],
      );
      const future = await asAdmin('GET', `/v1/admin/ledger?from=${encodeURIComponent('2030-01-01T00:00:00Z')}`);
      assert.deepEqual(future.body.entries, []);
      const window = await asAdmin('GET', `/v1/admin/ledger?from=${clock.now()}&to=${clock.now() + 1}`);
      assert.equal((window.body.entries as Entry[]).length, all.length);
      assert.equal((await asAdmin('GET', '/v1/admin/ledger?from=yesterday')).body.code, 'VALIDATION_FAILED');
    });

    test('rates and fees are stored settings with history', async () => {
      const set = await asAdmin('POST', '/v1/admin/rates', { rate: '40.00' });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.equal((await asAdmin('POST', '/v1/admin/rates', { rate: '-1' })).body.code, 'VALIDATION_FAILED');
      const rates = await asAdmin('GET', '/v1/admin/rates');
      assert.equal(rates.body.rate, '40.00');
      assert.equal((rates.body.history as unknown[]).length, 1);
      const uid = await l.invoice('100');
      assert.equal((await l.ts.system.invoices.get(uid)).rate, '40.00');
      const fee = await asAdmin('POST', '/v1/admin/ledger/fee', { merchant: l.merchantId, bps: 250 });
      assert.deepEqual([fee.status, fee.body.kind, fee.body.owner_id, fee.body.value], [200, 'merchant_fee', l.merchantId, '250']);
      assert.equal((await asAdmin('POST', '/v1/admin/ledger/reward', { bps: 10_001 })).status, 400);
      assert.equal((await asAdmin('POST', '/v1/admin/ledger/reward', { trader: trader.id, bps: 0 })).status, 200);
    });

    test('a page of the queue is full of what the trader can take, however many it cannot are newer', async () => {
      const small: string[] = [];
      for (const amount of ['41.50', '83.00']) small.push(await l.idOf(await l.invoice(amount))); // about 1 and 2 USDT
      const big: string[] = [];
      for (let i = 0; i < 3; i++) big.push(await l.idOf(await l.invoice('41500.00'))); // about 1000 USDT each, newer
      const rich = await l.account('trader', 'Small deposit');
      const dep = await asAdmin('POST', '/v1/admin/ledger/deposit', { trader: rich.id, amount: '5.00', reason: 'top-up' });
      assert.equal(dep.status, 200, JSON.stringify(dep.body));
      const page = await sdk(rich.token).traderInvoices({ limit: 2 });
      assert.deepEqual(
        page.invoices.map((i) => i.id),
        [...small].reverse(),
      );
      for (const id of big) await assert.rejects(sdk(rich.token).accept(id), refused(409, 'INSUFFICIENT_DEPOSIT'));
    });
  });
}
