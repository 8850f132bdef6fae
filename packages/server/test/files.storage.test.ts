import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { loadConfig } from '../src/config.ts';
import { createSystem } from '../src/system.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;
const octal = (mode: number) => `0${mode.toString(8)}`;

for (const kind of await dbKinds()) {
  describeOn(kind, `files at rest (${kind})`, () => {
    let base: string;
    let umask: number;
    /** For PostgreSQL: a schema of its own (the systems below use its URL). */
    let pg: TestSystem | undefined;
    before(async () => {
      if (kind === 'postgres') pg = await testSystem('postgres');
      base = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-files-'));
      // The usual umask: without care, files would be readable by every local user.
      umask = process.umask(0o022);
    });
    after(async () => {
      process.umask(umask);
      fs.rmSync(base, { recursive: true, force: true });
      await pg?.cleanup();
    });

    const open = (dataDir: string) =>
      createSystem(
        loadConfig(
          {},
          {
            dataDir,
            rsaKeyBits: 2048,
            rsaThreads: 1,
            // The master key file is made in DATA_DIR when NLTRADE_MASTER_KEY is unset.
            masterKey: undefined,
            databaseUrl: pg?.databaseUrl,
          },
        ),
      );

    test('a new DATA_DIR is 0700, and the key file and database files in it are 0600', async () => {
      const dataDir = path.join(base, 'new', 'data');
      const system = await open(dataDir);
      try {
        // A write, so the WAL and its index exist.
        await system.merchants.create('Files');
        assert.equal(octal(modeOf(dataDir)), '0700');
        assert.equal(octal(modeOf(path.join(dataDir, 'master.key'))), '0600');
        if (kind === 'sqlite') {
          for (const f of ['nltrade.sqlite', 'nltrade.sqlite-wal', 'nltrade.sqlite-shm']) {
            assert.equal(octal(modeOf(path.join(dataDir, f))), '0600', f);
          }
        }
      } finally {
        await system.close();
      }
    });

    test('an existing DATA_DIR and database files left readable by others are tightened', async () => {
      const dataDir = path.join(base, `old-${randomBytes(3).toString('hex')}`);
      fs.mkdirSync(dataDir, { mode: 0o755 });
      fs.chmodSync(dataDir, 0o755);
      if (kind === 'sqlite') {
        // As an older version left it: a database made with the default mode.
        const db = new SQLite(path.join(dataDir, 'nltrade.sqlite'));
        db.pragma('journal_mode = WAL');
        db.exec('create table t (x)');
        db.close();
        fs.chmodSync(path.join(dataDir, 'nltrade.sqlite'), 0o644);
      }
      const system = await open(dataDir);
      try {
        await system.merchants.create('Files');
        assert.equal(octal(modeOf(dataDir)), '0700');
        if (kind === 'sqlite') {
          for (const f of ['nltrade.sqlite', 'nltrade.sqlite-wal', 'nltrade.sqlite-shm']) {
            assert.equal(octal(modeOf(path.join(dataDir, f))), '0600', f);
          }
        }
      } finally {
        await system.close();
      }
    });
  });
}
