import assert from 'node:assert/strict';
import { test } from 'node:test';
import { primesOf } from './support/rsa-der.ts';
import { dbKinds, describeOn, testSystem } from './support/system.ts';

for (const kind of await dbKinds()) {
  describeOn(kind, `merchant keys (${kind})`, () => {
    test('new and rotated keys have as many primes as the size allows, or as RSA_KEY_PRIMES says', async () => {
      for (const [primes, expected] of [
        [0, 3],
        [2, 2],
      ] as const) {
        const ts = await testSystem(kind, { rsaKeyBits: 2048, rsaKeyPrimes: primes });
        try {
          const { merchantId, accessToken } = await ts.system.merchants.create('Key shop');
          const first = (await ts.system.merchants.authenticateWithKeys(accessToken))?.keys[0];
          assert.ok(first);
          assert.equal(primesOf(await ts.system.merchants.privateKeyPem(Number(first.id))).length, expected);
          await ts.system.merchants.rotateKey(merchantId);
          const rotated = (await ts.system.merchants.authenticateWithKeys(accessToken))?.keys[0];
          assert.ok(rotated && rotated.id !== first.id);
          assert.equal(primesOf(await ts.system.merchants.privateKeyPem(Number(rotated.id))).length, expected);
        } finally {
          await ts.cleanup();
        }
      }
    });
  });
}
