import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, publicEncrypt } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type RunningServer, startServer } from '../src/start.ts';
import { ReferenceClient, VERIFICATION_WORD } from './support/reference-client.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

/**
 * The default key size exists for this request: the documented proof-photo update with a
 * realistic URL is 264 bytes of plaintext, more than a 2048-bit key's 245.
 */
for (const kind of await dbKinds()) {
  describeOn(kind, `legacy API with 4096-bit keys on ${kind}`, () => {
    let t: TestSystem;
    let server: RunningServer;
    let client: ReferenceClient;
    let traderId: string;

    before(async () => {
      t = await testSystem(kind, { rsaKeyBits: 4096 });
      server = await startServer(t.system.config, { system: t.system, sweeper: { start: false } });
      client = new ReferenceClient(server.url, (await t.system.merchants.create('Shop')).accessToken);
      traderId = (await t.system.accounts.create('trader', 'T')).id;
    });
    after(async () => {
      await server?.close();
      await t?.cleanup();
    });

    test('the documented photo update with a realistic URL (264 bytes) fits and works', async () => {
      const uid = await client.create('Photo order', '700');
      const trader = { type: 'trader' as const, id: traderId };
      await t.system.invoices.act(uid, 'accept', trader);
      await t.system.invoices.act(uid, 'setCard', trader, { card: '4441114441114442' });
      await t.system.invoices.bindIp(uid, '127.0.0.1');
      assert.equal((await client.call({ type: 'update', uid_link: uid, status: 'pay', log: 'Заявка оплаченна клієнтом' })).http, 200);
      await t.system.invoices.act(uid, 'dispute', trader);

      const url = 'https://files.example.com/receipts/a3f9c2e1b7d4086f5e21.jpg';
      const request = { type: 'update', uid_link: uid, status: 'notApprove', approve_photo: url, log: 'Фото підтвердження відправленно' };
      const plaintext = Buffer.from(JSON.stringify({ ...request, verificationWord: VERIFICATION_WORD }));
      assert.equal(plaintext.length, 264);
      const small = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
      assert.throws(() => publicEncrypt({ key: small, padding: constants.RSA_PKCS1_PADDING }, plaintext), /too large/);

      const res = await client.call(request);
      assert.equal(res.http, 200, JSON.stringify(res.json));
      const record = (await client.call({ type: 'get', uid_link: uid })).json.response.data.invoice[0];
      assert.equal(record.status, 'notApprove');
      assert.equal(record.approve_photo, url);
      assert.equal(JSON.parse(record.exchange_log).at(-1).status, 'Фото підтвердження відправленно');
    });
  });
}
