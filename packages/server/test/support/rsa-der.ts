import { createPrivateKey } from 'node:crypto';

/** One DER element: its tag, and where its contents start and end. */
function element(der: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = der[at] as number;
  let length = der[at + 1] as number;
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[start + i] as number);
    start += bytes;
  }
  return { tag, start, end: start + length };
}

function children(der: Buffer, parent: { start: number; end: number }): { tag: number; start: number; end: number }[] {
  const out = [];
  for (let at = parent.start; at < parent.end; ) {
    const e = element(der, at);
    out.push(e);
    at = e.end;
  }
  return out;
}

const bigint = (der: Buffer, e: { start: number; end: number }) => BigInt(`0x${der.subarray(e.start, e.end).toString('hex') || '0'}`);

/** The primes of a PKCS#1 RSAPrivateKey, read straight from its DER (Node's JWK export drops the others). */
export function primesOf(privatePem: string): bigint[] {
  const der = createPrivateKey(privatePem).export({ type: 'pkcs1', format: 'der' });
  const fields = children(der, element(der, 0));
  const primes = [bigint(der, fields[4]!), bigint(der, fields[5]!)];
  const others = fields[9];
  if (others) for (const info of children(der, others)) primes.push(bigint(der, children(der, info)[0]!));
  return primes;
}
