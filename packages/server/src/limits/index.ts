import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { compileTrust, ForwardedForCheck, limitKeyOf, type TrustFn, type WarnLog } from '../http/client-ip.ts';
import type { Storage } from '../storage/db.ts';
import { PostgresLimitStore } from './postgres.ts';
import { RedisLimitStore } from './redis.ts';
import { DEFAULT_SLOT_TTL_MS, type LimitStore, MemoryLimitStore, windowEnd } from './store.ts';

export type { LimitStore } from './store.ts';

export interface LimitsLog extends WarnLog {
  error(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

const consoleLog: LimitsLog = {
  warn: (_obj, msg) => console.warn(`nltrade: ${msg}`),
  error: (obj, msg) => console.error(`nltrade: ${msg}`, obj),
  info: () => {},
};

export interface LimitsOptions {
  /** How often this process renews its slot shares (and expires handshakes that never finished). */
  heartbeatMs?: number;
  /** A share not renewed within this long belongs to a process that is gone. */
  slotTtlMs?: number;
  /** Prefix of the Redis keys. */
  redisPrefix?: string;
}

const DEFAULT_HEARTBEAT_MS = 10_000;
/** A slot taken for a handshake that never became a connection is given back after this. */
const UNCONFIRMED_SLOT_MS = 30_000;
/** Ended windows are swept from a shared store about this often. */
const SWEEP_EVERY_MS = 60_000;
/** Keys remembered as over their budget before the list is pruned. */
const OVER_MAX = 50_000;

/** One slot held for as long as what it counts is open. */
export class Slot {
  readonly key: string;
  readonly takenAt: number;
  #limits: Limits | null;
  confirmed = false;

  constructor(limits: Limits, key: string) {
    this.#limits = limits;
    this.key = key;
    this.takenAt = Date.now();
  }

  /** What the slot was taken for is now open; it is held until `release`. */
  confirm(): void {
    this.confirmed = true;
  }

  /** Gives the slot back; a second call does nothing. */
  release(): void {
    const limits = this.#limits;
    this.#limits = null;
    limits?.giveBack(this);
  }
}

/** A budget of events per client and fixed window (a minute by default), counted in the shared store. */
export class WindowLimit {
  readonly #limits: Limits;
  readonly #name: string;
  readonly #max: number;
  readonly #windowMs: number;

  constructor(limits: Limits, name: string, max: number, windowMs = 60_000) {
    this.#limits = limits;
    this.#name = name;
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Counts one event of `ip`: 0 while within the budget, else the seconds until the window ends. */
  async count(ip: string): Promise<number> {
    const { count, resetAt, now } = await this.#limits.countWindow(`${this.#name}:${limitKeyOf(ip)}`, this.#windowMs, this.#max);
    return count <= this.#max ? 0 : Math.max(1, Math.ceil((resetAt - now) / 1000));
  }
}

/**
 * Per-client limits of one process, counted where every process sees them: in Redis when
 * REDIS_URL is set, else in PostgreSQL, else (the embedded database: one process) in memory.
 * When the shared store fails, this process counts alone until it is back, so an outage of
 * Redis weakens the limits for a while rather than refusing every client.
 */
export class Limits {
  readonly store: LimitStore;
  readonly clock: Clock;
  readonly trust: TrustFn;
  readonly forwardedFor: ForwardedForCheck;
  /** Where warnings and store failures go: the system's log (createSystem sets it). */
  log: LimitsLog = consoleLog;
  readonly #fallback = new MemoryLimitStore();
  readonly #heartbeatMs: number;
  /** Slots this process holds per key, handshakes in progress included. */
  readonly #held = new Map<string, number>();
  readonly #unconfirmed = new Set<Slot>();
  /** Keys whose share in the store may be wrong after a failed write; restated on the next heartbeat. */
  readonly #dirty = new Set<string>();
  /** Window keys found over their budget, until their window ends. */
  readonly #over = new Map<string, number>();
  #heartbeat: NodeJS.Timeout | undefined;
  #lastSweep = 0;
  #storeDown = false;
  #closed = false;

  constructor(store: LimitStore, clock: Clock, trustProxy: readonly string[], options: LimitsOptions = {}) {
    this.store = store;
    this.clock = clock;
    this.trust = compileTrust(trustProxy);
    this.forwardedFor = new ForwardedForCheck(this.trust);
    this.#heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  }

  /**
   * Counts one event of `key` in its fixed window of `windowMs`: the count so far (at least
   * `max + 1` once over) and when the window ends. A key found over `max` is remembered here
   * until its window ends, so a flood from one client costs the store one write per process
   * and window, not one per request.
   */
  async countWindow(key: string, windowMs: number, max: number): Promise<{ count: number; resetAt: number; now: number }> {
    const now = this.clock.now();
    const resetAt = windowEnd(now, windowMs);
    if ((this.#over.get(key) ?? 0) >= resetAt) return { count: max + 1, resetAt, now };
    const count = await this.hit(key, now, windowMs);
    if (count > max) {
      if (this.#over.size >= OVER_MAX) {
        for (const [k, until] of this.#over) if (until <= now) this.#over.delete(k);
        if (this.#over.size >= OVER_MAX) this.#over.clear();
      }
      this.#over.set(key, resetAt);
    }
    return { count, resetAt, now };
  }

  /** A budget named `name` of `max` events per client per window. */
  window(name: string, max: number, windowMs = 60_000): WindowLimit {
    return new WindowLimit(this, name, max, windowMs);
  }

  /** Warns (once) when a peer outside TRUST_PROXY sends X-Forwarded-For. */
  noticeForwardedFor(req: IncomingMessage): void {
    this.forwardedFor.check(req, this.log);
  }

  /** Counts one event in the shared store, or in this process while the store is failing. */
  async hit(key: string, now: number, windowMs: number): Promise<number> {
    if (this.#closed) return this.#fallback.hitNow(key, now, windowMs);
    try {
      const count = await this.store.hit(key, now, windowMs);
      this.#storeUp();
      return count;
    } catch (err) {
      this.#storeFailed(err);
      return this.#fallback.hitNow(key, now, windowMs);
    }
  }

  /**
   * Takes one of `max` slots of `kind` for the client `ip`, counted across every process;
   * null when they are all taken. Release it when what it counts closes; a slot never
   * confirmed is given back after a while on its own.
   */
  async acquire(kind: string, ip: string, max: number): Promise<Slot | null> {
    const key = `${kind}:${limitKeyOf(ip)}`;
    this.#startHeartbeat();
    let ok: boolean;
    if (this.#closed) {
      ok = false;
    } else {
      try {
        ok = await this.store.acquire(key, max);
        this.#storeUp();
      } catch (err) {
        this.#storeFailed(err);
        ok = (this.#held.get(key) ?? 0) < max;
        this.#dirty.add(key);
      }
    }
    if (!ok) return null;
    this.#held.set(key, (this.#held.get(key) ?? 0) + 1);
    const slot = new Slot(this, key);
    this.#unconfirmed.add(slot);
    return slot;
  }

  /** @internal Slot.release */
  giveBack(slot: Slot): void {
    this.#unconfirmed.delete(slot);
    const left = (this.#held.get(slot.key) ?? 1) - 1;
    if (left <= 0) this.#held.delete(slot.key);
    else this.#held.set(slot.key, left);
    if (this.#closed) return;
    this.store.release(slot.key).then(
      () => this.#storeUp(),
      (err: unknown) => {
        if (this.#closed) return;
        this.#storeFailed(err);
        this.#dirty.add(slot.key);
      },
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#unconfirmed.clear();
    // Another process may take these slots at once, rather than after they expire.
    const mine = new Map([...this.#held.keys(), ...this.#dirty].map((key) => [key, 0]));
    this.#held.clear();
    await this.store.restate(mine).catch(() => {});
    await this.store.close().catch(() => {});
  }

  /** Runs one heartbeat now (tests; the timer runs it every `heartbeatMs`). */
  async beat(): Promise<void> {
    if (this.#closed) return;
    const nowMs = Date.now();
    for (const slot of this.#unconfirmed) {
      // A handshake that was let in but never became a connection (the client went away
      // in between) must not keep its slot.
      if (!slot.confirmed && nowMs - slot.takenAt >= UNCONFIRMED_SLOT_MS) slot.release();
      else if (slot.confirmed) this.#unconfirmed.delete(slot);
    }
    try {
      if (this.#dirty.size > 0) {
        const dirty = new Map([...this.#dirty].map((key) => [key, this.#held.get(key) ?? 0]));
        this.#dirty.clear();
        await this.store.restate(dirty);
      }
      await this.store.renew(this.#held);
      if (nowMs - this.#lastSweep >= SWEEP_EVERY_MS) {
        this.#lastSweep = nowMs;
        await this.store.sweep(this.clock.now());
      }
      this.#storeUp();
    } catch (err) {
      this.#storeFailed(err);
      for (const key of this.#held.keys()) this.#dirty.add(key);
    }
  }

  #startHeartbeat(): void {
    if (this.#heartbeat || this.#closed) return;
    this.#heartbeat = setInterval(() => void this.beat(), this.#heartbeatMs);
    this.#heartbeat.unref();
  }

  #storeUp(): void {
    if (!this.#storeDown) return;
    this.#storeDown = false;
    this.log.info({ store: this.store.kind }, 'limits store is back: limits per client are shared by every process again');
  }

  #storeFailed(err: unknown): void {
    if (this.#storeDown) return;
    this.#storeDown = true;
    this.log.error(
      { err, store: this.store.kind },
      'limits store failed: until it is back, this process counts rate limits, lockouts and sockets per client on its own',
    );
  }
}

/** The store the configuration names: Redis when REDIS_URL is set, else PostgreSQL, else memory. */
export function createLimits(config: Config, storage: Storage, clock: Clock, options: LimitsOptions = {}): Limits {
  const holder = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const ttl = options.slotTtlMs ?? DEFAULT_SLOT_TTL_MS;
  const store: LimitStore = config.redisUrl
    ? new RedisLimitStore(config.redisUrl, holder, {
        slotTtlMs: ttl,
        ...(options.redisPrefix !== undefined && { prefix: options.redisPrefix }),
      })
    : storage.dialect === 'postgres'
      ? new PostgresLimitStore(storage.db, holder, ttl)
      : new MemoryLimitStore();
  return new Limits(store, clock, config.trustProxy, options);
}
