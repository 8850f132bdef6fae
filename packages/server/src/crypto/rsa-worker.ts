import { createPrivateKey, type KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { type LegacyRequest, parseDecrypted } from '../legacy/request.ts';
import { decryptPkcs1, type RejectionKey, rejectionKey } from './pkcs1.ts';

/** One job: decrypt `ciphertext` with each key and report the first that gives a request. */
export interface DecryptJob {
  readonly id: number;
  /** Key ids to try, in order; a PEM comes along the first time this worker sees a key. */
  readonly keys: readonly { readonly keyId: number; readonly pem?: string | undefined }[];
  readonly ciphertext: Uint8Array;
}

export type DecryptReply =
  | { readonly id: number; readonly index: number; readonly request: LegacyRequest | null }
  | { readonly id: number; readonly error: string };

interface CachedKey {
  readonly privateKey: KeyObject;
  readonly rejection: RejectionKey;
}

// Parsing a 4096-bit PEM costs about as much as the RSA operation itself; each key is
// parsed once per worker and kept for the worker's life.
const cache = new Map<number, CachedKey>();

function keyFor(keyId: number, pem: string | undefined): CachedKey {
  let cached = cache.get(keyId);
  if (!cached) {
    if (pem === undefined) throw new Error(`Key ${keyId} was never sent to this worker`);
    const privateKey = createPrivateKey({ key: pem, format: 'pem' });
    cached = { privateKey, rejection: rejectionKey(privateKey) };
    cache.set(keyId, cached);
  }
  return cached;
}

/**
 * Every key is always tried, even after one succeeded, so that the work done (and the time
 * taken) does not depend on which key, if any, fits.
 */
function run(job: DecryptJob): DecryptReply {
  let index = -1;
  let request: LegacyRequest | null = null;
  for (let i = 0; i < job.keys.length; i++) {
    const entry = job.keys[i]!;
    const key = keyFor(entry.keyId, entry.pem);
    const plaintext = decryptPkcs1(key.privateKey, key.rejection, job.ciphertext);
    const parsed = parseDecrypted(plaintext);
    plaintext.fill(0);
    if (parsed !== null && index < 0) {
      index = i;
      request = parsed;
    }
  }
  return { id: job.id, index, request };
}

const port = parentPort;
if (!port) throw new Error('rsa-worker must run in a worker thread');
// Jobs arrive in batches; each reply goes back as soon as it is ready so the main thread
// can answer that request while this worker carries on with the next.
port.on('message', (jobs: readonly DecryptJob[]) => {
  for (const job of jobs) {
    let reply: DecryptReply;
    try {
      reply = run(job);
    } catch (err) {
      reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(reply);
  }
});
port.postMessage('ready');
