import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import type { Clock } from '../../src/clock.ts';
import { type ConfigOverrides, loadConfig } from '../../src/config.ts';
import { createSystem, type System } from '../../src/system.ts';

export type DbKind = 'sqlite' | 'postgres';

export const PG_URL = process.env.NLTRADE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** Why PostgreSQL cannot be used here (outside CI), once `dbKinds` has looked; null when it can. */
let pgUnavailable: string | null = null;

/**
 * The databases the storage, HTTP, CLI and realtime tiers run against: both, unless
 * NLTRADE_TEST_DB narrows it. PostgreSQL is required in CI; elsewhere a missing server makes
 * its suites *skipped* (see `dbSuite`), so the report says what did not run.
 */
export async function dbKinds(): Promise<DbKind[]> {
  const only = process.env.NLTRADE_TEST_DB;
  if (only === 'sqlite' || only === 'postgres') return [only];
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    pgUnavailable = null;
  } catch (err) {
    if (process.env.CI) throw new Error(`PostgreSQL is required in CI but ${PG_URL} is unreachable: ${(err as Error).message}`);
    pgUnavailable = `${PG_URL} unreachable (${(err as Error).message})`;
  }
  return ['sqlite', 'postgres'];
}

/**
 * `describe` for a suite on `kind`. When that database is not here the suite still appears,
 * as one skipped test saying why, so a report never passes silently with fewer tests.
 */
export function describeOn(kind: DbKind, name: string, fn: () => void): void {
  if (kind === 'postgres' && pgUnavailable !== null) {
    const reason = `PostgreSQL tier skipped: ${pgUnavailable}`;
    describe(name, () => test('every test of this suite', { skip: reason }, () => {}));
  } else {
    describe(name, fn);
  }
}

export interface TestSystem {
  system: System;
  dataDir: string;
  /** The database URL (postgres) or undefined (sqlite), for starting a second process on the same data. */
  databaseUrl: string | undefined;
  cleanup(): Promise<void>;
}

/** A fresh database (a temp dir for SQLite, a new schema for PostgreSQL) and a system on it. */
export async function testSystem(kind: DbKind, overrides: ConfigOverrides = {}, clock?: Clock): Promise<TestSystem> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-test-'));
  let databaseUrl: string | undefined;
  let dropSchema: (() => Promise<void>) | undefined;
  if (kind === 'postgres') {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    databaseUrl = url.toString();
    dropSchema = async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    };
  }
  const config = loadConfig(
    {},
    {
      dataDir,
      databaseUrl,
      rsaKeyBits: 2048,
      masterKey: randomBytes(32).toString('hex'),
      rsaThreads: 1,
      port: 0,
      // Tests about other things let traders accept without a deposit; ledger tests turn it on.
      requireTraderDeposit: false,
      ...overrides,
    },
  );
  const system = await createSystem(config, clock ? { clock } : {});
  return {
    system,
    dataDir,
    databaseUrl,
    async cleanup() {
      await system.close();
      await dropSchema?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
