import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../server/src/config.ts';
import { createSystem } from '../../server/src/system.ts';
import { dbKinds, describeOn, PG_URL } from '../../server/test/support/system.ts';
import { nltrade } from './support/bin.ts';

for (const kind of await dbKinds()) {
  describeOn(kind, `nltrade admin backup (${kind})`, () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-cli-backup-'));
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-cli-backup-out-'));
    const schema = `bk_${randomBytes(5).toString('hex')}`;
    const env: Record<string, string> = { RSA_KEY_BITS: '2048' };
    before(async () => {
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`CREATE SCHEMA ${schema}`);
        await c.end();
        const url = new URL(PG_URL);
        url.searchParams.set('options', `-c search_path=${schema}`);
        env.DATABASE_URL = url.toString();
      }
    });
    after(async () => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(outDir, { recursive: true, force: true });
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.end();
      }
    });

    if (kind === 'postgres') {
      test('refuses and points at pg_dump', async () => {
        const r = await nltrade(['admin', 'backup', '--out', path.join(outDir, 'x.sqlite'), '--data', dataDir], env);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /pg_dump/);
        assert.deepEqual(fs.readdirSync(outDir), []);
      });
      return;
    }

    test('--out FILE writes an owner-only copy that a fresh data directory (with the master key) restores', async () => {
      const made = await nltrade(['admin', 'create-merchant', '--name', 'Shop', '--json', '--data', dataDir], env);
      assert.equal(made.code, 0, made.stderr);
      const merchant = JSON.parse(made.stdout) as { merchantId: string; accessToken: string };

      assert.equal((await nltrade(['admin', 'backup', '--data', dataDir], env)).code, 2, '--out is required');
      const out = path.join(outDir, 'backup.sqlite');
      const r = await nltrade(['admin', 'backup', '--out', out, '--data', dataDir, '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { file: string }).file, out);
      assert.equal(fs.statSync(out).mode & 0o777, 0o600);
      const again = await nltrade(['admin', 'backup', '--out', out, '--data', dataDir], env);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already exists/);
      const nowhere = await nltrade(['admin', 'backup', '--out', path.join(outDir, 'y.sqlite'), '--data', path.join(outDir, 'none')], env);
      assert.equal(nowhere.code, 1);
      assert.match(nowhere.stderr, /No embedded database/);
      assert.ok(!fs.existsSync(path.join(outDir, 'none')), 'a backup creates nothing where there is no database');

      // The master key is not in the backup: it comes from where it was kept apart.
      const restoreDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-cli-restore-'));
      try {
        fs.copyFileSync(out, path.join(restoreDir, 'nltrade.sqlite'));
        fs.copyFileSync(path.join(dataDir, 'master.key'), path.join(restoreDir, 'master.key'));
        const system = await createSystem(loadConfig({}, { dataDir: restoreDir, rsaThreads: 1 }));
        try {
          assert.equal((await system.merchants.authenticate(merchant.accessToken))?.id, merchant.merchantId);
          const key = await system.storage.db.selectFrom('merchant_keys').select('id').executeTakeFirstOrThrow();
          assert.match(
            await system.merchants.privateKeyPem(Number(key.id)),
            /BEGIN PRIVATE KEY/,
            'the key decrypts with the kept master key',
          );
        } finally {
          await system.close();
        }
      } finally {
        fs.rmSync(restoreDir, { recursive: true, force: true });
      }
    });
  });
}
