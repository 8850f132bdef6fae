import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { verifyWebhook } from '@nltrade/sdk';
import { startServer } from '../src/start.ts';
import { dbKinds, describeOn, testSystem } from './support/system.ts';
import { Receiver } from './support/webhook-receiver.ts';

const CHILD = path.join(import.meta.dirname, 'support', 'webhook-child.ts');

/** Starts a server process on the test's database and waits for its "up" line. */
async function serverProcess(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server process exited (${code}) before it was up: ${err}`)));
  });
  return child;
}

for (const kind of await dbKinds()) {
  describeOn(kind, `webhook delivery survives a killed server (${kind})`, () => {
    test('a server killed with SIGKILL mid-delivery: the event is delivered after the restart', async () => {
      // The first request is never answered: the server that sent it dies waiting.
      const receiver = await Receiver.start((n) => (n === 0 ? 'hang' : 200));
      const ts = await testSystem(kind, { webhookAllowPrivate: true, webhookTimeoutSeconds: 1, host: '127.0.0.1' });
      let child: ChildProcess | undefined;
      let restarted: Awaited<ReturnType<typeof startServer>> | undefined;
      try {
        const { merchantId } = await ts.system.merchants.create('Shop');
        const endpoint = await ts.system.webhooks.create(merchantId, { url: receiver.url });
        child = await serverProcess({
          DATA_DIR: ts.dataDir,
          DATABASE_URL: ts.databaseUrl ?? '',
          NLTRADE_MASTER_KEY: ts.system.config.masterKey,
          RSA_KEY_BITS: '2048',
          RSA_THREADS: '1',
          PORT: '0',
          HOST: '127.0.0.1',
          WEBHOOK_ALLOW_PRIVATE: '1',
          WEBHOOK_TIMEOUT: '1',
          LOG_LEVEL: 'silent',
        });
        // Committed here; the child finds it in the queue (its poll, or the event log).
        const invoice = await ts.system.invoices.create(merchantId, { title: 'Order', price: '100' });
        await receiver.until((r) => r.requests.length === 1, 15_000, 'the first attempt');
        const exited = new Promise((resolve) => child?.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        child = undefined;
        assert.equal(receiver.delivered().length, 0);

        restarted = await startServer(ts.system.config, { system: ts.system, sweeper: { start: false } });
        // Its lease runs out (2 × WEBHOOK_TIMEOUT + 5 s), then the restarted server sends it.
        await receiver.until((r) => r.delivered().length === 1, 30_000, 'the delivery after the restart');
        const [first, second] = receiver.requests;
        assert.ok(first && second);
        assert.equal(JSON.parse(second.body).id, JSON.parse(first.body).id, 'the same event');
        const event = verifyWebhook(second.body, second.headers['nltrade-signature'], endpoint.secret as string);
        assert.equal(event.data.invoice.uid, invoice.uid);
        // The answer is recorded just after the receiver has sent it.
        const deadline = Date.now() + 10_000;
        let rows = await ts.system.storage.db.selectFrom('webhook_deliveries').selectAll().execute();
        while (rows[0]?.status !== 'delivered' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
          rows = await ts.system.storage.db.selectFrom('webhook_deliveries').selectAll().execute();
        }
        assert.equal(rows.length, 1);
        assert.equal(rows[0]?.status, 'delivered');
        assert.equal(rows[0]?.attempts, 1, 'the killed attempt was never recorded; the restart made the one that counts');
      } finally {
        child?.kill('SIGKILL');
        await restarted?.close();
        await ts.cleanup();
        await receiver.close();
      }
    });
  });
}
