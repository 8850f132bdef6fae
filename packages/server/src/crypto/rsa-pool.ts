import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { AppError } from '@nltrade/core';
import type { LegacyRequest } from '../legacy/request.ts';
import {
  type KeyDelivery,
  MAILBOX,
  MAILBOX_BYTES,
  type MailboxViews,
  mailboxViews,
  type UnitReply,
  type WorkerSetup,
} from './rsa-mailbox.ts';

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
  /** Decryptions one merchant may have waiting (queued or running); beyond it, UNAVAILABLE. */
  readonly queuePerMerchant: number;
  /** How long a refusal for being beyond the bound takes (REFUSAL_DELAY_MS by default). */
  readonly refusalDelayMs?: number;
  /** Where failures that the client sees only as a plain 500/503 are reported (the server's log). */
  readonly onWarning?: (message: string) => void;
}

/**
 * A merchant beyond its bound is refused after this pause, not at once. A client that
 * retries as soon as it is refused (a flooder does) would otherwise make the refusals a busy
 * loop: each costs the event loop a whole HTTP exchange, and at thousands a second they take
 * it from every other merchant. Paused, each excess connection costs one refusal a second.
 * The pause depends only on the merchant's queue, never on a request's content.
 */
export const REFUSAL_DELAY_MS = 1000;

export interface RsaPoolStats {
  /** Worker threads (started or not). */
  readonly threads: number;
  /** Workers running an RSA operation now. */
  readonly busy: number;
  /** RSA operations waiting for a worker (one per key of each waiting decryption). */
  readonly queued: number;
  /** Merchants with at least one operation waiting. */
  readonly merchantsQueued: number;
  /** RSA operations finished by the workers since the pool started. */
  readonly completed: number;
}

/** One `decrypt` call: one RSA operation (unit) per key, answered once all are done. */
interface Job {
  readonly merchant: MerchantQueue;
  readonly keyIds: readonly number[];
  readonly pems: readonly string[];
  readonly ciphertext: Uint8Array;
  readonly results: (LegacyRequest | null)[];
  remaining: number;
  failure: AppError | null;
  readonly resolve: (outcome: DecryptOutcome) => void;
  readonly reject: (err: unknown) => void;
}

interface Unit {
  /** Also the arrival order, which breaks ties between equal tags. */
  readonly id: number;
  readonly job: Job;
  /** Index of this unit's key in the job's key ids. */
  readonly index: number;
  /** Virtual start time (start-time fair queueing): units are served in tag order. */
  readonly tag: number;
  /** Taken back from a worker's mailbox once already; it is never taken back twice. */
  revoked: boolean;
}

interface MerchantQueue {
  readonly id: string;
  /** Units waiting for a worker, first come first served (their tags increase). */
  readonly units: Unit[];
  /** Virtual finish time of this merchant's last unit: where its next unit's tag starts. */
  finish: number;
  /** Decryptions of this merchant not yet answered: what the bound counts. */
  pending: number;
  /** Position in the heap of merchants with units waiting, or -1. */
  heapIndex: number;
}

interface Slot {
  readonly worker: Worker;
  readonly keys: MessagePort;
  readonly mailbox: MailboxViews;
  /** The unit last written to each mailbox entry; the worker may have taken it since. */
  readonly offers: (Unit | null)[];
  /** Key ids this worker has been sent (sent before the offer that needs them, so it has them). */
  readonly loaded: Set<number>;
  /** Units given to this worker and not answered yet: the one running and those offered. */
  readonly assigned: Map<number, Unit>;
  /** When the worker started its current operation, about (to pick the one that ends first). */
  startedAt: number;
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

const shuttingDown = (): AppError => new AppError('UNAVAILABLE', 'The server is shutting down');

/**
 * RSA private-key operations off the event loop, shared fairly between merchants.
 *
 * Each decryption becomes one operation per key. Operations wait in one FIFO queue per
 * merchant and are served by start-time fair queueing: each operation gets a virtual start
 * tag, max(virtual time now, the tag after its merchant's previous operation), and the
 * smallest tag goes next. Merchants with work waiting therefore take turns, one operation
 * each, and a merchant that had nothing waiting starts at the current virtual time: it waits
 * for at most one operation of each other merchant, not behind a thousand of one of them.
 * A merchant may have `queuePerMerchant` decryptions waiting (queued or running); beyond
 * that its requests are refused (UNAVAILABLE, after a pause: REFUSAL_DELAY_MS) and nobody
 * else notices.
 *
 * Each worker holds at most three operations: the one it runs and two offered in its shared
 * mailbox (rsa-mailbox.ts), which it takes without waiting for this thread, so it does not
 * idle when the event loop is slow to hear from it. Offers are tentative: an operation whose
 * tag is not later than that of the next offer a worker would take (typically a merchant
 * that had nothing waiting, against a flooding one) takes that offer's place, and so waits
 * only for an operation already running. An offer is taken back at most once, so no
 * operation is pushed back for long.
 *
 * Timing and implicit rejection: every decision here (which queue, which worker, whether an
 * offer is taken back, whether a request is refused) depends only on which merchant sent
 * what and when, never on a ciphertext's content or the outcome of its decryption; every
 * key is always tried, and each operation costs the same whatever the padding (pkcs1.ts).
 * So queueing adds no signal about whether a request's padding was valid: a request's wait
 * is a function of other requests' arrival times, which the sender could measure anyway.
 *
 * Workers start on first use (admin commands never pay for them) and hold the process open
 * only while they have work.
 */
export class RsaPool {
  readonly size: number;
  readonly #loadPem: (keyId: number) => Promise<string>;
  readonly #queuePerMerchant: number;
  readonly #refusalDelayMs: number;
  readonly #pems = new Map<number, string>();
  readonly #loading = new Map<number, Promise<string>>();
  readonly #merchants = new Map<string, MerchantQueue>();
  /** Merchants with units waiting, a binary heap on their first unit's (tag, id). */
  readonly #heap: MerchantQueue[] = [];
  /** The tag of the unit offered last. */
  #virtualTime = 0;
  #queued = 0;
  #completed = 0;
  /** Orders the offers in a mailbox (wrapping Int32; compared by difference). */
  #sequence = 0;
  #slots: (Slot | undefined)[];
  #nextId = 1;
  #closed = false;

  readonly #warn: (message: string) => void;

  constructor(options: RsaPoolOptions) {
    this.#warn = options.onWarning ?? ((message) => process.emitWarning(message));
    this.size = options.threads > 0 ? options.threads : Math.max(1, os.availableParallelism());
    this.#loadPem = options.loadPem;
    this.#queuePerMerchant = Math.max(1, options.queuePerMerchant);
    this.#refusalDelayMs = options.refusalDelayMs ?? REFUSAL_DELAY_MS;
    this.#slots = new Array<Slot | undefined>(this.size).fill(undefined);
  }

  /** Starts every worker and waits until they run; optional (the first job starts them too). */
  async start(): Promise<void> {
    await Promise.all(this.#slots.map((_s, i) => this.#slot(i).online));
  }

  stats(): RsaPoolStats {
    let busy = 0;
    for (const slot of this.#slots) if (slot && slot.assigned.size > 0) busy++;
    return { threads: this.size, busy, queued: this.#queued, merchantsQueued: this.#heap.length, completed: this.#completed };
  }

  /**
   * Decrypts one ciphertext with each key (all of them, always) for `merchantId`, and reports
   * the first key that yields a valid request object. UNAVAILABLE when that merchant already
   * has its limit of decryptions waiting.
   */
  async decrypt(merchantId: string, keyIds: readonly number[], ciphertext: Uint8Array): Promise<DecryptOutcome> {
    if (this.#closed) throw shuttingDown();
    if (keyIds.length === 0) return { index: -1, request: null };
    if (ciphertext.length > MAILBOX.DATA_BYTES) throw new AppError('BAD_REQUEST', 'The ciphertext is too long');
    let merchant = this.#merchants.get(merchantId);
    if (!merchant) {
      merchant = { id: merchantId, units: [], finish: 0, pending: 0, heapIndex: -1 };
      this.#merchants.set(merchantId, merchant);
    }
    if (merchant.pending >= this.#queuePerMerchant) {
      if (this.#refusalDelayMs > 0) await sleep(this.#refusalDelayMs);
      throw new AppError('UNAVAILABLE', 'Too many of your requests are waiting for decryption; try again in a second', {
        retryAfterSeconds: 1,
      });
    }
    // Counted from here, so requests waiting for a key to load count against the bound too.
    merchant.pending++;
    try {
      // A PEM is only needed the first time a worker sees a key; it is fetched (once per key
      // id) before queueing so a worker never waits on the database.
      const pems: string[] = [];
      for (const keyId of keyIds) pems.push(this.#pems.get(keyId) ?? (await this.#load(keyId)));
      if (this.#closed) throw shuttingDown();
      return await new Promise<DecryptOutcome>((resolve, reject) => {
        const job: Job = {
          merchant: merchant,
          keyIds,
          pems,
          ciphertext,
          results: new Array<LegacyRequest | null>(keyIds.length).fill(null),
          remaining: keyIds.length,
          failure: null,
          resolve,
          reject,
        };
        const first = merchant.units.length === 0;
        // Nothing of this merchant ahead in virtual time: it is new, or was idle (see #takeOver).
        const fresh = merchant.finish <= this.#virtualTime;
        for (let i = 0; i < keyIds.length; i++) {
          const tag = Math.max(this.#virtualTime, merchant.finish);
          merchant.finish = tag + 1;
          merchant.units.push({ id: this.#nextId++, job, index: i, tag, revoked: false });
        }
        this.#queued += keyIds.length;
        if (first) {
          this.#heapPush(merchant);
          this.#takeOver(merchant, fresh);
        }
        this.#pump();
      });
    } finally {
      merchant.pending--;
      // Its tags matter only while it has work here; afterwards it starts at the virtual time.
      if (merchant.pending === 0 && merchant.units.length === 0) this.#merchants.delete(merchantId);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const stopped = shuttingDown();
    for (const merchant of this.#heap.splice(0)) {
      for (const unit of merchant.units.splice(0)) this.#fail(unit.job, stopped);
      merchant.heapIndex = -1;
    }
    this.#queued = 0;
    const slots = this.#slots.filter((s): s is Slot => s !== undefined);
    this.#slots = [];
    for (const slot of slots) {
      for (const unit of slot.assigned.values()) this.#fail(unit.job, stopped);
      slot.assigned.clear();
      Atomics.store(slot.mailbox.control, MAILBOX.STOP, 1);
      Atomics.add(slot.mailbox.control, MAILBOX.BELL, 1);
      Atomics.notify(slot.mailbox.control, MAILBOX.BELL);
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const slot of slots) slot.keys.close();
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

  /** The waiting unit with the smallest tag (of `merchant`, when given), or undefined. */
  #next(merchant?: MerchantQueue): Unit | undefined {
    for (;;) {
      const from = merchant ?? this.#heap[0];
      if (!from || from.units.length === 0) return undefined;
      const unit = from.units.shift()!;
      this.#queued--;
      if (from.units.length > 0) this.#heapUpdate(from);
      else this.#heapRemove(from);
      // A job that already failed (its worker died) needs no more of its operations run.
      if (unit.job.remaining > 0) {
        this.#virtualTime = Math.max(this.#virtualTime, unit.tag);
        return unit;
      }
    }
  }

  /**
   * When every worker is busy, a unit at the head of its merchant's queue takes the place of
   * an offer no worker has taken yet: any offer when the merchant is `fresh` (it had nothing
   * ahead in virtual time, so in tag order it would come next anyway, give or take the
   * offers already made), otherwise only one whose tag is not earlier. The offer goes back
   * to the head of its merchant's queue with its tag, so it is next in line.
   */
  #takeOver(merchant: MerchantQueue, fresh: boolean): void {
    const unit = merchant.units[0]!;
    let victim: Slot | undefined;
    let victimEntry = -1;
    for (const slot of this.#slots) {
      // A worker not started yet, or idle, takes the unit anyway.
      if (!slot || slot.assigned.size === 0) return;
      const entry = this.#nextOffer(slot);
      if (entry < 0) continue;
      const offer = slot.offers[entry]!;
      if (offer.revoked || offer.job.merchant === merchant || (!fresh && offer.tag < unit.tag)) continue;
      // The worker whose current operation started first is the one to be free first.
      if (!victim || slot.startedAt < victim.startedAt) {
        victim = slot;
        victimEntry = entry;
      }
    }
    if (!victim) return;
    const { header } = victim.mailbox.entries[victimEntry]!;
    if (Atomics.compareExchange(header, MAILBOX.STATE, MAILBOX.OFFERED, MAILBOX.EMPTY) !== MAILBOX.OFFERED) return; // just taken
    const offer = victim.offers[victimEntry]!;
    victim.offers[victimEntry] = null;
    victim.assigned.delete(offer.id);
    offer.revoked = true;
    const owner = offer.job.merchant;
    owner.units.unshift(offer);
    this.#queued++;
    if (owner.heapIndex < 0) this.#heapPush(owner);
    else this.#heapUpdate(owner);
    const next = this.#next(merchant);
    // Its sequence too: the worker takes it next, as it would have taken the offer.
    if (next) this.#offer(victim, victimEntry, next, header[MAILBOX.SEQUENCE] as number);
  }

  /** The mailbox entry a worker will take next (offered, lowest sequence), or -1. */
  #nextOffer(slot: Slot): number {
    let found = -1;
    let sequence = 0;
    for (let i = 0; i < MAILBOX.OFFERS; i++) {
      const { header } = slot.mailbox.entries[i]!;
      if (slot.offers[i] === null || Atomics.load(header, MAILBOX.STATE) !== MAILBOX.OFFERED) continue;
      const s = header[MAILBOX.SEQUENCE] as number;
      if (found < 0 || ((s - sequence) | 0) < 0) {
        found = i;
        sequence = s;
      }
    }
    return found;
  }

  /** A mailbox entry the pool may write, or -1 (the worker may be copying one out). */
  #freeEntry(slot: Slot): number {
    for (let i = 0; i < MAILBOX.OFFERS; i++) {
      if (Atomics.load(slot.mailbox.entries[i]!.header, MAILBOX.STATE) === MAILBOX.EMPTY) return i;
    }
    return -1;
  }

  // A binary min-heap of merchants on (first unit's tag, its id): a handful of merchants
  // usually, but a flood of many must not make each choice cost a scan of all of them.

  #before(a: MerchantQueue, b: MerchantQueue): boolean {
    const x = a.units[0]!;
    const y = b.units[0]!;
    return x.tag < y.tag || (x.tag === y.tag && x.id < y.id);
  }

  #heapPush(merchant: MerchantQueue): void {
    merchant.heapIndex = this.#heap.length;
    this.#heap.push(merchant);
    this.#heapUpdate(merchant);
  }

  #heapRemove(merchant: MerchantQueue): void {
    const at = merchant.heapIndex;
    if (at < 0) return;
    merchant.heapIndex = -1;
    const last = this.#heap.pop()!;
    if (last === merchant) return;
    this.#heap[at] = last;
    last.heapIndex = at;
    this.#heapUpdate(last);
  }

  /** Restores the heap order around a merchant whose first unit changed. */
  #heapUpdate(merchant: MerchantQueue): void {
    const heap = this.#heap;
    let at = merchant.heapIndex;
    while (at > 0) {
      const up = (at - 1) >> 1;
      const parent = heap[up]!;
      if (!this.#before(merchant, parent)) break;
      heap[at] = parent;
      parent.heapIndex = at;
      at = up;
    }
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && this.#before(heap[right]!, heap[left]!) ? right : left;
      const candidate = heap[child]!;
      if (!this.#before(candidate, merchant)) break;
      heap[at] = candidate;
      candidate.heapIndex = at;
      at = child;
    }
    heap[at] = merchant;
    merchant.heapIndex = at;
  }

  #pump(): void {
    if (this.#queued === 0) return;
    // Level by level: idle workers first (an offer to them starts at once), then one each.
    for (let depth = 0; depth <= MAILBOX.OFFERS; depth++) {
      for (let i = 0; i < this.#slots.length && this.#queued > 0; i++) {
        const slot = this.#slots[i] ?? this.#slot(i);
        if (slot.assigned.size !== depth) continue;
        const entry = this.#freeEntry(slot);
        if (entry < 0) continue;
        const unit = this.#next();
        if (!unit) return;
        this.#sequence = (this.#sequence + 1) | 0;
        this.#offer(slot, entry, unit, this.#sequence);
      }
    }
  }

  #offer(slot: Slot, entry: number, unit: Unit, sequence: number): void {
    const job = unit.job;
    const keyId = job.keyIds[unit.index] as number;
    if (!slot.loaded.has(keyId)) {
      slot.loaded.add(keyId);
      slot.keys.postMessage({ keyId, pem: job.pems[unit.index] as string } satisfies KeyDelivery);
    }
    if (slot.assigned.size === 0) {
      slot.worker.ref();
      slot.startedAt = performance.now();
    }
    slot.assigned.set(unit.id, unit);
    slot.offers[entry] = unit;
    const { header, data } = slot.mailbox.entries[entry]!;
    header[MAILBOX.UNIT] = unit.id;
    header[MAILBOX.KEY] = keyId;
    header[MAILBOX.LENGTH] = job.ciphertext.length;
    header[MAILBOX.SEQUENCE] = sequence;
    data.set(job.ciphertext);
    Atomics.store(header, MAILBOX.STATE, MAILBOX.OFFERED);
    Atomics.add(slot.mailbox.control, MAILBOX.BELL, 1);
    Atomics.notify(slot.mailbox.control, MAILBOX.BELL);
  }

  #slot(index: number): Slot {
    const existing = this.#slots[index];
    if (existing) return existing;
    if (this.#closed) throw shuttingDown();
    const mailbox = new SharedArrayBuffer(MAILBOX_BYTES);
    const channel = new MessageChannel();
    // Only ever written to from here; it must not hold the process open.
    channel.port1.unref();
    const setup: WorkerSetup = { mailbox, keys: channel.port2 };
    const worker = new Worker(BOOT, { workerData: setup, transferList: [channel.port2] });
    worker.unref();
    // Ready once the worker module has loaded (it says so), not merely once the thread runs.
    const online = new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', () => reject(new Error('RSA worker exited during start')));
    });
    online.catch(() => {});
    const slot: Slot = {
      worker,
      keys: channel.port1,
      mailbox: mailboxViews(mailbox),
      offers: new Array<Unit | null>(MAILBOX.OFFERS).fill(null),
      loaded: new Set(),
      assigned: new Map(),
      startedAt: 0,
      online,
    };
    this.#slots[index] = slot;
    worker.on('message', (reply: UnitReply | 'ready') => {
      if (reply !== 'ready') this.#onReply(slot, reply);
    });
    worker.on('error', (err) => this.#onFailure(index, slot, err));
    worker.on('exit', (code) => this.#onFailure(index, slot, new Error(`RSA worker exited with code ${code}`)));
    return slot;
  }

  #onReply(slot: Slot, reply: UnitReply): void {
    const unit = slot.assigned.get(reply.id);
    if (!unit) return;
    slot.assigned.delete(reply.id);
    for (let i = 0; i < MAILBOX.OFFERS; i++) if (slot.offers[i] === unit) slot.offers[i] = null;
    // The worker went straight on to an offered unit, if there was one.
    if (slot.assigned.size > 0) slot.startedAt = performance.now();
    else slot.worker.unref();
    this.#completed++;
    const job = unit.job;
    if ('error' in reply) {
      // The worker did not keep a key it could not parse; send it again next time.
      slot.loaded.delete(job.keyIds[unit.index] as number);
      // The cause stays in the server's log; the client gets the catalog's plain 500.
      this.#warn(`RSA decryption failed: ${reply.error}`);
      job.failure ??= new AppError('INTERNAL', undefined, { cause: reply.error });
    } else {
      job.results[unit.index] = reply.request;
    }
    // remaining is 0 already when the job failed early (a worker died, the pool closed).
    if (job.remaining > 0 && --job.remaining === 0) this.#settle(job);
    this.#pump();
  }

  #settle(job: Job): void {
    if (job.failure) {
      job.reject(job.failure);
      return;
    }
    const index = job.results.findIndex((r) => r !== null);
    job.resolve({ index, request: index < 0 ? null : (job.results[index] ?? null) });
  }

  /** Fails a job at once; its other units, wherever they are, then answer no one. */
  #fail(job: Job, err: AppError): void {
    if (job.remaining <= 0) return;
    job.remaining = 0;
    job.reject(err);
  }

  /** A dead worker fails its jobs and is replaced on the next job (no restart loop). */
  #onFailure(index: number, slot: Slot, err: unknown): void {
    if (this.#slots[index] !== slot) return;
    this.#slots[index] = undefined;
    const failure = new AppError('UNAVAILABLE', 'The decryption service failed; try again');
    for (const unit of slot.assigned.values()) this.#fail(unit.job, failure);
    slot.assigned.clear();
    slot.keys.close();
    if (!this.#closed) {
      this.#warn(`RSA worker ${index} stopped: ${err instanceof Error ? err.message : String(err)}`);
      void slot.worker.terminate();
      this.#pump();
    }
  }
}
