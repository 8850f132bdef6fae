import assert from 'node:assert/strict';
import { constants, privateDecrypt, publicEncrypt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { BackupError, backupDatabase, sqliteFile } from '../src/storage/backup.ts';
import { createSystem } from '../src/system.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

for (const kind of await dbKinds()) {
  describeOn(kind, `nltrade admin backup (${kind})`, () => {
    let ts: TestSystem;
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-backup-'));
    before(async () => {
      ts = await testSystem(kind);
    });
    after(async () => {
      await ts.cleanup();
      fs.rmSync(outDir, { recursive: true, force: true });
    });

    if (kind === 'postgres') {
      test('refuses, pointing at pg_dump', async () => {
        await assert.rejects(
          backupDatabase({ databaseUrl: ts.databaseUrl, dataDir: ts.dataDir, out: path.join(outDir, 'x.sqlite') }),
          (err: Error) => err instanceof BackupError && /pg_dump/.test(err.message) && /README/.test(err.message),
        );
        assert.deepEqual(fs.readdirSync(outDir), []);
      });
      return;
    }

    // A copy that restarted whenever a write came in would never end: the timeout makes that a failure.
    test('an online copy, made while the server writes, restores invoices and merchant keys', { timeout: 120_000 }, async () => {
      const { system } = ts;
      const merchant = await system.merchants.create('Shop');
      const trader = await system.accounts.create('trader', 'T');
      const uids: string[] = [];
      for (let i = 0; i < 20; i++)
        uids.push((await system.invoices.create(merchant.merchantId, { title: `Order ${i}`, price: '100' })).uid);
      await system.invoices.act(uids[0] as string, 'accept', { type: 'trader', id: trader.id });
      const rotated = await system.merchants.rotateKey(merchant.merchantId);

      // Writes go on during the copy; the copy is one consistent snapshot whatever they do.
      let writing = true;
      const writer = (async () => {
        let n = 0;
        while (writing) {
          await system.invoices.create(merchant.merchantId, { title: `During ${n++}`, price: '1' });
          await new Promise((r) => setImmediate(r));
        }
        return n;
      })();
      const out = path.join(outDir, 'nltrade-backup.sqlite');
      const result = await backupDatabase({ databaseUrl: undefined, dataDir: ts.dataDir, out });
      writing = false;
      await writer;
      assert.equal(result.file, out);
      assert.ok(result.bytes > 0);
      assert.equal(fs.statSync(out).mode & 0o777, 0o600, 'owner-only: it holds every invoice and the encrypted keys');
      assert.deepEqual(fs.readdirSync(outDir), ['nltrade-backup.sqlite'], 'no temporary or -wal file left beside it');
      await assert.rejects(backupDatabase({ databaseUrl: undefined, dataDir: ts.dataDir, out }), /already exists/);
      await assert.rejects(
        backupDatabase({ databaseUrl: undefined, dataDir: path.join(outDir, 'empty'), out: path.join(outDir, 'other.sqlite') }),
        /No embedded database/,
      );

      // Restore: a fresh data directory holding the copy, and the same master key (kept apart).
      const restoreDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-restore-'));
      try {
        fs.copyFileSync(out, sqliteFile(restoreDir));
        const restored = await createSystem(loadConfig({}, { dataDir: restoreDir, masterKey: system.config.masterKey, rsaThreads: 1 }));
        try {
          for (const uid of uids) assert.equal((await restored.invoices.get(uid)).uid, uid);
          assert.equal((await restored.invoices.get(uids[0] as string)).status, 'wait card');
          assert.equal((await restored.invoices.get(uids[1] as string)).status, 'not approve exchange');
          assert.equal((await restored.merchants.authenticate(merchant.accessToken))?.id, merchant.merchantId, 'tokens still work');
          // The merchant's current key decrypts what was encrypted with its public half.
          const keys = await restored.storage.db
            .selectFrom('merchant_keys')
            .select(['id', 'public_pem', 'state'])
            .where('merchant_id', '=', Number(merchant.merchantId))
            .execute();
          assert.equal(keys.length, 2);
          const current = keys.find((k) => Number(k.id) === Number(rotated.id));
          assert.ok(current);
          const secret = Buffer.from('restored key works');
          const sealed = publicEncrypt({ key: current.public_pem, padding: constants.RSA_PKCS1_OAEP_PADDING }, secret);
          const pem = await restored.merchants.privateKeyPem(Number(current.id));
          assert.deepEqual(privateDecrypt({ key: pem, padding: constants.RSA_PKCS1_OAEP_PADDING }, sealed), secret);
        } finally {
          await restored.close();
        }
      } finally {
        fs.rmSync(restoreDir, { recursive: true, force: true });
      }
    });
  });
}
