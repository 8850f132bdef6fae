/**
 * Where per-client limits are counted. Two kinds of count:
 *
 * - fixed windows (`hit`): events per key per window, for rate limits and lockouts. Windows
 *   are aligned to the clock (`floor(now / windowMs)`), so every process agrees on which
 *   window an event falls in without talking to the others;
 * - slots (`acquire` / `release`): things held open, such as realtime sockets. Each process
 *   holds its own share of a key and restates it on a heartbeat; a share that is not
 *   restated in time expires, so a crashed process cannot leave counts behind for good.
 */
export interface LimitStore {
  readonly kind: 'memory' | 'postgres' | 'redis';
  /** Counts one event for `key` in the window of `windowMs` that holds `now`; the count so far in that window. */
  hit(key: string, now: number, windowMs: number): Promise<number>;
  /** Takes one slot of `key` if every live process together holds fewer than `max`; false when full. */
  acquire(key: string, max: number): Promise<boolean>;
  /** Gives back a slot this process took. */
  release(key: string): Promise<void>;
  /**
   * The heartbeat: pushes the expiry of this process's shares forward. A share the store
   * lost (a Redis restart, say) is put back with the count given here.
   */
  renew(holdings: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Sets this process's shares to these counts (0 removes one), after a failed write left
   * them unknown. Keys not named are left as they are.
   */
  restate(holdings: ReadonlyMap<string, number>): Promise<void>;
  /** Removes what has expired: windows ended before `now`, shares nobody restated. */
  sweep(now: number): Promise<void>;
  /** Lets go of the connection (and of this process's shares where the store can name them). */
  close(): Promise<void>;
}

/** When the window of `windowMs` that holds `now` ends. */
export function windowEnd(now: number, windowMs: number): number {
  return (Math.floor(now / windowMs) + 1) * windowMs;
}

/** A share of a slot key not restated within this long belongs to a process that is gone. */
export const DEFAULT_SLOT_TTL_MS = 30_000;

/** Entries a memory store keeps before it drops the ended windows early (an address-rotating flood). */
const MEMORY_PRUNE_AT = 100_000;

/**
 * One process's counts, in memory: the embedded database runs a single server process, so
 * nothing needs sharing, and a request pays no I/O for its limits.
 */
export class MemoryLimitStore implements LimitStore {
  readonly kind = 'memory' as const;
  readonly #windows = new Map<string, { end: number; count: number }>();
  readonly #slots = new Map<string, number>();
  #nextPrune = 0;

  async hit(key: string, now: number, windowMs: number): Promise<number> {
    return this.hitNow(key, now, windowMs);
  }

  /** `hit` without the promise, for callers that must decide in the same tick. */
  hitNow(key: string, now: number, windowMs: number): number {
    if (now >= this.#nextPrune || this.#windows.size >= MEMORY_PRUNE_AT) {
      this.#nextPrune = now + windowMs;
      this.#prune(now);
    }
    const end = windowEnd(now, windowMs);
    const entry = this.#windows.get(key);
    if (!entry || entry.end < end) {
      this.#windows.set(key, { end, count: 1 });
      return 1;
    }
    entry.count += 1;
    return entry.count;
  }

  async acquire(key: string, max: number): Promise<boolean> {
    const held = this.#slots.get(key) ?? 0;
    if (held >= max) return false;
    this.#slots.set(key, held + 1);
    return true;
  }

  async release(key: string): Promise<void> {
    const left = (this.#slots.get(key) ?? 1) - 1;
    if (left <= 0) this.#slots.delete(key);
    else this.#slots.set(key, left);
  }

  async renew(): Promise<void> {
    // This process's memory is the whole truth here: nothing to keep alive.
  }

  async restate(holdings: ReadonlyMap<string, number>): Promise<void> {
    for (const [key, count] of holdings) {
      if (count <= 0) this.#slots.delete(key);
      else this.#slots.set(key, count);
    }
  }

  async sweep(now: number): Promise<void> {
    this.#prune(now);
  }

  async close(): Promise<void> {
    this.#windows.clear();
    this.#slots.clear();
  }

  #prune(now: number): void {
    for (const [key, entry] of this.#windows) if (entry.end <= now) this.#windows.delete(key);
    // Still too many live windows: an address-rotating flood. Forgetting them lets some of
    // its events through again, which is better than running out of memory.
    if (this.#windows.size >= MEMORY_PRUNE_AT) this.#windows.clear();
  }
}
