import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  type SqliteDatabase,
  SqliteDialect,
  sql,
} from 'kysely';
import pg from 'pg';
import { type Dialect, migrationsFor, StaticMigrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

export interface Storage {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** SQLite: `PRAGMA data_version` of this connection, which moves when another connection commits. */
  readonly dataVersion?: () => number;
  close(): Promise<void>;
}

export interface StorageOptions {
  /** postgres:// URL; absent = embedded SQLite file `nltrade.sqlite` in dataDir. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** PostgreSQL: run statements with parameters as named prepared statements (default true; see `namedStatements`). */
  preparedStatements?: boolean;
}

const INT8_OID = 20;

/**
 * Opens the configured database and brings its schema up to date. The embedded database is
 * SQLite in WAL mode with synchronous=FULL: a committed payment change must survive a
 * power loss, and WAL keeps readers from blocking the writer.
 */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  let storage: Storage;
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: 10,
      // BIGINT columns hold epoch millis and minor units, all far below 2^53.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: options.preparedStatements === false ? pool : namedStatements(pool) }),
    });
    storage = { db, dialect: 'postgres', close: () => db.destroy() };
  } else {
    secureDataDir(options.dataDir);
    const file = path.join(options.dataDir, 'nltrade.sqlite');
    ownerOnlyFiles(file);
    const sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }) });
    storage = {
      db,
      dialect: 'sqlite',
      // Prepared once: `pragma()` would prepare it on every call, ten times what running it costs.
      dataVersion: (
        (version) => () =>
          Number(version.get())
      )(sqlite.prepare('pragma data_version').pluck()),
      close: () => db.destroy(),
    };
  }
  try {
    await migrate(storage);
  } catch (err) {
    await storage.close();
    throw err;
  }
  return storage;
}

/**
 * DATA_DIR holds the database, the master key and receipt photos: only the server's own
 * user may list or open it, whatever the umask. A directory made looser by hand (or by an
 * older version) is tightened; one owned by another user is left for its owner to fix.
 */
export function secureDataDir(dir: string, options: { create?: boolean } = {}): void {
  if (options.create === false && !fs.existsSync(dir)) return;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  tighten(dir, 0o700);
}

/**
 * The database files are made 0600 before SQLite opens them: SQLite creates the -wal and
 * -shm files with the database file's own mode, so they follow. Files left 0644 by an older
 * version are tightened.
 */
function ownerOnlyFiles(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_RDWR, 0o600));
  } catch (err) {
    // SQLite's own open then reports the problem in its words.
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
  }
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) tighten(f, 0o600);
}

function tighten(target: string, mode: number): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  if ((stat.mode & 0o777 & ~mode) === 0 || (uid !== undefined && stat.uid !== uid)) return;
  fs.chmodSync(target, stat.mode & 0o777 & mode);
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares a statement for every query; preparing costs more than running the small
 * indexed queries of a request, so statements are kept by their SQL text and reused.
 */
function cachingStatements(sqlite: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let statement = cache.get(text);
      if (!statement) {
        // Queries with IN lists of varying length make distinct texts; a bound keeps memory flat.
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
        statement = sqlite.prepare(text);
        cache.set(text, statement);
      }
      return statement;
    },
  };
}

/**
 * PostgreSQL parses and plans an unnamed statement on every run; for the short indexed
 * statements of a request that is most of their cost (the ledger's settlement statement
 * spends 0.4 ms of 0.7 there). Statements with parameters therefore run as named prepared
 * statements, one per SQL text and connection, and PostgreSQL keeps their plans.
 *
 * Not prepared: texts without parameters (simple protocol: `begin`, DDL, several statements
 * in one text), texts with `*` in a select list or RETURNING (a migration in another process
 * adding a column would change the prepared result type, which PostgreSQL refuses), and
 * texts beyond the first STATEMENT_CACHE_SIZE (IN lists of varying length make endless texts).
 * A statement PostgreSQL refuses to re-plan anyway ("cached plan must not change result
 * type", after a column changed type) fails that once and runs unnamed from then on.
 */
export function namedStatements(pool: pg.Pool): PostgresPool {
  const names = new Map<string, string>();
  const unnamed = new Set<string>();
  const nameOf = (text: string): string | undefined => {
    const known = names.get(text);
    if (known !== undefined || unnamed.has(text)) return known;
    if (names.size >= STATEMENT_CACHE_SIZE || STAR_LIST.test(text)) {
      if (unnamed.size < STATEMENT_CACHE_SIZE) unnamed.add(text);
      return undefined;
    }
    const name = `nl_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
    names.set(text, name);
    return name;
  };
  const wrap = (client: pg.PoolClient): PostgresPoolClient =>
    ({
      release: (destroy?: boolean) => client.release(destroy),
      query(textOrCursor: unknown, values?: readonly unknown[]) {
        if (typeof textOrCursor !== 'string') return client.query(textOrCursor as pg.Submittable);
        const name = values && values.length > 0 ? nameOf(textOrCursor) : undefined;
        if (name === undefined) return client.query(textOrCursor, values as unknown[]);
        return client.query({ name, text: textOrCursor, values: values as unknown[] }).catch((err: unknown) => {
          if ((err as { code?: string }).code === PLAN_CHANGED && names.get(textOrCursor) === name) {
            names.delete(textOrCursor);
            unnamed.add(textOrCursor);
          }
          throw err;
        });
      },
    }) as unknown as PostgresPoolClient;
  return { connect: async () => wrap(await pool.connect()), end: () => pool.end() };
}

/** `select *`, `returning *`, `t.*`: a result shape that follows the table's columns. */
const STAR_LIST = /(?:select|returning|,)\s*(?:distinct\s+)?\*|\.\*/i;
/** feature_not_supported: what PostgreSQL answers when a prepared statement's result type changed. */
const PLAN_CHANGED = '0A000';

export async function migrate(storage: Storage): Promise<void> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one; with
  // several schemas in one database (test schemas, tenants) it would find another's and skip ours.
  const schema =
    storage.dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(storage.db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db: storage.db,
    ...(schema !== undefined && { migrationTableSchema: schema }),
    provider: new StaticMigrationProvider(migrationsFor(storage.dialect)),
    migrationTableName: 'nltrade_migrations',
    migrationLockTableName: 'nltrade_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`Database migration ${failed?.migrationName ?? ''} failed: ${String((error as Error).message ?? error)}`);
  }
}
