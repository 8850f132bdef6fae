import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { InvoiceEvent } from '@nltrade/core';
import { EventLog } from '../src/event-log.ts';
import { EventBus } from '../src/events.ts';
import { createSystem, type System } from '../src/system.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

// PostgreSQL only: there a change wakes the other processes' readers itself (its history
// insert NOTIFYs at commit); SQLite readers poll.
if ((await dbKinds()).includes('postgres')) {
  describeOn('postgres', 'storage: a committed change wakes the readers of other processes', () => {
    let t: TestSystem;
    let other: System;
    let log: EventLog;
    const bus = new EventBus();
    const heard: InvoiceEvent[] = [];

    before(async () => {
      t = await testSystem('postgres');
      other = await createSystem(t.system.config);
      // A reader whose poll is an hour away: only a notification makes it read.
      log = new EventLog(t.system.storage.db, bus, 'postgres', t.databaseUrl, { pollMs: 3_600_000 });
      bus.subscribe((e) => heard.push(e));
      await log.start();
    });
    after(async () => {
      await log.stop();
      await other.close();
      await t.cleanup();
    });

    async function heardOf(uid: string, count: number): Promise<InvoiceEvent[]> {
      const until = Date.now() + 10_000;
      for (;;) {
        const mine = heard.filter((e) => e.uid === uid);
        if (mine.length >= count || Date.now() > until) return mine;
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    test('a create and a move made by another process are read at once, in order', async () => {
      const { merchantId } = await other.merchants.create('Elsewhere');
      const inv = await other.invoices.create(merchantId, { title: 'Woken', price: '10' });
      await other.invoices.act(inv.uid, 'remove', { type: 'merchant', id: merchantId }, {}, { merchantId });
      const events = await heardOf(inv.uid, 2);
      assert.deepEqual(
        events.map((e) => [e.type, e.to]),
        [
          ['invoice.created', 'not approve exchange'],
          ['invoice.changed', 'canceled'],
        ],
      );
    });
  });
}
