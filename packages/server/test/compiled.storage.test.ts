// Storage tier: it needs better-sqlite3, a native addon built for the Node that installed it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { CompiledQueries, param, paramsOf } from '../src/storage/compiled.ts';
import type { Database } from '../src/storage/schema.ts';

test('a query is built once per key and runs with each call’s values; a missing value is an error, not a NULL', async () => {
  const sqlite = new SQLite(':memory:');
  sqlite.exec(
    'create table runtime_settings (id integer primary key, key text not null, value text not null, actor_type text, actor_id text, at integer not null)',
  );
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const queries = new CompiledQueries();
  let builds = 0;
  const insert = (row: { key: string; value: string; actor_type: string; actor_id: string | null; at: number }) =>
    queries.run(
      db,
      'insert',
      () => {
        builds++;
        return db.insertInto('runtime_settings').values(paramsOf(row)).compile();
      },
      row,
    );
  await insert({ key: 'a', value: '1', actor_type: 'admin', actor_id: null, at: 1 });
  await insert({ key: 'b', value: '2', actor_type: 'admin', actor_id: '7', at: 2 });
  assert.equal(builds, 1);
  const read = (key: string) =>
    queries.run<{ value: string; actor_id: string | null }>(
      db,
      'read',
      () => db.selectFrom('runtime_settings').select(['value', 'actor_id']).where('key', '=', param<string>('key')).compile(),
      { key },
    );
  assert.deepEqual((await read('a')).rows, [{ value: '1', actor_id: null }]);
  assert.deepEqual((await read('b')).rows, [{ value: '2', actor_id: '7' }]);
  await assert.rejects(
    queries.run(db, 'read', () => assert.fail('compiled already'), {}),
    /No value for the query parameter key of read/,
  );
  await db.destroy();
});
