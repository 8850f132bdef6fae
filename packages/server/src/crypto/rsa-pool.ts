import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError } from '@nltrade/core';
import type { LegacyRequest } from '../legacy/request.ts';
import type { DecryptJob, DecryptReply } from './rsa-worker.ts';

export interface DecryptOutcome {
  /** Index into the key ids of the first key whose decryption is a valid request, or -1. */
  readonly index: number;
  readonly request: LegacyRequest | null;
}

export interface RsaPoolOptions {
  /** Worker threads; 0 means one per CPU. */
  readonly threads: number;
  /** The PKCS#8 PEM of a private key (decrypted from storage); called once per key id. */
  readonly loadPem: (keyId: number) => Promise<string>;
}

interface Pending {
  readonly id: number;
  readonly keyIds: readonly number[];
  readonly pems: readonly string[];
  readonly ciphertext: Uint8Array;
  readonly resolve: (outcome: DecryptOutcome) => void;
  readonly reject: (err: unknown) => void;
}

interface Slot {
  readonly worker: Worker;
  /** Key ids this worker has been sent (sending order is delivery order, so it has them). */
  readonly loaded: Set<number>;
  readonly inFlight: Map<number, Pending>;
  readonly online: Promise<void>;
}

/**
 * Built, the worker is plain JavaScript beside this file. Run from the TypeScript sources
 * (tests, benchmarks under tsx), worker threads do not inherit tsx's loader, so a small boot
 * module registers it first.
 */
const BOOT = import.meta.url.endsWith('.js')
  ? new URL('./rsa-worker.js', import.meta.url)
  : new URL('./rsa-worker-boot.mjs', import.meta.url);
/** Jobs handed to one worker at a time: one running and one waiting, so it never idles. */
const WORKER_DEPTH = 2;

/**
 * RSA private-key operations off the event loop. Jobs wait in one queue and go to whichever
 * worker has room, so a slow job (a request tried against retired keys) holds up no one.
 * Workers start on first use (admin commands never pay for them) and hold the process open
 * only while they have work.
 */
export class RsaPool {
  readonly size: number;
  readonly #loadPem: (keyId: number) => Promise<string>;
  readonly #pems = new Map<number, string>();
  readonly #loading = new Map<number, Promise<string>>();
  readonly #queue: Pending[] = [];
  #slots: (Slot | undefined)[];
  #nextId = 1;
  #closed = false;

  constructor(options: RsaPoolOptions) {
    this.size = options.threads > 0 ? options.threads : Math.max(1, os.availableParallelism());
    this.#loadPem = options.loadPem;
    this.#slots = new Array<Slot | undefined>(this.size).fill(undefined);
  }

  /** Starts every worker and waits until they run; optional (the first job starts them too). */
  async start(): Promise<void> {
    await Promise.all(this.#slots.map((_s, i) => this.#slot(i).online));
  }

  /**
   * Decrypts one ciphertext with each key in turn (all of them, always) and reports the
   * first key that yields a valid request object.
   */
  async decrypt(keyIds: readonly number[], ciphertext: Uint8Array): Promise<DecryptOutcome> {
    if (this.#closed) throw new AppError('UNAVAILABLE', 'The server is shutting down');
    if (keyIds.length === 0) return { index: -1, request: null };
    // A PEM is only needed the first time a worker sees a key; it is fetched (once per key
    // id) before queueing so a worker never waits on the database.
    const pems: string[] = [];
    for (const keyId of keyIds) pems.push(this.#pems.get(keyId) ?? (await this.#load(keyId)));
    // An exact-size copy: a small Buffer is often a view into a shared 8 KiB pool, and
    // posting a view clones its whole backing store.
    const own = new Uint8Array(ciphertext);
    return new Promise<DecryptOutcome>((resolve, reject) => {
      // Closed while the key was loading: nothing would ever take the job.
      if (this.#closed) return reject(new AppError('UNAVAILABLE', 'The server is shutting down'));
      this.#queue.push({ id: this.#nextId++, keyIds, pems, ciphertext: own, resolve, reject });
      this.#pump();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const stopped = new AppError('UNAVAILABLE', 'The server is shutting down');
    for (const pending of this.#queue.splice(0)) pending.reject(stopped);
    const slots = this.#slots.filter((s): s is Slot => s !== undefined);
    this.#slots = [];
    for (const slot of slots) {
      for (const pending of slot.inFlight.values()) pending.reject(stopped);
      slot.inFlight.clear();
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
    this.#pems.clear();
  }

  /** Concurrent first requests for a key share one load; a failed load is not remembered. */
  #load(keyId: number): Promise<string> {
    let loading = this.#loading.get(keyId);
    if (!loading) {
      loading = this.#loadPem(keyId)
        .then((pem) => {
          this.#pems.set(keyId, pem);
          return pem;
        })
        .finally(() => this.#loading.delete(keyId));
      this.#loading.set(keyId, loading);
    }
    return loading;
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let best = -1;
      let bestLoad = WORKER_DEPTH;
      for (let i = 0; i < this.#slots.length; i++) {
        const load = this.#slots[i]?.inFlight.size ?? 0;
        if (load < bestLoad) {
          best = i;
          bestLoad = load;
        }
      }
      if (best < 0) return;
      const slot = this.#slot(best);
      const batch: DecryptJob[] = [];
      while (slot.inFlight.size < WORKER_DEPTH && this.#queue.length > 0) {
        const pending = this.#queue.shift()!;
        batch.push(this.#assign(slot, pending));
      }
      if (slot.inFlight.size === batch.length) slot.worker.ref();
      slot.worker.postMessage(batch);
    }
  }

  #assign(slot: Slot, pending: Pending): DecryptJob {
    const keys = pending.keyIds.map((keyId, i) => {
      if (slot.loaded.has(keyId)) return { keyId };
      slot.loaded.add(keyId);
      return { keyId, pem: pending.pems[i] };
    });
    slot.inFlight.set(pending.id, pending);
    return { id: pending.id, keys, ciphertext: pending.ciphertext };
  }

  #slot(index: number): Slot {
    const existing = this.#slots[index];
    if (existing) return existing;
    if (this.#closed) throw new AppError('UNAVAILABLE', 'The server is shutting down');
    const worker = new Worker(BOOT);
    worker.unref();
    // Ready once the worker module has loaded (it says so), not merely once the thread runs.
    const online = new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', () => reject(new Error('RSA worker exited during start')));
    });
    online.catch(() => {});
    const slot: Slot = { worker, loaded: new Set(), inFlight: new Map(), online };
    this.#slots[index] = slot;
    worker.on('message', (reply: DecryptReply | 'ready') => {
      if (reply !== 'ready') this.#onReply(slot, reply);
    });
    worker.on('error', (err) => this.#onFailure(index, slot, err));
    worker.on('exit', (code) => this.#onFailure(index, slot, new Error(`RSA worker exited with code ${code}`)));
    return slot;
  }

  #onReply(slot: Slot, reply: DecryptReply): void {
    const pending = slot.inFlight.get(reply.id);
    if (!pending) return;
    slot.inFlight.delete(reply.id);
    if (slot.inFlight.size === 0) slot.worker.unref();
    if ('error' in reply) {
      // The worker may not have cached the keys of a failed job; send them again next time.
      for (const keyId of pending.keyIds) slot.loaded.delete(keyId);
      // The cause stays in the server's log; the client gets the catalog's plain 500.
      process.emitWarning(`RSA decryption failed: ${reply.error}`);
      pending.reject(new AppError('INTERNAL', undefined, { cause: reply.error }));
    } else {
      pending.resolve({ index: reply.index, request: reply.request });
    }
    this.#pump();
  }

  /** A dead worker fails its jobs and is replaced on the next job (no restart loop). */
  #onFailure(index: number, slot: Slot, err: unknown): void {
    if (this.#slots[index] !== slot) return;
    this.#slots[index] = undefined;
    const failure = new AppError('UNAVAILABLE', 'The decryption service failed; try again');
    for (const pending of slot.inFlight.values()) pending.reject(failure);
    slot.inFlight.clear();
    if (!this.#closed) {
      process.emitWarning(`RSA worker ${index} stopped: ${err instanceof Error ? err.message : String(err)}`);
      void slot.worker.terminate();
      this.#pump();
    }
  }
}
