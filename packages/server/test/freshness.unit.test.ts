import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Freshness } from '../src/storage/freshness.ts';

/** A load that counts its reads and answers what `value` holds when it is called. */
function source(initial: string) {
  const s = {
    value: initial,
    reads: 0,
    load: async () => {
      s.reads++;
      return s.value;
    },
  };
  return s;
}

test('SQLite: kept until this process changes it or another connection commits (data_version moves)', async () => {
  let version = 1;
  const f = new Freshness('sqlite', () => version);
  const memo = f.memo<string>('ledger_settings');
  const src = source('41.50');
  assert.equal(await memo.get('rate', src.load), '41.50');
  assert.equal(await memo.get('rate', src.load), '41.50');
  assert.equal(src.reads, 1);

  src.value = '42.00';
  f.changed('ledger_settings');
  assert.equal(await memo.get('rate', src.load), '42.00');
  assert.equal(src.reads, 2);

  src.value = '43.00';
  version = 2; // the CLI committed
  assert.equal(await memo.get('rate', src.load), '43.00');
  assert.equal(await memo.get('rate', src.load), '43.00');
  assert.equal(src.reads, 3);
});

test('a change of one topic leaves the other topic kept', async () => {
  const f = new Freshness('sqlite', () => 1);
  const rates = f.memo<string>('ledger_settings');
  const endpoints = f.memo<string>('webhook_endpoints');
  const r = source('41.50');
  const e = source('ep_1');
  await rates.get('k', r.load);
  await endpoints.get('k', e.load);
  f.changed('webhook_endpoints');
  await rates.get('k', r.load);
  await endpoints.get('k', e.load);
  assert.deepEqual([r.reads, e.reads], [1, 2]);
  // An unknown topic (another version's announcement) forgets everything.
  f.changed('something_new');
  await rates.get('k', r.load);
  assert.equal(r.reads, 2);
});

test('PostgreSQL: nothing is kept until announcements can be heard, nor while they cannot', async () => {
  const f = new Freshness('postgres');
  const memo = f.memo<string>('ledger_settings');
  const src = source('41.50');
  await memo.get('rate', src.load);
  await memo.get('rate', src.load);
  assert.equal(src.reads, 2);

  f.hearing(true);
  await memo.get('rate', src.load);
  await memo.get('rate', src.load);
  assert.equal(src.reads, 3);

  // Another process announced a change.
  src.value = '42.00';
  f.changed('ledger_settings');
  assert.equal(await memo.get('rate', src.load), '42.00');
  assert.equal(src.reads, 4);

  // The LISTEN connection dropped: a change now would go unheard, so every read goes to the database.
  f.hearing(false);
  src.value = '43.00';
  assert.equal(await memo.get('rate', src.load), '43.00');
  assert.equal(await memo.get('rate', src.load), '43.00');
  assert.equal(src.reads, 6);
  f.hearing(true);
  assert.equal(await memo.get('rate', src.load), '43.00');
  assert.equal(await memo.get('rate', src.load), '43.00');
  assert.equal(src.reads, 7);
});

test('a read under way while a change is heard is answered but not kept', async () => {
  const f = new Freshness('postgres');
  f.hearing(true);
  const memo = f.memo<string>('webhook_endpoints');
  let release!: () => void;
  const slow = async () => {
    await new Promise<void>((r) => {
      release = r;
    });
    return 'old';
  };
  const pending = memo.get('m1', slow);
  f.changed('webhook_endpoints'); // committed elsewhere while the read was on its way
  release();
  assert.equal(await pending, 'old');
  const src = source('new');
  assert.equal(await memo.get('m1', src.load), 'new');
  assert.equal(src.reads, 1);
});

test('undefined (nothing stored) is kept like any value', async () => {
  const f = new Freshness('sqlite', () => 1);
  const memo = f.memo<string | undefined>('ledger_settings');
  let reads = 0;
  const load = async () => {
    reads++;
    return undefined;
  };
  assert.equal(await memo.get('rate:7', load), undefined);
  assert.equal(await memo.get('rate:7', load), undefined);
  assert.equal(reads, 1);
});
