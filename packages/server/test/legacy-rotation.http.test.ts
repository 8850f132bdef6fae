import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createSystem, type System } from '../src/system.ts';
import { type Live, live } from './support/live.ts';
import { ReferenceClient } from './support/reference-client.ts';
import { dbKinds, describeOn } from './support/system.ts';

// The legacy API keeps a merchant's token and key list for up to a second. A key rotated by
// another process (an admin command, another node) within that second must still work for
// a client that fetched the new key, and the old key must be told "too old".
for (const kind of await dbKinds()) {
  describeOn(kind, `key rotation by another process (${kind})`, () => {
    let l: Live;
    let other: System;
    before(async () => {
      l = await live(kind);
      other = await createSystem(l.ts.system.config);
    });
    after(async () => {
      await other.close();
      await l.close();
    });

    test('the new key works at once; the old one is too old', async () => {
      const client = new ReferenceClient(l.url, l.merchantToken);
      const oldKey = await client.fetchPublicKey();
      const uid = await client.create('Before rotation', '10');
      // This request puts the merchant's keys in the server's short cache.
      assert.equal((await client.callWithKey(oldKey, { type: 'get', uid_link: uid })).http, 200);

      await other.merchants.rotateKey(l.merchantId);
      const newKey = await client.fetchPublicKey();
      assert.notEqual(newKey, oldKey);
      const fresh = await client.callWithKey(newKey, { type: 'get', uid_link: uid });
      assert.equal(fresh.http, 200, JSON.stringify(fresh.json));
      assert.equal(fresh.json.response.data.invoice[0].uid_link, uid);

      const stale = await client.callWithKey(oldKey, { type: 'get', uid_link: uid });
      assert.equal(stale.http, 400);
      assert.equal(stale.json.message, 'Your key is too old');
    });

    test('a token reissued by another process is refused here within a second, on both APIs', async () => {
      const { merchantId, accessToken } = await l.ts.system.merchants.create('Reissued elsewhere');
      const v1 = () => fetch(`${l.url}/v1/invoices`, { headers: { authorization: `Bearer ${accessToken}` } }).then((r) => r.status);
      const legacy = new ReferenceClient(l.url, accessToken);
      assert.equal(await v1(), 200);
      const key = await legacy.fetchPublicKey();
      const fresh = await other.merchants.reissueToken(merchantId);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await v1(), 401);
      assert.equal((await legacy.callWithKey(key, { type: 'get', uid_link: 'x' })).http, 401);
      const renewed = await fetch(`${l.url}/v1/invoices`, { headers: { authorization: `Bearer ${fresh}` } });
      assert.equal(renewed.status, 200);
    });
  });
}
