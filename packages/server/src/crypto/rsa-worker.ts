import { createPrivateKey, type KeyObject } from 'node:crypto';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { type LegacyRequest, parseDecrypted } from '../legacy/request.ts';
import { decryptPkcs1, type RejectionKey, rejectionKey } from './pkcs1.ts';
import { type KeyDelivery, MAILBOX, mailboxViews, type UnitReply, type WorkerSetup } from './rsa-mailbox.ts';

interface CachedKey {
  readonly privateKey: KeyObject;
  readonly rejection: RejectionKey;
}

// Parsing a 4096-bit PEM costs about as much as the RSA operation itself; each key is
// parsed once per worker (on first use, so a bad PEM fails the operation that needs it)
// and kept for the worker's life.
const pems = new Map<number, string>();
const cache = new Map<number, CachedKey>();

function keyFor(keyId: number): CachedKey {
  let cached = cache.get(keyId);
  if (!cached) {
    const pem = pems.get(keyId);
    if (pem === undefined) throw new Error(`Key ${keyId} was never sent to this worker`);
    // Forget the PEM either way: a bad one is sent again (the pool forgets it sent it).
    pems.delete(keyId);
    const privateKey = createPrivateKey({ key: pem, format: 'pem' });
    cached = { privateKey, rejection: rejectionKey(privateKey) };
    cache.set(keyId, cached);
  }
  return cached;
}

/** The work is the same whatever the plaintext turns out to be (see pkcs1.ts). */
function run(keyId: number, ciphertext: Uint8Array): LegacyRequest | null {
  const key = keyFor(keyId);
  const plaintext = decryptPkcs1(key.privateKey, key.rejection, ciphertext);
  const request = parseDecrypted(plaintext);
  plaintext.fill(0);
  return request;
}

function serve(port: NonNullable<typeof parentPort>, setup: WorkerSetup): void {
  const { control, entries } = mailboxViews(setup.mailbox);
  port.postMessage('ready');
  for (;;) {
    if (Atomics.load(control, MAILBOX.STOP) !== 0) return;
    // Read before looking at the entries: an offer made after the look rings a newer bell.
    const bell = Atomics.load(control, MAILBOX.BELL);
    let next: (typeof entries)[number] | undefined;
    let sequence = 0;
    for (const entry of entries) {
      if (Atomics.load(entry.header, MAILBOX.STATE) !== MAILBOX.OFFERED) continue;
      const s = entry.header[MAILBOX.SEQUENCE] as number;
      // Sequences wrap around (Int32); two live offers are never 2^31 apart.
      if (!next || ((s - sequence) | 0) < 0) {
        next = entry;
        sequence = s;
      }
    }
    if (!next) {
      Atomics.wait(control, MAILBOX.BELL, bell);
      continue;
    }
    // Lost to the pool taking its offer back: look again.
    if (Atomics.compareExchange(next.header, MAILBOX.STATE, MAILBOX.OFFERED, MAILBOX.TAKING) !== MAILBOX.OFFERED) continue;
    const id = next.header[MAILBOX.UNIT] as number;
    const keyId = next.header[MAILBOX.KEY] as number;
    const ciphertext = next.data.slice(0, next.header[MAILBOX.LENGTH] as number);
    Atomics.store(next.header, MAILBOX.STATE, MAILBOX.EMPTY);
    for (let m = receiveMessageOnPort(setup.keys); m !== undefined; m = receiveMessageOnPort(setup.keys)) {
      const delivery = m.message as KeyDelivery;
      if (!cache.has(delivery.keyId)) pems.set(delivery.keyId, delivery.pem);
    }
    let reply: UnitReply;
    try {
      reply = { id, request: run(keyId, ciphertext) };
    } catch (err) {
      reply = { id, error: err instanceof Error ? err.message : String(err) };
    }
    ciphertext.fill(0);
    port.postMessage(reply);
  }
}

const port = parentPort;
if (!port) throw new Error('rsa-worker must run in a worker thread');
// The worker blocks in Atomics.wait between operations and never returns to its event loop
// while the pool is open; everything it needs arrives through the mailbox and the key port.
serve(port, workerData as WorkerSetup);
