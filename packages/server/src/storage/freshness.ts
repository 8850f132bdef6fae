import { type Kysely, sql, type Transaction } from 'kysely';
import type { Dialect } from './migrations.ts';
import type { Database } from './schema.ts';

/** PostgreSQL channel on which every writer of a cached table names the table (the payload), at commit. */
export const CACHE_CHANNEL = 'nltrade_cache';

/** Tables read on every invoice change but written a few times a year. */
export type CacheTopic = 'ledger_settings' | 'webhook_endpoints';

const TOPICS: ReadonlySet<string> = new Set<CacheTopic>(['ledger_settings', 'webhook_endpoints']);

/** Entries kept per cache; beyond, the cache starts again (merchants and traders, not requests, fill it). */
const MAX_ENTRIES = 10_000;

/**
 * Keeps reads of rarely written tables in memory for exactly as long as it can tell they did
 * not change, so that a rate set with `nltrade admin set-rate` applies to the next invoice in
 * every process, while a process does not pay a round trip per invoice change to learn that.
 *
 * - This process's own writes (`write`) forget at once after their commit.
 * - SQLite: `PRAGMA data_version` moves whenever another connection (the CLI, a second
 *   process) commits; any move empties every cache before the next read.
 * - PostgreSQL: every writer announces the topic in its own transaction (`write`: a NOTIFY, delivered
 *   at commit), heard on the event log's LISTEN connection. Until that connection listens,
 *   and whenever it drops, nothing is cached: a NOTIFY missed then would leave a stale value.
 *
 * A read that was under way while a change was heard is not kept (the generation moved).
 */
export class Freshness {
  readonly #dialect: Dialect;
  readonly #dataVersion: (() => number) | undefined;
  readonly #caches = new Set<Memo<unknown>>();
  #generation = 0;
  #hearing: boolean;
  #version: number | undefined;

  /** `dataVersion`: SQLite's `PRAGMA data_version` on the process's own connection. */
  constructor(dialect: Dialect, dataVersion?: () => number) {
    this.#dialect = dialect;
    this.#dataVersion = dataVersion;
    this.#hearing = dialect === 'sqlite' && dataVersion !== undefined;
  }

  /**
   * Runs a write of `topic`'s table in a transaction that announces it (other processes drop
   * their copies when it commits); this process drops its own once it has committed.
   */
  async write<T>(db: Kysely<Database>, topic: CacheTopic, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const result = await db.transaction().execute(async (trx) => {
      const done = await work(trx);
      if (this.#dialect === 'postgres') await sql`select pg_notify(${CACHE_CHANNEL}, ${topic})`.execute(trx);
      return done;
    });
    this.changed(topic);
    return result;
  }

  /** After a write committed here, or when another process's was heard (undefined: all topics). */
  changed(topic?: string): void {
    if (topic !== undefined && !TOPICS.has(topic)) topic = undefined;
    this.#generation++;
    for (const cache of this.#caches) if (topic === undefined || cache.topic === topic) cache.clear();
  }

  /** PostgreSQL: whether other processes' announcements reach this one (the LISTEN connection is up). */
  hearing(on: boolean): void {
    if (this.#dialect !== 'postgres') return;
    this.#hearing = on;
    // Whatever was announced while deaf is unknown: start afresh either way.
    this.changed();
  }

  /** A cache of `topic`'s reads by key. */
  memo<V>(topic: CacheTopic): Memo<V> {
    const memo = new Memo<V>(this, topic);
    this.#caches.add(memo as Memo<unknown>);
    return memo;
  }

  /** Whether a cached value may be used now; SQLite notices other connections' commits here. */
  usable(): boolean {
    if (!this.#hearing) return false;
    if (this.#dataVersion) {
      const version = this.#dataVersion();
      if (version !== this.#version) {
        this.#version = version;
        this.changed();
      }
    }
    return true;
  }

  get generation(): number {
    return this.#generation;
  }
}

export class Memo<V> {
  readonly #freshness: Freshness;
  readonly topic: CacheTopic;
  readonly #values = new Map<string, V>();

  constructor(freshness: Freshness, topic: CacheTopic) {
    this.#freshness = freshness;
    this.topic = topic;
  }

  /** The value kept for `key`, else what `load` reads (kept unless a change was heard meanwhile). */
  async get(key: string, load: () => Promise<V>): Promise<V> {
    if (!this.#freshness.usable()) return load();
    if (this.#values.has(key)) return this.#values.get(key) as V;
    const generation = this.#freshness.generation;
    const value = await load();
    // Checked after the read: a change heard (or, on SQLite, committed elsewhere) while it ran voids it.
    if (this.#freshness.usable() && generation === this.#freshness.generation) {
      if (this.#values.size >= MAX_ENTRIES) this.#values.clear();
      this.#values.set(key, value);
    }
    return value;
  }

  clear(): void {
    this.#values.clear();
  }
}
