import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { createSystem, type System } from '../src/system.ts';
import type { CheckoutView } from '../src/views.ts';
import { type Live, live } from './support/live.ts';
import { dbKinds, describeOn, PG_URL } from './support/system.ts';

const BIN = path.resolve(import.meta.dirname, '../../cli/bin/nltrade.js');
const run = promisify(execFile);

/**
 * How long a test waits for a change from elsewhere. Generous on purpose: tests assert that
 * it arrives, not how fast (the machine is shared); `bench/cross-process.ts` measures the
 * latency against its 2-second target.
 */
const WITHIN_MS = 10_000;

// Changes committed by another process — a second server, the CLI — reach sockets held by
// this one through the durable event log, on either database.
for (const kind of await dbKinds()) {
  describeOn(kind, `changes made elsewhere reach this server's sockets (${kind})`, () => {
    let l: Live;
    let other: System;
    before(async () => {
      l = await live(kind);
      // A second process on the same database: its own pool (or SQLite connection), no sockets.
      other = await createSystem(l.ts.system.config);
    });
    after(async () => {
      await other.close();
      await l.close();
    });

    async function watched(price: string) {
      const uid = await l.invoice(price);
      const payer = await l.connect('10.1.1.1');
      payer.join(uid);
      assert.deepEqual(await payer.next('ip:send'), ['10.1.1.1']);
      await payer.next('invoice:update');
      return { uid, payer };
    }

    test('a trader acting through another process', async () => {
      const { uid, payer } = await watched('250');
      const trader = await other.accounts.create('trader', 'B-side trader');
      await other.invoices.act(uid, 'accept', { type: 'trader', id: trader.id });
      await payer.next('invoce:refetch', WITHIN_MS);
      const [view] = (await payer.next('invoice:update', WITHIN_MS)) as [CheckoutView];
      assert.equal(view.status, 'wait card');
      assert.equal(view.version, 2);
    });

    test('`nltrade admin decide` run from a shell while the server runs', async () => {
      const { uid, payer } = await watched('300');
      const s = l.ts.system.invoices;
      const trader = await l.account('trader', 'decider');
      const t = { type: 'trader', id: trader.id } as const;
      await s.act(uid, 'accept', t);
      await s.act(uid, 'setCard', t, { card: '5555555555554444' });
      await s.act(uid, 'paid', { type: 'payer', id: '10.1.1.1' });
      await s.act(uid, 'dispute', t);
      await s.act(uid, 'proofPhoto', { type: 'payer', id: '10.1.1.1' }, { photoUrl: 'https://shop.example/r.jpg' });
      payer.drain();
      const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: l.ts.dataDir, NLTRADE_MASTER_KEY: l.ts.system.config.masterKey ?? '' };
      if (l.ts.databaseUrl) env.DATABASE_URL = l.ts.databaseUrl;
      else delete env.DATABASE_URL;
      const out = await run(process.execPath, [BIN, 'admin', 'decide', uid, 'success', '--reason', 'receipt checked'], {
        env,
        timeout: 60_000,
      });
      assert.match(out.stdout, /success/);
      await payer.next('invoce:refetch', WITHIN_MS);
      let view: CheckoutView;
      do [view] = (await payer.next('invoice:update', WITHIN_MS)) as [CheckoutView];
      while (view.status !== 'success');
      assert.equal(view.resolution, 'receipt checked');
    });

    /**
     * Another process makes one more change and this one waits until it arrives. The log is
     * read in order, so by then any duplicate of an earlier event would have arrived first.
     */
    async function marker(): Promise<void> {
      const uid = await l.invoice('1');
      const arrived = new Promise<void>((resolve) => {
        const stop = l.ts.system.bus.subscribe((e, meta) => {
          if (e.uid === uid && meta.remote && e.action === 'cancel') {
            stop();
            resolve();
          }
        });
      });
      await other.invoices.act(uid, 'cancel', { type: 'admin', id: null }, { reason: 'marker' });
      await within(arrived, 'the marker change never arrived');
    }

    async function within(promise: Promise<void>, message: string): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(message)), WITHIN_MS)))]);
      } finally {
        clearTimeout(timer);
      }
    }

    test("this server's own events reach its sockets once, never echoed back from the log", async () => {
      const uid = await l.invoice('10');
      const seen: string[] = [];
      const stop = l.ts.system.bus.subscribe((e, meta) => {
        if (e.uid === uid) seen.push(`${e.action}:${meta.remote}`);
      });
      const trader = await l.account('trader');
      await l.ts.system.invoices.act(uid, 'accept', { type: 'trader', id: trader.id });
      await other.invoices.act(uid, 'cancel', { type: 'admin', id: null }, { reason: 'test' });
      await marker();
      stop();
      assert.deepEqual(seen, ['accept:false', 'cancel:true']);
    });

    test('many changes from another process arrive in order, each once', async () => {
      const uids = await Promise.all(Array.from({ length: 20 }, () => l.invoice('5')));
      const seen = new Map<string, number[]>();
      const stop = l.ts.system.bus.subscribe((e) => {
        if (uids.includes(e.uid)) seen.set(e.uid, [...(seen.get(e.uid) ?? []), e.version]);
      });
      const trader = await other.accounts.create('trader', 'bulk');
      await Promise.all(
        uids.map(async (uid) => {
          await other.invoices.act(uid, 'accept', { type: 'trader', id: trader.id });
          await other.invoices.act(uid, 'setCard', { type: 'trader', id: trader.id }, { card: '5555555555554444' });
        }),
      );
      await marker();
      stop();
      for (const uid of uids) assert.deepEqual(seen.get(uid), [2, 3], uid);
    });

    if (kind === 'postgres') {
      test('the listening connection is killed: the server hears the others again', async () => {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        try {
          const killed = await c.query(
            `select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'LISTEN nltrade_%' and pid <> pg_backend_pid()`,
          );
          assert.ok((killed.rowCount ?? 0) >= 1, 'a LISTEN connection was found and killed');
        } finally {
          await c.end();
        }
        const { uid, payer } = await watched('77');
        const trader = await other.accounts.create('trader', 'after the kill');
        await other.invoices.act(uid, 'accept', { type: 'trader', id: trader.id });
        await payer.next('invoce:refetch', WITHIN_MS);
        // And it listens again (not only polls): wait for the new LISTEN to show up.
        const deadline = Date.now() + 10_000;
        for (;;) {
          const probe = new pg.Client({ connectionString: PG_URL });
          await probe.connect();
          const r = await probe.query(`select count(*)::int as n from pg_stat_activity where query ilike 'LISTEN nltrade_%'`);
          await probe.end();
          if ((r.rows[0] as { n: number }).n >= 1) break;
          if (Date.now() > deadline) assert.fail('the server never listened again');
          await new Promise((r) => setTimeout(r, 100));
        }
      });
    }
  });
}
