import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LIMITS } from '@nltrade/core';
import { NlTradeClient, NlTradeError } from '@nltrade/sdk';
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

const CARD = '4441 1144 4111 4442';
const DIGITS = CARD.replaceAll(' ', '');

/** Valid Luhn numbers, different for each `n`. */
function cardNumber(n: number): string {
  const body = `5375${String(n).padStart(11, '0')}`;
  for (let check = 0; check < 10; check++) {
    const digits = body + check;
    let sum = 0;
    for (let i = 0; i < digits.length; i++) {
      let d = Number(digits[digits.length - 1 - i]);
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    if (sum % 10 === 0) return digits;
  }
  throw new Error('unreachable');
}

for (const kind of await dbKinds()) {
  describeOn(kind, `a trader's saved cards (${kind})`, () => {
    let l: Live;
    let trader: { id: string; token: string };
    let rival: { id: string; token: string };
    before(async () => {
      l = await live(kind, new ManualClock(Date.now()));
      trader = await l.account('trader', 'Taras');
      rival = await l.account('trader', 'Rival');
    });
    after(() => l.close());

    test('a saved card is listed masked, stored encrypted, and gives an invoice the whole number', async () => {
      const saved = await api(l.url, 'POST', '/v1/trader/cards', trader.token, { card: CARD, label: 'mono black' });
      assert.equal(saved.status, 201, JSON.stringify(saved.body));
      assert.equal(saved.body.masked, '4441-11**-****-4442');
      assert.equal(saved.body.label, 'mono black');
      const list = (await api(l.url, 'GET', '/v1/trader/cards', trader.token)).body.data as Json[];
      assert.deepEqual(
        list.map((c) => c.masked),
        ['4441-11**-****-4442'],
      );
      assert.ok(!JSON.stringify(list).includes(DIGITS));
      const rows = await l.ts.system.storage.db.selectFrom('trader_cards').selectAll().execute();
      assert.ok(rows.length > 0 && rows.every((r) => !r.card_enc.includes(DIGITS) && !r.card_enc.includes('4441114')));

      const id = await l.idOf(await l.invoice());
      assert.equal((await api(l.url, 'POST', `/v1/trader/invoices/${id}/accept`, trader.token, {})).status, 200);
      const carded = await api(l.url, 'POST', `/v1/trader/invoices/${id}/card`, trader.token, { card_id: saved.body.id });
      assert.equal(carded.status, 200, JSON.stringify(carded.body));
      assert.equal((await l.ts.system.invoices.get(id, { numbers: true })).card, DIGITS);
    });

    test('refusals: a bad number, the same card twice, both or neither of card and card_id, another trader’s card', async () => {
      const bad = await api(l.url, 'POST', '/v1/trader/cards', trader.token, { card: '4441 1144 4111 4443' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'INVALID_CARD');
      const twice = await api(l.url, 'POST', '/v1/trader/cards', trader.token, { card: DIGITS });
      assert.equal(twice.status, 400);
      assert.equal(twice.body.param, 'card');
      const unknownField = await api(l.url, 'POST', '/v1/trader/cards', trader.token, { card: DIGITS, pin: '1234' });
      assert.equal(unknownField.status, 400);

      const mine = ((await api(l.url, 'GET', '/v1/trader/cards', trader.token)).body.data as Json[])[0];
      assert.ok(mine);
      const id = await l.idOf(await l.invoice());
      await api(l.url, 'POST', `/v1/trader/invoices/${id}/accept`, rival.token, {});
      const stolen = await api(l.url, 'POST', `/v1/trader/invoices/${id}/card`, rival.token, { card_id: mine.id });
      assert.equal(stolen.status, 404, 'another trader’s card looks missing');
      const both = await api(l.url, 'POST', `/v1/trader/invoices/${id}/card`, rival.token, { card: DIGITS, card_id: mine.id });
      assert.equal(both.status, 400);
      const neither = await api(l.url, 'POST', `/v1/trader/invoices/${id}/card`, rival.token, {});
      assert.equal(neither.status, 400);
      assert.equal((await l.ts.system.invoices.get(id, { numbers: true })).status, 'wait card', 'nothing changed');
      assert.equal((await api(l.url, 'DELETE', `/v1/trader/cards/${mine.id}`, rival.token)).status, 404);
    });

    test('through the SDK: save, list, give to an invoice, forget', async () => {
      const sdk = new NlTradeClient({ baseUrl: l.url, token: rival.token });
      const card = await sdk.saveCard(cardNumber(7), 'salary');
      assert.equal((await sdk.savedCards()).data.find((c) => c.id === card.id)?.label, 'salary');
      const id = await l.idOf(await l.invoice());
      await sdk.accept(id);
      const view = await sdk.setSavedCard(id, card.id);
      assert.equal(view.status, 'send card');
      await sdk.removeCard(card.id);
      await assert.rejects(sdk.removeCard(card.id), (e: unknown) => e instanceof NlTradeError && e.code === 'NOT_FOUND');
    });

    test('removing a card; at most the limit saved', async () => {
      const listed = (await api(l.url, 'GET', '/v1/trader/cards', trader.token)).body.data as Json[];
      for (const c of listed) assert.equal((await api(l.url, 'DELETE', `/v1/trader/cards/${c.id}`, trader.token)).status, 200);
      assert.deepEqual((await api(l.url, 'GET', '/v1/trader/cards', trader.token)).body.data, []);
      for (let i = 0; i < LIMITS.savedCardsPerTrader; i++) {
        assert.equal((await api(l.url, 'POST', '/v1/trader/cards', trader.token, { card: cardNumber(i) })).status, 201);
      }
      const over = await api(l.url, 'POST', '/v1/trader/cards', trader.token, { card: cardNumber(99) });
      assert.equal(over.status, 400);
      assert.match(over.body.message as string, /At most/);
    });
  });
}
