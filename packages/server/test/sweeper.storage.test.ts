import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { InvoiceEvent } from '@nltrade/core';
import { ManualClock } from '../src/clock.ts';
import { startServer } from '../src/start.ts';
import { createSystem } from '../src/system.ts';
import { Sweeper, type SweepResult } from '../src/workers/sweeper.ts';

const execFileAsync = promisify(execFile);

async function waitFor(promise: Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

for (const kind of await dbKinds()) {
  describeOn(kind, `sweeper (${kind})`, () => {
    let ts: TestSystem;
    let merchantId: string;
    let traderId: string;
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    before(async () => {
      ts = await testSystem(kind, {}, clock);
      merchantId = (await ts.system.merchants.create('Shop')).merchantId;
      traderId = (await ts.system.accounts.create('trader', 'T')).id;
    });
    after(() => ts.cleanup());

    const s = () => ts.system.invoices;
    const trader = () => ({ type: 'trader', id: traderId }) as const;
    const newInvoice = async () => (await s().create(merchantId, { title: 'x', price: '10' })).uid;

    test('each timer: untaken → rejected, unpaid → rejected, trader silent in pay → notApprove; each notifies', async () => {
      const sweeper = new Sweeper(s(), clock);
      const events: InvoiceEvent[] = [];
      const off = ts.system.bus.subscribe((e) => events.push(e));
      const { acceptTimeoutSeconds, paymentTimeoutSeconds, traderCheckTimeoutSeconds } = ts.system.config;

      const untaken = await newInvoice();
      clock.advance(acceptTimeoutSeconds * 1000 - 1);
      assert.equal((await sweeper.runOnce()).expired, 0);
      clock.advance(1);
      assert.equal((await sweeper.runOnce()).expired, 1);
      assert.equal((await s().get(untaken)).status, 'rejected');

      const unpaid = await newInvoice();
      await s().act(unpaid, 'accept', trader());
      await s().act(unpaid, 'setCard', trader(), { card: '4111111111111111' });
      clock.advance(paymentTimeoutSeconds * 1000);
      await sweeper.runOnce();
      assert.equal((await s().get(unpaid)).status, 'rejected');

      const silent = await newInvoice();
      await s().bindIp(silent, '192.0.2.1');
      await s().act(silent, 'accept', trader());
      await s().act(silent, 'setCard', trader(), { card: '4111111111111111' });
      await s().act(silent, 'paid', { type: 'payer', id: '192.0.2.1' });
      clock.advance(traderCheckTimeoutSeconds * 1000);
      await sweeper.runOnce();
      const decided = await s().get(silent);
      assert.equal(decided.status, 'notApprove');
      assert.equal(decided.deadlineAt, null, 'an administrator decides; no further timer');
      off();
      const expiries = events.filter((e) => e.action === 'expire');
      assert.deepEqual(
        expiries.map((e) => [e.uid, e.to, e.actor.type]),
        [
          [untaken, 'rejected', 'system'],
          [unpaid, 'rejected', 'system'],
          [silent, 'notApprove', 'system'],
        ],
      );
    });

    test('a card not given in time: back to the queue for another trader, or rejected once its accept time is over', async () => {
      const sweeper = new Sweeper(s(), clock);
      const { cardTimeoutSeconds, acceptTimeoutSeconds } = ts.system.config;
      const uid = await newInvoice();
      const created = (await s().get(uid)).createdAt;
      await s().act(uid, 'accept', trader());
      clock.advance(cardTimeoutSeconds * 1000 - 1);
      await sweeper.runOnce();
      assert.equal((await s().get(uid)).status, 'wait card');
      clock.advance(1);
      await sweeper.runOnce();
      const back = await s().get(uid);
      assert.equal(back.status, 'not approve exchange');
      assert.equal(back.traderId, null);
      assert.equal(back.acceptedAt, null);
      assert.equal(back.deadlineAt, created + acceptTimeoutSeconds * 1000, 'the accept deadline still counts from creation');
      const history = await s().history(back.id);
      assert.match(history.at(-1)?.note ?? '', /не надав картку/);
      assert.equal(history.at(-1)?.actorType, 'system');
      // Another trader takes it, and sits on it past the accept deadline as well.
      const other = (await ts.system.accounts.create('trader', 'Second')).id;
      await s().act(uid, 'accept', { type: 'trader', id: other });
      clock.advance(acceptTimeoutSeconds * 1000);
      await sweeper.runOnce();
      const late = await s().get(uid);
      assert.equal(late.status, 'rejected');
      assert.equal(late.traderId, other, 'who held it last stays on record');
    });

    test('no receipt photo in time: an administrator decides, and the history says why', async () => {
      const sweeper = new Sweeper(s(), clock);
      const uid = await newInvoice();
      await s().bindIp(uid, '192.0.2.9');
      await s().act(uid, 'accept', trader());
      await s().act(uid, 'setCard', trader(), { card: '4111111111111111' });
      await s().act(uid, 'paid', { type: 'payer', id: '192.0.2.9' });
      await s().act(uid, 'dispute', trader(), { reason: 'nothing arrived' });
      clock.advance(ts.system.config.photoTimeoutSeconds * 1000 - 1);
      await sweeper.runOnce();
      assert.equal((await s().get(uid)).status, 'waitPhoto');
      clock.advance(1);
      await sweeper.runOnce();
      const decided = await s().get(uid);
      assert.equal(decided.status, 'notApprove');
      assert.equal(decided.approvePhoto, null);
      assert.equal(decided.deadlineAt, null);
      assert.match((await s().history(decided.id)).at(-1)?.note ?? '', /не надіслав фото/);
    });

    test('several processes sweeping at once expire each invoice exactly once', async () => {
      const uids: string[] = [];
      for (let i = 0; i < 40; i++) uids.push(await newInvoice());
      clock.advance(ts.system.config.acceptTimeoutSeconds * 1000);
      const env = {
        ...process.env,
        DATA_DIR: ts.dataDir,
        DATABASE_URL: ts.databaseUrl ?? '',
        NLTRADE_MASTER_KEY: ts.system.config.masterKey,
        NOW: String(clock.now()),
        BATCH: '7',
      };
      const child = path.join(import.meta.dirname, 'support', 'sweep-child.ts');
      const results = await Promise.all(
        [1, 2, 3].map(async () => {
          const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', child], { env, timeout: 60_000 });
          return JSON.parse(stdout) as SweepResult;
        }),
      );
      assert.equal(
        results.reduce((n, r) => n + r.expired, 0),
        uids.length,
        JSON.stringify(results),
      );
      for (const uid of uids) {
        const inv = await s().get(uid);
        assert.equal(inv.status, 'rejected');
        assert.equal(inv.version, 2);
        const history = await s().history(inv.id);
        assert.equal(history.filter((h) => h.action === 'expire').length, 1);
      }
    });

    test('two sweepers in one process (sharing a connection) interleave safely too', async () => {
      const uids: string[] = [];
      for (let i = 0; i < 10; i++) uids.push(await newInvoice());
      clock.advance(ts.system.config.acceptTimeoutSeconds * 1000);
      const results = await Promise.all(
        [new Sweeper(s(), clock, { batchSize: 3 }), new Sweeper(s(), clock, { batchSize: 3 })].map((sw) => sw.runOnce()),
      );
      assert.equal(results[0]!.expired + results[1]!.expired, 10);
    });

    test('catches up at start: what fell due while no server ran is expired by the start itself', async () => {
      const uid = await newInvoice();
      clock.advance(ts.system.config.acceptTimeoutSeconds * 1000 + 60_000);
      const system = await createSystem(ts.system.config, { clock });
      const expired = new Promise<void>((resolve) => {
        system.bus.subscribe((e) => {
          if (e.uid === uid && e.action === 'expire') resolve();
        });
      });
      const server = await startServer(ts.system.config, { system });
      try {
        // Nothing here sweeps: only the server's own start may expire it.
        await waitFor(expired, 10_000, 'the start never expired the due invoice');
        assert.equal((await s().get(uid)).status, 'rejected');
      } finally {
        await server.close();
        await system.close();
      }
    });

    test('start/stop: stop waits for the run in progress, and no run happens after it', async () => {
      const real = s();
      let runs = 0;
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let blocked!: () => void;
      const inSecondRun = new Promise<void>((r) => {
        blocked = r;
      });
      let onIdle: (() => void) | undefined;
      // The real service, with its timer reads counted and the second one held open.
      const counted = new Proxy(real, {
        get(target, prop) {
          if (prop === 'due') {
            return async (...args: Parameters<typeof real.due>) => {
              runs++;
              if (runs === 2) {
                blocked();
                await gate;
              }
              const due = await target.due(...args);
              // With nothing due the run ends in promise callbacks alone, and its next timer is
              // set before any setImmediate callback queued now: that callback sees the sweeper idle.
              if (due.length === 0 && onIdle) setImmediate(onIdle);
              return due;
            };
          }
          const value = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const sweeper = new Sweeper(counted, clock, { intervalMs: 5 });
      sweeper.start();
      sweeper.start();
      await waitFor(inSecondRun, 5000, 'the sweeper never ran twice');
      let stopped = false;
      const stopping = sweeper.stop().then(() => {
        stopped = true;
      });
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(stopped, false, 'stop waits for the run in progress');
      release();
      await stopping;
      await sweeper.stop();
      const after = runs;
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(runs, after, 'no timer was left behind (by either start)');

      // Stopped between runs, while the next one waits on its timer. Stopping mid-run would pass
      // without clearing the timer (the run's end sees the new generation and sets none), so the
      // stop must come between runs: straight after an idle callback, before the timers run again.
      const intervalMs = 20;
      const idle = new Sweeper(counted, clock, { intervalMs });
      const before = runs;
      const betweenRuns = new Promise<void>((resolve) => {
        onIdle = () => {
          // The second run came from the timer, so each run sets the next one.
          if (runs >= before + 2) resolve();
        };
      });
      idle.start();
      await waitFor(betweenRuns, 5000, 'the sweeper never finished a timed run');
      onIdle = undefined;
      await idle.stop();
      const stoppedAt = runs;
      // Timers fire in order of expiry and this one expires after any the sweeper set, so a timer
      // left behind has fired (and counted its run) by the time this one does, however late.
      await new Promise((r) => setTimeout(r, 3 * intervalMs));
      assert.equal(runs, stoppedAt, 'the pending timer was cleared');
    });
  });
}
