import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RemoteInvoiceClient } from '@nltrade/sdk';
import { type Live, live } from './support/live.ts';
import { encryptRequest, ReferenceClient } from './support/reference-client.ts';
import { dbKinds, describeOn } from './support/system.ts';

// A merchant polling an invoice sends the same envelope again and again (the SDK does for
// `get`): the server answers it from the envelopes it has opened, with no RSA operation, and
// never where the envelope would not have opened.
for (const kind of await dbKinds()) {
  describeOn(kind, `legacy API: envelopes already opened (${kind})`, () => {
    let l: Live;
    let decrypts = 0;
    before(async () => {
      l = await live(kind);
      const rsa = l.ts.system.rsa;
      const decrypt = rsa.decrypt.bind(rsa);
      rsa.decrypt = (...args: Parameters<typeof decrypt>) => {
        decrypts++;
        return decrypt(...args);
      };
    });
    after(() => l.close());

    test('the same envelope again costs no RSA operation and gets the invoice as it is now', async () => {
      const client = new ReferenceClient(l.url, l.merchantToken);
      const uid = await client.create('Polled', '100');
      const data = encryptRequest(await client.fetchPublicKey(), { type: 'get', uid_link: uid });
      const before = decrypts;
      const first = await client.post(data);
      assert.equal(first.http, 200);
      assert.equal(first.json.response.data.invoice[0].status, 'not approve exchange');
      assert.equal(decrypts, before + 1);

      // The invoice moves on; the same envelope reads it as it is now.
      await l.ts.system.invoices.act(uid, 'remove', { type: 'merchant', id: l.merchantId }, {}, { merchantId: l.merchantId });
      const second = await client.post(data);
      assert.equal(second.http, 200);
      assert.equal(second.json.response.data.invoice[0].status, 'canceled');
      assert.equal(decrypts, before + 1);
    });

    test('another merchant cannot use an envelope this merchant had opened', async () => {
      const client = new ReferenceClient(l.url, l.merchantToken);
      const uid = await client.create('Mine', '100');
      const data = encryptRequest(await client.fetchPublicKey(), { type: 'get', uid_link: uid });
      assert.equal((await client.post(data)).http, 200);
      const other = await l.ts.system.merchants.create('Other shop');
      const stranger = new ReferenceClient(l.url, other.accessToken);
      const answer = await stranger.post(data);
      assert.equal(answer.http, 400);
      assert.match(answer.json.message, /could not be decrypted/);
      const nobody = await new ReferenceClient(l.url, 'nlt_not_a_token_at_all_000000000000').post(data);
      assert.equal(nobody.http, 401);
    });

    test('after a key rotation the opened envelope is too old, and the SDK seals anew', async () => {
      const sdk = new RemoteInvoiceClient({ baseUrl: l.url, accessToken: l.merchantToken });
      const uid = await sdk.create('Rotated', '100');
      const reference = new ReferenceClient(l.url, l.merchantToken);
      const data = encryptRequest(await reference.fetchPublicKey(), { type: 'get', uid_link: uid });
      assert.equal((await reference.post(data)).http, 200);
      assert.equal((await sdk.get(uid)).uid_link, uid);
      const polled = decrypts;
      assert.equal((await sdk.get(uid)).uid_link, uid);
      assert.equal(decrypts, polled, 'the SDK polls with the envelope it sealed');

      await l.ts.system.merchants.rotateKey(l.merchantId);
      // The server's short cache of the merchant's keys ends within a second.
      await new Promise((r) => setTimeout(r, 1100));
      const stale = await reference.post(data);
      assert.equal(stale.http, 400);
      assert.equal(stale.json.message, 'Your key is too old');
      assert.equal((await sdk.get(uid)).uid_link, uid);
      const resealed = decrypts;
      assert.equal((await sdk.get(uid)).uid_link, uid);
      assert.equal(decrypts, resealed);
    });
  });
}
