import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Live, live } from '../../server/test/support/live.ts';
import { dbKinds, describeOn } from '../../server/test/support/system.ts';
import { type CheckoutView, MerchantClient, type NlTradeError, RemoteInvoiceClient } from '../src/index.ts';

// The legacy create's `return_url` is ours, not the original protocol's: the SDK sends it only
// when asked, and the payer's page and the v1 API show what the server kept.
for (const kind of await dbKinds()) {
  describeOn(kind, `sdk legacy create with a return URL (${kind})`, () => {
    let l: Live;
    before(async () => {
      l = await live(kind);
    });
    after(() => l.close());

    test('returnUrl reaches the invoice; without it there is none; a bad one is refused', async () => {
      const api = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: l.merchantToken });
      const v1 = new MerchantClient({ baseUrl: l.url, token: l.merchantToken });

      const uid = await api.create('Order with a way back', '120.00', { returnUrl: 'https://shop.example/orders/43' });
      assert.equal((await v1.getInvoice(uid)).return_url, 'https://shop.example/orders/43');
      const page = (await (await fetch(`${l.url}/v1/checkout/${uid}`)).json()) as CheckoutView;
      assert.equal(page.returnUrl, 'https://shop.example/orders/43');

      const plain = await api.create('Order without', '120.00');
      assert.equal((await v1.getInvoice(plain)).return_url, null);

      await assert.rejects(
        api.create('Order with a bad way back', '120.00', { returnUrl: 'javascript:alert(1)' }),
        (e: NlTradeError) => e.code === 'VALIDATION_FAILED',
      );
    });
  });
}
