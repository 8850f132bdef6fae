import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../src/clock.ts';
import { type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

type Json = Record<string, unknown>;

async function api(url: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
}

for (const kind of await dbKinds()) {
  describeOn(kind, `settings changed at run time (${kind})`, () => {
    let l: Live;
    let admin: { id: string; token: string };
    let trader: { id: string; token: string };
    const clock = new ManualClock(Date.now());
    before(async () => {
      l = await live(kind, clock, { acceptTimeoutSeconds: 1800 });
      admin = await l.account('admin', 'Boss');
      trader = await l.account('trader', 'Taras');
    });
    after(() => l.close());

    test('an administrator changes a timeout: new deadlines follow at once, old ones stay, the change is in the history', async () => {
      const listed = (await api(l.url, 'GET', '/v1/admin/settings', admin.token)).body.data as Json[];
      assert.deepEqual(
        listed.map((s) => s.key),
        ['PAYMENT_TIMEOUT', 'ACCEPT_TIMEOUT', 'TRADER_CHECK_TIMEOUT', 'CARD_TIMEOUT', 'PHOTO_TIMEOUT'],
      );
      const accept = listed.find((s) => s.key === 'ACCEPT_TIMEOUT');
      assert.equal(accept?.value, 1800);
      assert.equal(accept?.configured, 1800);
      assert.equal(accept?.changed_at, null);

      const before = await l.ts.system.invoices.get(await l.invoice());
      assert.equal(Number(before.deadlineAt) - before.createdAt, 1800_000);
      const set = await api(l.url, 'POST', '/v1/admin/settings', admin.token, { key: 'ACCEPT_TIMEOUT', value: 120 });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      const after = await l.ts.system.invoices.get(await l.invoice());
      assert.equal(Number(after.deadlineAt) - after.createdAt, 120_000, 'a new invoice waits 120 s for a trader');
      assert.equal((await l.ts.system.invoices.get(before.uid)).deadlineAt, before.deadlineAt, 'a deadline already set stays');

      await api(l.url, 'POST', '/v1/admin/settings', admin.token, { key: 'CARD_TIMEOUT', value: '60' });
      const taken = await l.ts.system.invoices.act(after.id, 'accept', { type: 'trader', id: trader.id }, {}, { numbers: true });
      assert.equal(Number(taken.deadlineAt) - clock.now(), 60_000, 'the trader has 60 s to give the card');

      const history = (await api(l.url, 'GET', '/v1/admin/settings/history', admin.token)).body.data as Json[];
      assert.deepEqual(
        history.map((h) => [h.key, h.value, h.actor_type, h.actor_id]),
        [
          ['CARD_TIMEOUT', 60, 'admin', admin.id],
          ['ACCEPT_TIMEOUT', 120, 'admin', admin.id],
        ],
      );
      const one = (await api(l.url, 'GET', '/v1/admin/settings/history?key=CARD_TIMEOUT', admin.token)).body.data as Json[];
      assert.equal(one.length, 1);
      const now = ((await api(l.url, 'GET', '/v1/admin/settings', admin.token)).body.data as Json[]).find(
        (s) => s.key === 'ACCEPT_TIMEOUT',
      );
      assert.equal(now?.value, 120);
      assert.equal(now?.configured, 1800);
      assert.equal(now?.changed_by, `admin:${admin.id}`);
    });

    test('refusals: out of bounds, not a number, an unknown key, a trader', async () => {
      for (const body of [
        { key: 'CARD_TIMEOUT', value: 5 },
        { key: 'CARD_TIMEOUT', value: 'soon' },
        { key: 'CARD_TIMEOUT', value: 1.5 },
        { key: 'RSA_KEY_BITS', value: 2048 },
        { key: 'CARD_TIMEOUT' },
      ]) {
        const r = await api(l.url, 'POST', '/v1/admin/settings', admin.token, body);
        assert.equal(r.status, 400, JSON.stringify(body));
      }
      const bounds = await api(l.url, 'POST', '/v1/admin/settings', admin.token, { key: 'CARD_TIMEOUT', value: 5 });
      assert.equal(bounds.body.param, 'value');
      assert.match(bounds.body.message as string, /from 30 to 86400/);
      assert.equal((await api(l.url, 'POST', '/v1/admin/settings', trader.token, { key: 'CARD_TIMEOUT', value: 60 })).status, 403);
      assert.equal((await api(l.url, 'GET', '/v1/admin/settings', trader.token)).status, 403);
    });
  });
}
