import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CheckoutView, StaffInvoiceView, Status } from '@nltrade/core';
import sharp from 'sharp';
import { ManualClock } from '../src/clock.ts';
import type { Invoice } from '../src/services/invoices.ts';
import type { System } from '../src/system.ts';
import { SANDBOX_CARD, SandboxTrader } from '../src/workers/sandbox-trader.ts';
import { call, type Live, live, type Recorder } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const PAYER = '198.51.100.23';

/** Polls until the invoice satisfies `done` (the simulated trader works on its own timers). */
async function until(system: System, uid: string, done: (i: Invoice) => boolean, what: string): Promise<Invoice> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const invoice = await system.invoices.get(uid);
    if (done(invoice)) return invoice;
    if (Date.now() > deadline) throw new Error(`invoice ${uid} never ${what}; it is ${invoice.status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const reaches = (system: System, uid: string, status: Status) => until(system, uid, (i) => i.status === status, `reached ${status}`);

/** The payer's socket's updates until one has `status`. */
async function updateWith(payer: Recorder, status: Status): Promise<CheckoutView> {
  for (;;) {
    const [view] = (await payer.next('invoice:update', 20_000)) as [CheckoutView];
    if (view.status === status) return view;
  }
}

const png = () =>
  sharp({ create: { width: 16, height: 12, channels: 3, background: '#08f' } })
    .png()
    .toBuffer();

async function photoForm(): Promise<FormData> {
  const form = new FormData();
  form.append('photo', new Blob([new Uint8Array(await png())], { type: 'image/png' }), 'receipt.png');
  return form;
}

async function actions(system: System, uid: string): Promise<string[]> {
  const invoice = await system.invoices.get(uid);
  return (await system.invoices.history(invoice.id)).map((h) => `${h.action}:${h.actorType}`);
}

for (const kind of await dbKinds()) {
  describeOn(kind, `sandbox: the simulated trader over sockets and HTTP (${kind})`, () => {
    let l: Live;
    let merchantId: string;
    const errors: unknown[] = [];
    before(async () => {
      l = await live(kind, undefined, { sandboxDelayMs: 30 }, { sandboxTrader: { onError: (e) => errors.push(e), scanIntervalMs: 200 } });
      merchantId = (await l.ts.system.merchants.create('Sandbox shop', { sandbox: true })).merchantId;
    });
    after(async () => {
      await l.close();
      assert.deepEqual(errors, []);
    });

    const sandboxInvoice = async (price: string) =>
      (await l.ts.system.invoices.create(merchantId, { title: 'Test order', price, sandbox: true })).uid;

    /** Joins as the payer, waits for the test card, presses "paid". */
    async function payUntilPaid(uid: string, ip = PAYER): Promise<Recorder> {
      const payer = await l.connect(ip);
      payer.join(uid);
      const shown = await updateWith(payer, 'send card');
      assert.equal(shown.card, SANDBOX_CARD);
      assert.equal(shown.sandbox, true);
      const paid = await call<CheckoutView>(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip });
      assert.equal(paid.status, 200, JSON.stringify(paid.body));
      assert.equal(paid.body.status, 'pay');
      return payer;
    }

    test('accepted with the test card by nobody real; "paid" is confirmed: success', async () => {
      const uid = await sandboxInvoice('1500.00');
      const payer = await payUntilPaid(uid);
      assert.equal((await updateWith(payer, 'success')).sandbox, true);
      const done = await l.ts.system.invoices.get(uid);
      const { trader } = await l.server.sandboxTrader.accounts();
      assert.equal(done.traderId, trader);
      assert.equal(done.card, SANDBOX_CARD);
      assert.deepEqual(await actions(l.ts.system, uid), [
        'create:merchant',
        'accept:trader',
        'setCard:trader',
        'paid:payer',
        'confirm:trader',
      ]);
      // Its account exists for trader_id, but no token opens it.
      const row = await l.ts.system.storage.db
        .selectFrom('accounts')
        .selectAll()
        .where('id', '=', Number(trader))
        .executeTakeFirstOrThrow();
      assert.equal(row.role, 'trader');
      assert.doesNotMatch(row.token_hash, /^[0-9a-f]{64}$/);
    });

    test('.01: after "paid" the amount is changed to 1.00 less, then confirmed', async () => {
      const uid = await sandboxInvoice('1500.01');
      const payer = await payUntilPaid(uid);
      const done = await updateWith(payer, 'success');
      assert.equal(done.amount, '1499.01');
      assert.equal(done.previousAmount, '1500.01');
      assert.deepEqual((await actions(l.ts.system, uid)).slice(3), ['paid:payer', 'changeAmount:trader', 'confirm:trader']);
    });

    test('.02: after "paid" a dispute; the receipt photo wins it (decided automatically)', async () => {
      const uid = await sandboxInvoice('750.02');
      const payer = await payUntilPaid(uid);
      await updateWith(payer, 'waitPhoto');
      const up = await call<CheckoutView>(l.url, 'POST', `/v1/checkout/${uid}/photo`, { ip: PAYER, form: await photoForm() });
      assert.equal(up.status, 200, JSON.stringify(up.body));
      const done = await updateWith(payer, 'success');
      assert.match(done.resolution ?? '', /Sandbox/);
      assert.deepEqual((await actions(l.ts.system, uid)).slice(3), ['paid:payer', 'dispute:trader', 'proofPhoto:payer', 'decide:admin']);
    });

    test('.04: after "paid" a dispute, decided against the payer even with a photo', async () => {
      const uid = await sandboxInvoice('750.04');
      const payer = await payUntilPaid(uid);
      await updateWith(payer, 'waitPhoto');
      const up = await call<CheckoutView>(l.url, 'POST', `/v1/checkout/${uid}/photo`, { ip: PAYER, form: await photoForm() });
      assert.equal(up.status, 200, JSON.stringify(up.body));
      await updateWith(payer, 'canceled');
      assert.equal((await actions(l.ts.system, uid)).at(-1), 'decide:admin');
    });

    test("a real trader's list, get and accept never reach a sandbox invoice; administrators see it marked", async () => {
      // .03: nobody takes it, so it stays open and would be in a real queue if anything leaked.
      const uid = await sandboxInvoice('99.03');
      const real = await l.invoice('99.00');
      const id = await l.idOf(uid);
      const trader = await l.account('trader', 'Real trader');
      const list = await call<{ invoices: StaffInvoiceView[] }>(l.url, 'GET', '/v1/trader/invoices', { token: trader.token });
      assert.equal(list.status, 200);
      const ids = list.body.invoices.map((i) => i.id);
      assert.ok(ids.includes(await l.idOf(real)));
      assert.ok(!ids.includes(id));
      assert.equal(list.body.invoices.filter((i) => i.sandbox).length, 0);
      for (const [method, path] of [
        ['GET', `/v1/trader/invoices/${id}`],
        ['GET', `/v1/trader/invoices/${uid}`],
        ['POST', `/v1/trader/invoices/${id}/accept`],
      ] as const) {
        const r = await call(l.url, method, path, { token: trader.token, ...(method === 'POST' && { json: {} }) });
        assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.code, 'INVOICE_NOT_FOUND');
      }
      const admin = await l.account('admin', 'Admin');
      const all = await call<{ invoices: StaffInvoiceView[] }>(l.url, 'GET', '/v1/admin/invoices', { token: admin.token });
      assert.equal(all.body.invoices.find((i) => i.id === id)?.sandbox, true);
      assert.equal(all.body.invoices.find((i) => i.id === ids[0])?.sandbox, false);
      assert.equal((await l.ts.system.invoices.get(uid)).status, 'not approve exchange');
    });
  });

  describeOn(kind, `sandbox: timers, restarts and several processes (${kind})`, () => {
    let l: Live;
    let merchantId: string;
    const clock = new ManualClock(Date.now());
    const errors: unknown[] = [];
    before(async () => {
      l = await live(kind, clock, { sandboxDelayMs: 0 }, { sandboxTrader: { start: false } });
      merchantId = (await l.ts.system.merchants.create('Sandbox shop', { sandbox: true })).merchantId;
    });
    after(async () => {
      await l.close();
      assert.deepEqual(errors, []);
    });
    const sandboxInvoice = async (price: string) =>
      (await l.ts.system.invoices.create(merchantId, { title: 'Test order', price, sandbox: true })).uid;
    const trader = () =>
      SandboxTrader.forSystem(l.ts.system, {
        delayMs: l.ts.system.config.sandboxDelayMs,
        onError: (e) => errors.push(e),
        scanIntervalMs: 50,
      });
    const pay = async (uid: string) => {
      await l.ts.system.invoices.bindIp(uid, PAYER);
      await l.ts.system.invoices.act(uid, 'paid', { type: 'payer', id: PAYER });
    };

    test('no sandbox invoice yet: a scan makes no simulated accounts', async () => {
      await l.invoice('12.00');
      assert.deepEqual(await l.server.sandboxTrader.runOnce(), { moved: 0, skipped: 0 });
      const rows = await l.ts.system.storage.db.selectFrom('accounts').select('id').where('token_hash', 'like', 'sandbox:%').execute();
      assert.equal(rows.length, 0);
    });

    test('.03: nobody accepts, and the accept timeout rejects it as usual', async () => {
      const nobody = await sandboxInvoice('10.03');
      const control = await sandboxInvoice('10.00');
      const first = await l.server.sandboxTrader.runOnce();
      assert.equal(first.moved, 1);
      assert.equal((await l.ts.system.invoices.get(control)).status, 'wait card');
      await l.server.sandboxTrader.runOnce();
      assert.equal((await l.ts.system.invoices.get(control)).status, 'send card');
      assert.equal((await l.ts.system.invoices.get(nobody)).status, 'not approve exchange');
      clock.advance(l.ts.system.config.acceptTimeoutSeconds * 1000 + 1000);
      await l.server.sweeper.runOnce();
      const rejected = await l.ts.system.invoices.get(nobody);
      assert.equal(rejected.status, 'rejected');
      assert.equal(rejected.traderId, null);
    });

    test('a restart picks up the moves that were pending while no simulated trader ran', async () => {
      const uid = await sandboxInvoice('200.00');
      const one = trader();
      one.start();
      await reaches(l.ts.system, uid, 'send card');
      await one.stop();
      await pay(uid);
      // Nothing runs now: the invoice waits in the database for the next start.
      assert.equal((await l.ts.system.invoices.get(uid)).status, 'pay');
      const two = trader();
      two.start();
      try {
        await reaches(l.ts.system, uid, 'success');
      } finally {
        await two.stop();
      }
    });

    test('several simulated traders at once: each move is made once, the losers stay quiet', async () => {
      const uids = await Promise.all(['31.00', '32.01', '33.00', '34.01', '35.00'].map(sandboxInvoice));
      const many = [trader(), trader(), trader()];
      for (const t of many) t.start();
      try {
        for (const uid of uids) {
          await reaches(l.ts.system, uid, 'send card');
          await pay(uid);
        }
        for (const uid of uids) await reaches(l.ts.system, uid, 'success');
      } finally {
        await Promise.all(many.map((t) => t.stop()));
      }
      for (const uid of uids) {
        const steps = await actions(l.ts.system, uid);
        const changed = (await l.ts.system.invoices.get(uid)).traderChangePrice !== null;
        assert.deepEqual(steps, [
          'create:merchant',
          'accept:trader',
          'setCard:trader',
          'paid:payer',
          ...(changed ? ['changeAmount:trader'] : []),
          'confirm:trader',
        ]);
      }
      // One account each, however many processes made it.
      const rows = await l.ts.system.storage.db
        .selectFrom('accounts')
        .select('token_hash')
        .where('token_hash', 'like', 'sandbox:%')
        .execute();
      assert.equal(rows.length, 2);
    });

    test('invoices of real merchants are never touched', async () => {
      const real = await l.invoice('40.00');
      const result = await l.server.sandboxTrader.runOnce();
      assert.equal(result.moved, 0);
      assert.equal((await l.ts.system.invoices.get(real)).status, 'not approve exchange');
    });
  });
}
