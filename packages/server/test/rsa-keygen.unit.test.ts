import assert from 'node:assert/strict';
import { constants, createPublicKey, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { generateRsaKey, maxPrimes } from '../src/crypto/rsa-keygen.ts';
import { primesOf } from './support/rsa-der.ts';

describe('multi-prime merchant keys', () => {
  for (const [bits, primes] of [
    [2048, 3],
    [4096, 4],
    [3072, 2],
  ] as const) {
    test(`${bits} bits with ${primes} primes: an ordinary public key, and the private key decrypts what it encrypts`, async () => {
      const key = await generateRsaKey(bits, primes);
      const publicKey = createPublicKey(key.publicPem);
      assert.equal(publicKey.asymmetricKeyDetails?.modulusLength, bits);
      assert.equal(publicKey.asymmetricKeyDetails?.publicExponent, 65537n);
      assert.match(key.publicPem, /^-----BEGIN RSA PUBLIC KEY-----/);
      assert.match(key.privatePem, /^-----BEGIN PRIVATE KEY-----/);

      const ps = primesOf(key.privatePem);
      assert.equal(ps.length, primes);
      assert.equal(new Set(ps).size, primes, 'the primes are distinct');
      const n = BigInt(`0x${Buffer.from(publicKey.export({ format: 'jwk' }).n as string, 'base64url').toString('hex')}`);
      assert.equal(
        ps.reduce((a, b) => a * b, 1n),
        n,
        'the primes multiply to the modulus',
      );
      for (const p of ps) assert.ok(Math.abs(p.toString(2).length - bits / primes) <= 1, 'balanced prime sizes');

      // A padded round trip, and the raw operation the legacy API runs (it unpads by itself).
      const message = randomBytes(64);
      const oaep = privateDecrypt(
        { key: key.privatePem, padding: constants.RSA_PKCS1_OAEP_PADDING },
        publicEncrypt({ key: key.publicPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, message),
      );
      assert.ok(oaep.equals(message));
      const block = randomBytes(bits / 8);
      block[0] = 0;
      const raw = privateDecrypt(
        { key: key.privatePem, padding: constants.RSA_NO_PADDING },
        publicEncrypt({ key: key.publicPem, padding: constants.RSA_NO_PADDING }, block),
      );
      assert.ok(raw.equals(block));
    });
  }

  test('the most primes OpenSSL accepts for each size, and no more', async () => {
    assert.deepEqual([1023, 2048, 4095, 4096, 8191, 8192].map(maxPrimes), [2, 3, 3, 4, 4, 5]);
    await assert.rejects(generateRsaKey(2048, 4), RangeError);
    await assert.rejects(generateRsaKey(4096, 1), RangeError);
    await assert.rejects(generateRsaKey(4096, 2.5), RangeError);
  });
});
