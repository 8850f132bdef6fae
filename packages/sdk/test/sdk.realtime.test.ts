import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Live, live } from '../../server/test/support/live.ts';
import { dbKinds, describeOn } from '../../server/test/support/system.ts';
import {
  type CheckoutView,
  historyOf,
  NlTradeClient,
  type NlTradeError,
  RemoteInvoiceClient,
  type WatchView,
  watchInvoice,
} from '../src/index.ts';

// The SDK against a started server: the legacy envelope, the realtime watcher and the v1
// client together walk an invoice from creation to success.
for (const kind of await dbKinds()) {
  describeOn(kind, `sdk against a live server (${kind})`, () => {
    let l: Live;
    before(async () => {
      l = await live(kind);
    });
    after(() => l.close());

    test('create, watch, trade, pay, dispute, decide', async (t) => {
      const api = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: l.merchantToken });
      const uid = await api.create('SDK order', '830');
      const trader = new NlTradeClient({ baseUrl: l.url, token: (await l.account('trader')).token });
      const admin = new NlTradeClient({ baseUrl: l.url, token: (await l.account('admin')).token });

      // The merchant's server watches first: that must not make it the invoice's payer.
      const views: WatchView[] = [];
      const first = new Promise<WatchView>((resolve) => {
        const watch = watchInvoice(
          l.url,
          uid,
          { token: l.merchantToken },
          {
            onUpdate: (v) => {
              views.push(v);
              resolve(v);
            },
          },
        );
        t.after(() => watch.close());
      });
      const initial = await first;
      assert.equal(initial.status, 'not approve exchange');
      assert.equal(initial.uid, uid);
      assert.equal(initial.payerBound, false);
      assert.equal((await l.ts.system.invoices.get(uid)).ip, null, 'watching binds nobody');

      // The payer opens the invoice afterwards (the legacy calls below come from 127.0.0.1 too).
      const payer = await l.connect('127.0.0.1');
      payer.join(uid);
      assert.deepEqual(await payer.next('ip:send'), ['127.0.0.1']);

      const until = async (status: string) => {
        const deadline = Date.now() + 5000;
        while (!views.some((v) => v.status === status)) {
          if (Date.now() > deadline) throw new Error(`no ${status} update; saw ${views.map((v) => v.status).join(', ')}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };

      // Traders find the invoice in the open queue by its number; they never see the UID.
      const { invoices } = await trader.traderInvoices({ status: 'not approve exchange' });
      const open = invoices.find((i) => i.title === 'SDK order');
      assert.ok(open);
      assert.equal(open.uid, null);
      assert.ok(!JSON.stringify(invoices).includes(uid));
      const id = open.id;
      await trader.accept(id);
      await trader.setCard(id, '4441 1144 4111 4442');
      await until('send card');
      assert.equal(views.at(-1)?.payerBound, true);
      let card: string | null = null;
      while (card === null) {
        const [view] = (await payer.next('invoice:update')) as [CheckoutView];
        if (view.status === 'send card') card = view.card;
      }
      assert.equal(card, '4441114441114442', 'the bound IP sees the full card');
      await api.markPaid(uid);
      await trader.changeAmount(id, '415');
      const changed = await api.get(uid);
      assert.equal(changed.send_value, '415');
      assert.equal(changed.recive_value, '10.00');
      await trader.dispute(id, 'not received');
      await api.sendProofPhoto(uid, 'https://shop.example/r/1.jpg');
      await admin.decide(uid, 'success', 'receipt matches');
      await until('success');
      const done = await api.get(uid);
      assert.equal(done.status, 'success');
      assert.deepEqual(
        historyOf(done)
          .map((h) => h.status)
          .slice(0, 2),
        ['Инвойс создан', 'Заявку прийнято трейдером'],
      );
      const versions = views.map((v) => v.version);
      assert.deepEqual(
        versions,
        [...versions].sort((a, b) => a - b),
        'versions only go up',
      );
    });

    test('the key is cached, and refreshed when the server says it is too old', async () => {
      const api = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: l.merchantToken });
      const first = await api.publicKey();
      assert.equal(await api.publicKey(), first);
      await l.ts.system.merchants.rotateKey(l.merchantId);
      const uid = await api.create('After rotation', '10');
      assert.match(uid, /^[a-z0-9]{30}$/);
      assert.notEqual(await api.publicKey(), first);
    });

    test('errors carry the catalog code', async () => {
      const api = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: l.merchantToken });
      // A business refusal is HTTP 200 with status false on the legacy API, as the original's.
      await assert.rejects(api.get('z'.repeat(30)), (e: NlTradeError) => e.code === 'INVOICE_NOT_FOUND' && e.httpStatus === 200);
      await assert.rejects(api.create('x', '-1'), (e: NlTradeError) => e.code === 'INVALID_AMOUNT');
      const stranger = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: 'nope' });
      await assert.rejects(stranger.publicKey(), (e: NlTradeError) => e.code === 'UNAUTHORIZED');
    });

    test('a watcher needs a token, and sees only what it may', async (t) => {
      const uid = await l.invoice('12');
      const watchOnce = (token: string, target: string) =>
        new Promise<{ view?: WatchView; error?: string }>((resolve) => {
          const w = watchInvoice(
            l.url,
            target,
            { token },
            {
              onUpdate: (view) => resolve({ view }),
              onError: (e) => resolve({ error: e.code }),
            },
          );
          t.after(() => w.close());
        });
      assert.deepEqual(await watchOnce('nope', uid), { error: 'UNAUTHORIZED' });
      const other = await l.ts.system.merchants.create('Other shop');
      assert.deepEqual(await watchOnce(other.accessToken, uid), { error: 'INVOICE_NOT_FOUND' });
      const trader = await l.account('trader', 'watching trader');
      const invoice = await l.ts.system.invoices.get(uid);
      assert.deepEqual(await watchOnce(trader.token, invoice.id), { error: 'INVOICE_NOT_FOUND' }, 'not its invoice yet');
      await l.ts.system.invoices.act(uid, 'accept', { type: 'trader', id: trader.id });
      const seen = await watchOnce(trader.token, invoice.id);
      assert.equal(seen.view?.status, 'wait card');
      assert.equal(seen.view?.uid, null, 'a trader never gets the UID');
      const admin = await l.account('admin', 'watching admin');
      assert.equal((await watchOnce(admin.token, uid)).view?.uid, uid);
      assert.equal((await l.ts.system.invoices.get(uid)).ip, null, 'no watcher bound it');
    });
  });
}
