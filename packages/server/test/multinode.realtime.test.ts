import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSystem, type System } from '../src/system.ts';
import { type Live, live } from './support/live.ts';
import { dbKinds } from './support/system.ts';

// Two processes on one PostgreSQL database: a change made through the second one (here a
// second System in this process, with its own pool and LISTEN connection) reaches sockets
// held by the first.
describe('multi-node: events travel between processes over PostgreSQL', { skip: !(await dbKinds()).includes('postgres') }, () => {
  let l: Live;
  let other: System;
  before(async () => {
    l = await live('postgres');
    other = await createSystem(l.ts.system.config);
  });
  after(async () => {
    await other.close();
    await l.close();
  });

  test('a trader acting on node B notifies a payer watching on node A', async () => {
    const uid = await l.invoice('250');
    const trader = await other.accounts.create('trader', 'B-side trader');
    const payer = await l.connect('10.1.1.1');
    payer.join(uid);
    assert.deepEqual(await payer.next('ip:send'), ['10.1.1.1']);
    await payer.next('invoice:update');

    await other.invoices.act(uid, 'accept', { type: 'trader', id: trader.id });
    await payer.next('invoce:refetch');
    const [view] = (await payer.next('invoice:update')) as [{ status: string; version: number }];
    assert.equal(view.status, 'wait card');
    assert.equal(view.version, 2);
  });

  test('events published on node A are not echoed back to node A twice', async () => {
    const uid = await l.invoice('10');
    const seen: string[] = [];
    const stop = l.ts.system.bus.subscribe((e, meta) => {
      if (e.uid === uid) seen.push(`${e.action}:${meta.remote}`);
    });
    const trader = await l.account('trader');
    await l.ts.system.invoices.act(uid, 'accept', { type: 'trader', id: trader.id });
    await other.invoices.act(uid, 'cancel', { type: 'admin', id: null }, { reason: 'test' });
    const deadline = Date.now() + 3000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    stop();
    assert.deepEqual(seen, ['accept:false', 'cancel:true']);
  });
});
