import { constants, createHash, hash, type KeyObject, privateDecrypt } from 'node:crypto';

/**
 * RSAES-PKCS1-v1_5 decryption with implicit rejection, after the IETF draft "Implicit
 * Rejection for RSA PKCS#1 v1.5" (Kario): a ciphertext whose padding is wrong decrypts to a
 * deterministic pseudo-random "synthetic" message instead of failing. The caller then sees
 * an ordinary message that simply is not a valid request, exactly as it would for a well
 * padded message with garbage inside, so no answer or code path reveals the padding check
 * (Bleichenbacher / Marvin). Node 20's OpenSSL 3.0 predates implicit rejection, which is why
 * it refuses RSA_PKCS1_PADDING for private decryption; we do the raw RSA op with
 * RSA_NO_PADDING and the unpadding here.
 *
 * JavaScript cannot promise constant time, but the code avoids branches and indexing that
 * depend on the decrypted bytes: both candidate messages are always computed and merged
 * with masks. Only the final length is data dependent, as in every implementation (the
 * caller must produce a buffer of that length).
 */

/** What the unpadding needs from a private key, derived once per key. */
export interface RejectionKey {
  /** Modulus length in bytes. */
  readonly k: number;
  /** The modulus, big-endian, k bytes: a ciphertext must be below it. */
  readonly modulus: Buffer;
  /** SHA-256 of the private exponent as a k-byte big-endian string: the KDK's HMAC key. */
  readonly dHash: Buffer;
}

const LENGTH_CANDIDATES = 128;

export function rejectionKey(privateKey: KeyObject): RejectionKey {
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.d !== 'string') throw new Error('Not an RSA private key');
  const n = Buffer.from(jwk.n, 'base64url');
  const start = n.findIndex((b) => b !== 0);
  const modulus = n.subarray(start < 0 ? n.length : start);
  const k = modulus.length;
  const d = leftPad(Buffer.from(jwk.d, 'base64url'), k);
  const dHash = createHash('sha256').update(d).digest();
  d.fill(0);
  return { k, modulus: Buffer.from(modulus), dHash };
}

function leftPad(bytes: Uint8Array, length: number): Buffer {
  if (bytes.length >= length) return Buffer.from(bytes.subarray(bytes.length - length));
  const out = Buffer.alloc(length);
  out.set(bytes, length - bytes.length);
  return out;
}

// HMAC-SHA256 (RFC 2104) with one-shot hashes: H((K ^ opad) || H((K ^ ipad) || m)), the
// padded keys written once into scratch buffers. createHmac builds a keyed object per block,
// and the PRF below needs 25 blocks per operation at 4096 bits: that was 2% of the RSA
// operation's time on the worker (more at smaller keys); this costs less than half. Keys
// here are 32 bytes (SHA-256 outputs), so they are never hashed down first.
const HASH_BLOCK = 64;

/** A scratch buffer starting with the key XOR `pad`, with `room` bytes after it for the message. */
function padded(key: Uint8Array, pad: number, room: number): Buffer {
  if (key.length > HASH_BLOCK) throw new Error('HMAC keys here are at most one block');
  const out = Buffer.alloc(HASH_BLOCK + room);
  for (let i = 0; i < HASH_BLOCK; i++) out[i] = (i < key.length ? (key[i] as number) : 0) ^ pad;
  return out;
}

/** `inner` holds (K ^ ipad) || m; `outer` has room for the inner digest after (K ^ opad). */
function hmacInto(inner: Buffer, outer: Buffer, out: Buffer, at: number): void {
  hash('sha256', inner, 'buffer').copy(outer, HASH_BLOCK);
  hash('sha256', outer, 'buffer').copy(out, at);
}

/** KDK = HMAC-SHA256(SHA-256(d), C), C as k bytes (left-padded with zeros when shorter). */
function kdkOf(key: RejectionKey, ciphertext: Uint8Array): Buffer {
  const length = Math.max(key.k, ciphertext.length);
  const inner = padded(key.dHash, 0x36, length);
  inner.set(ciphertext, HASH_BLOCK + length - ciphertext.length);
  const outer = padded(key.dHash, 0x5c, 32);
  const kdk = Buffer.alloc(32);
  hmacInto(inner, outer, kdk, 0);
  inner.fill(0, 0, HASH_BLOCK);
  outer.fill(0);
  return kdk;
}

/** The draft's PRF: HMAC-SHA256(KDK, I || label || bitLength) for I = 0, 1, ..., truncated. */
export function prf(kdk: Buffer, label: string, bytes: number): Buffer {
  const bits = bytes * 8;
  if (bits > 0xffff) throw new Error('PRF output too long');
  const out = Buffer.alloc(Math.ceil(bytes / 32) * 32);
  const labelBytes = Buffer.from(label, 'latin1');
  const inner = padded(kdk, 0x36, 2 + labelBytes.length + 2);
  labelBytes.copy(inner, HASH_BLOCK + 2);
  inner[HASH_BLOCK + 2 + labelBytes.length] = bits >>> 8;
  inner[HASH_BLOCK + 3 + labelBytes.length] = bits & 0xff;
  const outer = padded(kdk, 0x5c, 32);
  for (let i = 0, pos = 0; pos < bytes; i++, pos += 32) {
    inner[HASH_BLOCK] = i >>> 8;
    inner[HASH_BLOCK + 1] = i & 0xff;
    hmacInto(inner, outer, out, pos);
  }
  inner.fill(0);
  outer.fill(0);
  return out.subarray(0, bytes);
}

// Masks are -1 (all bits) for true and 0 for false; inputs are small non-negative ints.
const isZero = (x: number): number => (((x | 0) - 1) >> 31) & ~(x >> 31);
const eq = (a: number, b: number): number => isZero(a ^ b);
const lt = (a: number, b: number): number => (a - b) >> 31;
const select = (mask: number, a: number, b: number): number => (a & mask) | (b & ~mask);

/**
 * The synthetic message for a ciphertext: its length is the last of 128 PRF candidates
 * (masked to the bit length of k - 10) that is below k - 10, so 0..k-11 like a real
 * message, and its bytes are the tail of a k-byte PRF output. Returned as k bytes with the
 * message right-aligned, plus its length.
 */
function synthetic(key: RejectionKey, ciphertext: Uint8Array): { block: Buffer; length: number } {
  const kdk = kdkOf(key, ciphertext);
  const maxSepOffset = key.k - 10;
  let mask = maxSepOffset;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  const candidates = prf(kdk, 'length', LENGTH_CANDIDATES * 2);
  let length = 0;
  for (let i = 0; i < LENGTH_CANDIDATES * 2; i += 2) {
    const c = (((candidates[i] as number) << 8) | (candidates[i + 1] as number)) & mask;
    length = select(lt(c, maxSepOffset), c, length);
  }
  return { block: prf(kdk, 'message', key.k), length };
}

/**
 * Unpads an encoded message EM = 0x00 || 0x02 || PS (≥ 8 non-zero bytes) || 0x00 || M.
 * Always returns a message: M when the padding is right, otherwise the synthetic message
 * of this ciphertext. `em` must be the k-byte raw RSA result for `ciphertext`.
 */
export function unpad(key: RejectionKey, em: Uint8Array, ciphertext: Uint8Array): Buffer {
  const k = key.k;
  if (em.length !== k) throw new Error('The encoded message must be k bytes');
  const syn = synthetic(key, ciphertext);
  let good = isZero(em[0] as number) & eq(em[1] as number, 2);
  let found = 0;
  let zeroIndex = 0;
  for (let i = 2; i < k; i++) {
    const zero = isZero(em[i] as number);
    zeroIndex = select(~found & zero, i, zeroIndex);
    found |= zero;
  }
  // PS starts at index 2 and must be at least 8 bytes; zeroIndex stays 0 when none was found.
  good &= ~lt(zeroIndex, 10);
  const length = select(good, k - zeroIndex - 1, syn.length);
  const out = Buffer.allocUnsafe(k);
  const block = syn.block;
  for (let i = 0; i < k; i++) out[i] = select(good, em[i] as number, block[i] as number);
  block.fill(0);
  return out.subarray(k - length);
}

/** True when the ciphertext, as a big-endian integer of k bytes, is below the modulus. */
function belowModulus(key: RejectionKey, ciphertext: Uint8Array): boolean {
  return Buffer.compare(ciphertext, key.modulus) < 0;
}

/**
 * Decrypts one RSAES-PKCS1-v1_5 block, never failing on the ciphertext: a ciphertext of the
 * wrong length or not below the modulus gets its synthetic message too. Both are public
 * properties of the ciphertext, so skipping the RSA operation for them reveals nothing.
 */
export function decryptPkcs1(privateKey: KeyObject, key: RejectionKey, ciphertext: Uint8Array): Buffer {
  if (ciphertext.length !== key.k || !belowModulus(key, ciphertext)) {
    const syn = synthetic(key, ciphertext);
    return syn.block.subarray(key.k - syn.length);
  }
  const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ciphertext);
  try {
    return unpad(key, em, ciphertext);
  } finally {
    em.fill(0);
  }
}
