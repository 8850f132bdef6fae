import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Actor } from '@nltrade/core';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.ts';
import { createSystem, type System } from '../src/system.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const ADMIN: Actor = { type: 'admin', id: null };

/** Polls `read` until it answers `want` (another process's NOTIFY travels), or fails after 5 s. */
async function eventually<T>(read: () => Promise<T>, want: T): Promise<void> {
  const until = Date.now() + 5000;
  let last: T | undefined;
  while (Date.now() < until) {
    last = await read();
    if (last === want) return;
    await sleep(20);
  }
  assert.equal(last, want);
}

for (const kind of await dbKinds()) {
  describeOn(kind, `storage: settings and endpoints kept in memory stay true on ${kind}`, () => {
    let t: TestSystem;
    let a: System;
    /** A second process on the same database: the CLI, or another server. */
    let b: System;
    let merchantId: string;

    before(async () => {
      t = await testSystem(kind, { webhookAllowPrivate: true });
      a = t.system;
      await a.eventLog.start();
      b = await createSystem(loadConfig({}, { ...a.config }));
      merchantId = (await a.merchants.create('Shop')).merchantId;
    });
    after(async () => {
      await b.close();
      await t.cleanup();
    });

    test('a rate set here applies to the very next invoice', async () => {
      assert.equal((await a.invoices.create(merchantId, { title: 'x', price: '100.00' })).rate, '41.50');
      await a.ledger.setRate('40.00', null, ADMIN);
      assert.equal((await a.invoices.create(merchantId, { title: 'x', price: '100.00' })).rate, '40.00');
      await a.ledger.setRate('39.00', merchantId, ADMIN);
      assert.equal((await a.invoices.create(merchantId, { title: 'x', price: '100.00' })).rate, '39.00');
    });

    test('a rate set by another process applies here', async () => {
      assert.equal(await a.ledger.rateFor(merchantId), '39.00');
      await b.ledger.setRate('38.25', merchantId, ADMIN);
      if (kind === 'sqlite') {
        // The other connection's commit moved data_version: seen on the very next read.
        assert.equal((await a.invoices.create(merchantId, { title: 'x', price: '100.00' })).rate, '38.25');
      } else {
        await eventually(() => a.ledger.rateFor(merchantId), '38.25');
      }
    });

    test('the value is kept: a write that bypasses the services is not read back until something announces', async () => {
      // This process's own connection writing behind the services' back: the one write neither
      // data_version nor a NOTIFY shows, so what was read before is still answered.
      await sql`insert into ledger_settings (kind, owner_id, value, actor_type, actor_id, at) values ('rate', ${merchantId}, '1.00', 'admin', null, 0)`.execute(
        a.storage.db,
      );
      assert.equal(await a.ledger.rateFor(merchantId), '38.25');
      await b.ledger.setRate('37.00', merchantId, ADMIN);
      await eventually(() => a.ledger.rateFor(merchantId), '37.00');
    });

    test('an endpoint added by another process receives the next change made here', async () => {
      const deliveries = async (endpointId: string) =>
        Number(
          (
            await a.storage.db
              .selectFrom('webhook_deliveries')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('endpoint_id', '=', endpointId)
              .executeTakeFirstOrThrow()
          ).n,
        );
      // This process has read (and kept) the merchant's endpoints: none.
      await a.invoices.create(merchantId, { title: 'x', price: '100.00' });
      const endpoint = await b.webhooks.create(merchantId, { url: 'http://127.0.0.1:9/hook' });
      await eventually(async () => {
        await a.invoices.create(merchantId, { title: 'x', price: '100.00' });
        return (await deliveries(endpoint.id)) > 0;
      }, true);
      // Deleted over there: nothing more is queued for it here.
      await b.webhooks.delete(merchantId, endpoint.id);
      await eventually(async () => {
        const before = await deliveries(endpoint.id);
        await a.invoices.create(merchantId, { title: 'x', price: '100.00' });
        return (await deliveries(endpoint.id)) === before;
      }, true);
      const before = await deliveries(endpoint.id);
      for (let i = 0; i < 3; i++) await a.invoices.create(merchantId, { title: 'x', price: '100.00' });
      assert.equal(await deliveries(endpoint.id), before);
    });

    test('an endpoint added and deleted here counts from the next change', async () => {
      const endpoint = await a.webhooks.create(merchantId, { url: 'http://127.0.0.1:9/hook' });
      const inv = await a.invoices.create(merchantId, { title: 'x', price: '100.00' });
      const queued = await a.storage.db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('invoice_history as h', 'h.id', 'd.event_id')
        .select('d.id')
        .where('d.endpoint_id', '=', endpoint.id)
        .where('h.invoice_id', '=', Number(inv.id))
        .execute();
      assert.equal(queued.length, 1);
      await a.webhooks.delete(merchantId, endpoint.id);
      const after = await a.invoices.create(merchantId, { title: 'x', price: '100.00' });
      const none = await a.storage.db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('invoice_history as h', 'h.id', 'd.event_id')
        .select('d.id')
        .where('h.invoice_id', '=', Number(after.id))
        .execute();
      assert.equal(none.length, 0);
    });
  });
}
