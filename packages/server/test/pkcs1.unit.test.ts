import assert from 'node:assert/strict';
import { constants, createHash, createHmac, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decryptPkcs1, prf, rejectionKey, unpad } from '../src/crypto/pkcs1.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const key = rejectionKey(privateKey);
const k = key.k;

/**
 * A straightforward, branching transcription of the draft's algorithm (as in tlsfuzzer's
 * reference), to check the masked implementation against.
 */
function referenceSynthetic(ciphertext: Buffer): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  const dRaw = Buffer.from(jwk.d!, 'base64url');
  const d = Buffer.concat([Buffer.alloc(k - dRaw.length), dRaw]);
  const c = ciphertext.length < k ? Buffer.concat([Buffer.alloc(k - ciphertext.length), ciphertext]) : ciphertext;
  const kdk = createHmac('sha256', createHash('sha256').update(d).digest()).update(c).digest();
  const refPrf = (label: string, bitLength: number): Buffer => {
    const out: Buffer[] = [];
    for (let i = 0; out.length * 32 < bitLength / 8; i++) {
      const msg = Buffer.concat([Buffer.from([i >> 8, i & 0xff]), Buffer.from(label), Buffer.from([bitLength >> 8, bitLength & 0xff])]);
      out.push(createHmac('sha256', kdk).update(msg).digest());
    }
    return Buffer.concat(out).subarray(0, bitLength / 8);
  };
  const maxSepOffset = k - 10;
  const mask = (1 << maxSepOffset.toString(2).length) - 1;
  const lengths = refPrf('length', 128 * 2 * 8);
  let synthLength = 0;
  for (let i = 0; i < lengths.length; i += 2) {
    const candidate = lengths.readUInt16BE(i) & mask;
    if (candidate < maxSepOffset) synthLength = candidate;
  }
  return refPrf('message', k * 8).subarray(k - synthLength);
}

function referenceUnpad(em: Buffer, ciphertext: Buffer): Buffer {
  if (em[0] !== 0 || em[1] !== 2) return referenceSynthetic(ciphertext);
  const zero = em.indexOf(0, 2);
  if (zero < 10) return referenceSynthetic(ciphertext);
  return em.subarray(zero + 1);
}

/** EM = 00 02 PS 00 M with a random non-zero PS filling the block. */
function encode(message: Buffer): Buffer {
  const em = Buffer.alloc(k);
  em[1] = 2;
  const psEnd = k - message.length - 1;
  for (let i = 2; i < psEnd; i++) em[i] = 1 + (randomBytes(1)[0]! % 255);
  message.copy(em, psEnd + 1);
  return em;
}

const rawEncrypt = (em: Buffer): Buffer => publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, em);
const randomCiphertext = (): Buffer => {
  const c = randomBytes(k);
  c[0] = 0; // below any k-byte modulus
  return c;
};

describe('PKCS#1 v1.5 unpadding with implicit rejection', () => {
  it('returns the message of a correctly padded block, for every message length', () => {
    for (const length of [0, 1, 2, 50, k - 12, k - 11]) {
      const message = randomBytes(length);
      const ct = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, message);
      assert.deepEqual(decryptPkcs1(privateKey, key, ct), message, `length ${length}`);
    }
  });

  it('decrypts what a legacy client sends', () => {
    const request = Buffer.from(JSON.stringify({ type: 'get', uid_link: 'a'.repeat(30), verificationWord: 'bandasosamba' }));
    const ct = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, request);
    assert.deepEqual(decryptPkcs1(privateKey, key, ct), request);
  });

  const message = Buffer.from('{"type":"get"}');
  const badPaddings: [string, (em: Buffer) => void][] = [
    ['first byte not zero', (em) => (em[0] = 1)],
    ['block type 0', (em) => (em[1] = 0)],
    ['block type 1', (em) => (em[1] = 1)],
    ['block type 3', (em) => (em[1] = 3)],
    ['zero in the first padding byte', (em) => (em[2] = 0)],
    ['zero in the second padding byte', (em) => (em[3] = 0)],
    ['padding one byte short (zero at index 9)', (em) => (em[9] = 0)],
    ['no zero separator', (em) => (em[k - message.length - 1] = 7)],
    ['all-zero padding', (em) => em.fill(0, 2, k - message.length - 1)],
  ];

  for (const [name, spoil] of badPaddings) {
    it(`bad padding (${name}) decrypts to the synthetic message`, () => {
      const em = encode(message);
      spoil(em);
      if (name === 'no zero separator') em.fill(5, 2);
      const ct = rawEncrypt(em);
      const out = decryptPkcs1(privateKey, key, ct);
      assert.deepEqual(out, referenceSynthetic(ct));
      assert.notDeepEqual(out, message);
      assert.ok(out.length <= k - 11);
      assert.deepEqual(decryptPkcs1(privateKey, key, ct), out, 'deterministic');
    });
  }

  it('matches the branching reference on valid and invalid blocks alike', () => {
    for (let i = 0; i < 300; i++) {
      const ct = randomCiphertext();
      let em: Buffer;
      if (i % 3 === 0) em = encode(randomBytes(i % (k - 11)));
      else if (i % 3 === 1) em = randomBytes(k);
      else {
        em = encode(randomBytes(i % 40));
        em[2 + (i % 12)] = 0;
      }
      assert.deepEqual(unpad(key, em, ct), referenceUnpad(em, ct), `case ${i}`);
    }
  });

  it('a ciphertext of the wrong length or not below the modulus gets a synthetic message', () => {
    const valid = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, message);
    const modulus = key.modulus;
    const cases = [
      valid.subarray(0, k - 1),
      valid.subarray(1),
      Buffer.concat([valid, Buffer.from([0])]),
      Buffer.from(modulus),
      Buffer.alloc(k, 0xff),
    ];
    for (const ct of cases) {
      const out = decryptPkcs1(privateKey, key, ct);
      assert.ok(out.length <= k - 11);
      assert.deepEqual(decryptPkcs1(privateKey, key, ct), out);
      if (ct.length <= k) assert.deepEqual(out, referenceSynthetic(ct));
    }
    assert.throws(() => privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, Buffer.from(modulus)));
  });

  it('synthetic messages differ between ciphertexts and have spread-out lengths', () => {
    const seen = new Set<string>();
    const lengths: number[] = [];
    let long = 0;
    for (let i = 0; i < 1000; i++) {
      const ct = randomCiphertext();
      const out = unpad(key, Buffer.alloc(k), ct);
      lengths.push(out.length);
      // Very short messages collide by chance (every empty one is equal); from 8 bytes on a
      // repeat would mean the generator is broken.
      if (out.length >= 8) {
        long++;
        seen.add(out.toString('hex'));
      }
    }
    assert.equal(seen.size, long, 'two different ciphertexts gave the same synthetic message');
    // Candidates are uniform below k - 10, so lengths are uniform over 0..k-11.
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    assert.ok(Math.abs(mean - (k - 11) / 2) < 12, `mean length ${mean}`);
    assert.ok(Math.min(...lengths) < 15 && Math.max(...lengths) > k - 25, 'lengths cover the whole range');
    assert.ok(Math.max(...lengths) <= k - 11);
    const buckets = new Array(4).fill(0);
    for (const l of lengths) buckets[Math.min(3, Math.floor((l / (k - 10)) * 4))]++;
    for (const b of buckets) assert.ok(b > 180 && b < 320, `quartiles ${buckets}`);
  });

  it('the PRF is HMAC-SHA256 over counter || label || bit length', () => {
    const kdk = randomBytes(32);
    const out = prf(kdk, 'message', 40);
    const block = (i: number) =>
      createHmac('sha256', kdk)
        .update(Buffer.from([0, i, ...Buffer.from('message'), 0x01, 0x40]))
        .digest();
    assert.deepEqual(out, Buffer.concat([block(0), block(1)]).subarray(0, 40));
  });

  it('depends on the private key: another key gives another synthetic message', () => {
    const other = rejectionKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    const ct = randomCiphertext();
    assert.notDeepEqual(unpad(other, Buffer.alloc(other.k), ct), unpad(key, Buffer.alloc(k), ct));
  });
});
