import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, type SqliteDatabase, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { type Dialect, migrationsFor, StaticMigrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

export interface Storage {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  close(): Promise<void>;
}

export interface StorageOptions {
  /** postgres:// URL; absent = embedded SQLite file `nltrade.sqlite` in dataDir. */
  databaseUrl?: string | undefined;
  dataDir: string;
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
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    storage = { db, dialect: 'postgres', close: () => db.destroy() };
  } else {
    fs.mkdirSync(options.dataDir, { recursive: true });
    const file = path.join(options.dataDir, 'nltrade.sqlite');
    const sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }) });
    storage = { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  try {
    await migrate(storage);
  } catch (err) {
    await storage.close();
    throw err;
  }
  return storage;
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
