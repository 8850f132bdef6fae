import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Live, live } from '../../server/test/support/live.ts';
import { dbKinds } from '../../server/test/support/system.ts';
import { historyOf, type InvoiceUpdate, NlTradeClient, type NlTradeError, RemoteInvoiceClient, watchInvoice } from '../src/index.ts';

// The SDK against a started server: the legacy envelope, the realtime watcher and the v1
// client together walk an invoice from creation to success.
for (const kind of await dbKinds()) {
  describe(`sdk against a live server (${kind})`, () => {
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

      const views: InvoiceUpdate[] = [];
      const bound = new Promise<string>((resolve) => {
        const watch = watchInvoice(l.url, uid, { onBoundIp: resolve, onUpdate: (v) => views.push(v) });
        t.after(() => watch.close());
      });
      assert.equal(await bound, '127.0.0.1');
      const until = async (status: string) => {
        const deadline = Date.now() + 5000;
        while (!views.some((v) => v.status === status)) {
          if (Date.now() > deadline) throw new Error(`no ${status} update; saw ${views.map((v) => v.status).join(', ')}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };

      await trader.accept(uid);
      await trader.setCard(uid, '4441 1144 4111 4442');
      await until('send card');
      assert.equal(views.at(-1)?.card, '4441114441114442', 'the bound IP sees the full card');
      await api.markPaid(uid);
      await trader.changeAmount(uid, '415');
      const changed = await api.get(uid);
      assert.equal(changed.send_value, '415');
      assert.equal(changed.recive_value, '10.00');
      await trader.dispute(uid, 'not received');
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
      await assert.rejects(api.get('z'.repeat(30)), (e: NlTradeError) => e.code === 'INVOICE_NOT_FOUND' && e.httpStatus === 404);
      await assert.rejects(api.create('x', '-1'), (e: NlTradeError) => e.code === 'INVALID_AMOUNT');
      const stranger = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: 'nope' });
      await assert.rejects(stranger.publicKey(), (e: NlTradeError) => e.code === 'UNAUTHORIZED');
    });
  });
}
