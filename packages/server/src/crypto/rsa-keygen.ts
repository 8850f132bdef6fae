import { constants, createPrivateKey, createPublicKey, generatePrime, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';

/**
 * Merchant RSA keys with more than two primes (multi-prime RSA, RFC 8017 §3.2).
 *
 * The public key — the modulus and the exponent — is an ordinary RSA key of the same size, so
 * nothing changes for the merchant's client. The private operation, which every legacy request
 * costs the server, works on each prime separately (CRT): with four 1024-bit primes a 4096-bit
 * operation is about three times as fast as with two 2048-bit ones. The prime counts are
 * OpenSSL's own limits for each size (`RSA_MAX_PRIME_NUM` and `ossl_rsa_multip_cap`), chosen so
 * that finding one prime by elliptic-curve factoring stays harder than factoring the modulus.
 * Node cannot make such keys itself: the primes come from OpenSSL's generator
 * (`crypto.generatePrime`), the rest is arithmetic and DER.
 */

export const PUBLIC_EXPONENT = 65537n;

/** The most primes OpenSSL accepts for a modulus of this size. */
export function maxPrimes(bits: number): number {
  if (bits < 1024) return 2;
  if (bits < 4096) return 3;
  if (bits < 8192) return 4;
  return 5;
}

export interface RsaKeyPems {
  /** PKCS#1 PEM, as the legacy key endpoint hands it out. */
  publicPem: string;
  /** PKCS#8 PEM. */
  privatePem: string;
}

/**
 * A new key of `bits` bits with `primes` primes (2 = the classic form). Rejects a count
 * OpenSSL would not load for that size.
 */
export async function generateRsaKey(bits: number, primes: number = maxPrimes(bits)): Promise<RsaKeyPems> {
  if (!Number.isInteger(primes) || primes < 2 || primes > maxPrimes(bits)) {
    throw new RangeError(`a ${bits}-bit RSA key takes 2 to ${maxPrimes(bits)} primes, not ${primes}`);
  }
  const sizes = primeSizes(bits, primes);
  for (;;) {
    const ps = await Promise.all(sizes.map((size) => usablePrime(size)));
    if (new Set(ps.map(String)).size !== ps.length) continue;
    const n = ps.reduce((a, b) => a * b, 1n);
    // Each prime has its top two bits set, so the product has `bits` or `bits - 1` bits.
    if (bitLength(n) !== bits) continue;
    const der = privateKeyDer(n, ps);
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs1' });
    const publicKey = createPublicKey(privateKey);
    assertWorks(publicKey, privateKey, bits);
    return {
      publicPem: publicKey.export({ type: 'pkcs1', format: 'pem' }) as string,
      privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    };
  }
}

/** Bit sizes that add up to `bits`, as even as they can be. */
function primeSizes(bits: number, primes: number): number[] {
  const base = Math.floor(bits / primes);
  return Array.from({ length: primes }, (_, i) => base + (i < bits % primes ? 1 : 0));
}

async function usablePrime(size: number): Promise<bigint> {
  for (;;) {
    const p = await new Promise<bigint>((resolve, reject) =>
      generatePrime(size, { bigint: true }, (err, prime) => (err ? reject(err) : resolve(prime))),
    );
    // e must be invertible modulo p − 1.
    if (gcd(PUBLIC_EXPONENT, p - 1n) === 1n) return p;
  }
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a;
  let y = b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new Error('no modular inverse');
  return ((oldS % m) + m) % m;
}

function bitLength(x: bigint): number {
  return x.toString(2).length;
}

/**
 * RSAPrivateKey (RFC 8017 A.1.2): version 1 with `otherPrimeInfos` when there are more than two
 * primes. d is the inverse of e modulo λ(n), the least common multiple of the p − 1.
 */
function privateKeyDer(n: bigint, primes: readonly bigint[]): Buffer {
  const lambda = primes.map((p) => p - 1n).reduce((a, b) => (a / gcd(a, b)) * b);
  const d = modInverse(PUBLIC_EXPONENT, lambda);
  const [p, q, ...others] = primes as [bigint, bigint, ...bigint[]];
  const fields = [
    derInteger(others.length > 0 ? 1n : 0n),
    derInteger(n),
    derInteger(PUBLIC_EXPONENT),
    derInteger(d),
    derInteger(p),
    derInteger(q),
    derInteger(d % (p - 1n)),
    derInteger(d % (q - 1n)),
    derInteger(modInverse(q, p)),
  ];
  if (others.length > 0) {
    // Each further prime r_i carries d mod (r_i − 1) and the inverse of r_1·…·r_(i−1) mod r_i.
    let product = p * q;
    const infos = others.map((r) => {
      const info = derSequence([derInteger(r), derInteger(d % (r - 1n)), derInteger(modInverse(product % r, r))]);
      product *= r;
      return info;
    });
    fields.push(derSequence(infos));
  }
  return derSequence(fields);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let l = length; l > 0; l >>= 8) bytes.unshift(l & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let body = Buffer.from(hex, 'hex');
  // DER integers are signed: a leading byte with its top bit set needs a zero in front.
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02]), derLength(body.length), body]);
}

function derSequence(items: readonly Buffer[]): Buffer {
  const body = Buffer.concat(items);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/** A key that does not decrypt what its public half encrypts is never stored. */
function assertWorks(publicKey: ReturnType<typeof createPublicKey>, privateKey: ReturnType<typeof createPrivateKey>, bits: number): void {
  const message = randomBytes(bits / 8);
  message[0] = 0;
  const cipher = publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, message);
  const back = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, cipher);
  if (!back.equals(message)) throw new Error('the generated RSA key does not decrypt its own ciphertext');
}
