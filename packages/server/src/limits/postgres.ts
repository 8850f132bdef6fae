import { type Kysely, sql } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { DEFAULT_SLOT_TTL_MS, type LimitStore, windowEnd } from './store.ts';

/** The database's own clock in epoch ms: processes on several hosts agree on it even when theirs drift. */
const DB_NOW = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/**
 * Limits shared by every server process on one PostgreSQL database, in `limit_counts`
 * (migration 0004). A window is one row per key with `holder = ''`; a slot key has one row
 * per process (`holder` = that process) whose `expires_at` the process pushes forward on
 * every heartbeat.
 */
export class PostgresLimitStore implements LimitStore {
  readonly kind = 'postgres' as const;
  readonly #db: Kysely<Database>;
  readonly #holder: string;
  readonly #ttlMs: number;

  constructor(db: Kysely<Database>, holder: string, ttlMs = DEFAULT_SLOT_TTL_MS) {
    this.#db = db;
    this.#holder = holder;
    this.#ttlMs = ttlMs;
  }

  async hit(key: string, now: number, windowMs: number): Promise<number> {
    // One statement, so concurrent hits from several processes are each counted once. A
    // process whose clock is a little behind counts into the newer window rather than
    // resetting it.
    const end = windowEnd(now, windowMs);
    const { rows } = await sql<{ count: number }>`
      insert into limit_counts (key, holder, count, expires_at) values (${key}, '', 1, ${end})
      on conflict (key, holder) do update set
        count = case when limit_counts.expires_at >= excluded.expires_at then limit_counts.count + 1 else 1 end,
        expires_at = greatest(limit_counts.expires_at, excluded.expires_at)
      returning count`.execute(this.#db);
    return Number(rows[0]?.count ?? 1);
  }

  async acquire(key: string, max: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      // Serialises the check and the increment per key across processes; without it two
      // handshakes at once could both see max - 1 and both take the last slot.
      await sql`select pg_advisory_xact_lock(hashtext(${`nltrade.limit_counts:${key}`}))`.execute(trx);
      const { rows } = await sql<{ ok: number }>`
        with now_ms as (select ${DB_NOW} as t),
        taken as (
          select coalesce(sum(c.count), 0) as n from limit_counts c, now_ms
          where c.key = ${key} and c.holder <> '' and (c.holder = ${this.#holder} or c.expires_at > now_ms.t)
        )
        insert into limit_counts (key, holder, count, expires_at)
        select ${key}, ${this.#holder}, 1, now_ms.t + ${this.#ttlMs} from taken, now_ms where taken.n < ${max}
        on conflict (key, holder) do update set count = limit_counts.count + 1, expires_at = excluded.expires_at
        returning 1 as ok`.execute(trx);
      return rows.length > 0;
    });
  }

  async release(key: string): Promise<void> {
    await sql`
      update limit_counts set count = greatest(count - 1, 0), expires_at = ${DB_NOW} + ${this.#ttlMs}
      where key = ${key} and holder = ${this.#holder}`.execute(this.#db);
  }

  async renew(holdings: ReadonlyMap<string, number>): Promise<void> {
    await this.#upsert(holdings, 'renew');
  }

  async restate(holdings: ReadonlyMap<string, number>): Promise<void> {
    await this.#upsert(holdings, 'restate');
  }

  async #upsert(holdings: ReadonlyMap<string, number>, mode: 'renew' | 'restate'): Promise<void> {
    if (holdings.size === 0) return;
    const keys = [...holdings.keys()];
    const counts = keys.map((k) => Math.max(0, holdings.get(k) ?? 0));
    // A renewal only moves the expiry: the count is kept up to date by acquire and release,
    // and overwriting it here could undo one of those running at the same moment.
    const onConflict =
      mode === 'renew' ? sql`expires_at = excluded.expires_at` : sql`count = excluded.count, expires_at = excluded.expires_at`;
    await sql`
      insert into limit_counts (key, holder, count, expires_at)
      select u.k, ${this.#holder}, u.c, ${DB_NOW} + ${this.#ttlMs}
      from unnest(${keys}::text[], ${counts}::int[]) as u(k, c)
      on conflict (key, holder) do update set ${onConflict}`.execute(this.#db);
  }

  async sweep(now: number): Promise<void> {
    await sql`
      delete from limit_counts
      where (holder = '' and expires_at <= ${now})
         or (holder <> '' and (count <= 0 or expires_at < ${DB_NOW}))`.execute(this.#db);
  }

  async close(): Promise<void> {
    await sql`delete from limit_counts where holder = ${this.#holder}`.execute(this.#db);
  }
}
