import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { HOLDS_SQL } from '../src/services/ledger.ts';
import { namedStatements } from '../src/storage/db.ts';
import { dbKinds, describeOn, PG_URL, type TestSystem, testSystem } from './support/system.ts';

// PostgreSQL only: SQLite keeps its statements in better-sqlite3 and plans from its indexes.
if ((await dbKinds()).includes('postgres')) {
  describeOn('postgres', 'storage: prepared statements and plans on postgres', () => {
    let schema: string;
    let admin: pg.Client;
    let pool: pg.Pool;
    let db: Kysely<Record<string, { a: number; b: number | string }>>;

    before(async () => {
      schema = `stmt_${randomBytes(5).toString('hex')}`;
      admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      await admin.query(`create table ${schema}.t (a int primary key, b int not null)`);
      await admin.query(`insert into ${schema}.t values (1, 10), (2, 20)`);
      const url = new URL(PG_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      // One connection, so what one query prepared the next one sees.
      pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
      db = new Kysely({ dialect: new PostgresDialect({ pool: namedStatements(pool) }) });
    });
    after(async () => {
      await db.destroy();
      await admin.query(`drop schema ${schema} cascade`);
      await admin.end();
    });

    const prepared = async (): Promise<string[]> =>
      (await sql<{ statement: string }>`select statement from pg_prepared_statements order by statement`.execute(db)).rows.map(
        (r) => r.statement,
      );

    test('a statement with parameters is prepared once per connection and reused', async () => {
      for (const a of [1, 2, 1]) {
        const row = await db.selectFrom('t').select(['a', 'b']).where('a', '=', a).executeTakeFirst();
        assert.equal(row?.b, a * 10);
      }
      const named = (await prepared()).filter((s) => s.includes('from "t"'));
      assert.deepEqual(named, ['select "a", "b" from "t" where "a" = $1']);
    });

    test('select * and texts without parameters stay unnamed', async () => {
      await db.selectFrom('t').selectAll().where('a', '=', 1).execute();
      await db.insertInto('t').values({ a: 3, b: 30 }).returningAll().execute();
      await sql`select count(*) from t`.execute(db);
      const named = await prepared();
      assert.equal(
        named.some((s) => s.includes('*')),
        false,
        named.join('\n'),
      );
      await db.deleteFrom('t').where('a', '=', 3).execute();
    });

    test('a column changing type under a prepared statement fails that query once, then it runs unnamed', async () => {
      const read = () => db.selectFrom('t').select(['a', 'b']).where('a', '=', 2).executeTakeFirst();
      assert.equal((await read())?.b, 20);
      await admin.query(`alter table ${schema}.t alter column b type text`);
      await assert.rejects(read(), (err: { code?: string }) => err.code === '0A000');
      assert.equal((await read())?.b, '20');
      assert.equal((await read())?.b, '20');
    });
  });

  describeOn('postgres', 'storage: PG_PREPARED_STATEMENTS=0 for poolers that cannot carry them', () => {
    let t: TestSystem;
    before(async () => {
      t = await testSystem('postgres', { pgPreparedStatements: false });
    });
    after(() => t.cleanup());

    test('nothing is prepared by name', async () => {
      const db = t.system.storage.db;
      const { merchantId } = await t.system.merchants.create('Shop');
      const invoice = await t.system.invoices.create(merchantId, { title: 'Order', price: '10' });
      const named = await db.transaction().execute(async (trx) => {
        await trx.selectFrom('invoices').select(['id']).where('uid', '=', invoice.uid).execute();
        await trx.selectFrom('invoices').select(['id']).where('uid', '=', invoice.uid).execute();
        return (await sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements`.execute(trx)).rows[0]?.n;
      });
      assert.equal(named, 0);
    });
  });

  describeOn('postgres', 'storage: the ledger reads an invoice hold from its own entries', () => {
    let t: TestSystem;
    before(async () => {
      t = await testSystem('postgres');
    });
    after(() => t.cleanup());

    test('the hold query starts at the invoice, however many lines the held account has (no statistics yet)', async () => {
      const db = t.system.storage.db;
      const merchantId = (await t.system.merchants.create('Shop')).merchantId;
      const invoice = await t.system.invoices.create(merchantId, { title: 'Order', price: '100.00' });
      // A trader's held account with thousands of lines, as after a busy month; the tables
      // are young, so PostgreSQL has no statistics and guesses.
      await sql`insert into ledger_accounts (code, kind, owner_id, currency, balance, created_at)
        values ('trader_held:1', 'trader_held', '1', 'USDT', 0, 0), ('trader_deposit:1', 'trader_deposit', '1', 'USDT', 0, 0)`.execute(db);
      await sql`insert into ledger_entries (kind, currency, invoice_id, actor_type, at)
        select 'hold', 'USDT', case when g = 1 then cast(${Number(invoice.id)} as bigint) end, 'admin', 0 from generate_series(1, 3000) g`.execute(
        db,
      );
      await sql`insert into ledger_lines (entry_id, account_id, amount)
        select e.id, a.id, case when a.kind = 'trader_held' then 5 else -5 end from ledger_entries e cross join ledger_accounts a`.execute(
        db,
      );
      const compiled = sql`explain ${HOLDS_SQL('postgres', Number(invoice.id), 'USDT')}`.compile(db);
      const plan = (await db.executeQuery<{ 'QUERY PLAN': string }>(compiled)).rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.match(plan, /ledger_entries_by_invoice/, plan);
      assert.match(plan, /ledger_lines_by_entry/, plan);
      assert.doesNotMatch(plan, /ledger_lines_by_account|Seq Scan on ledger_lines/, plan);
      const holds = await db.executeQuery<{ owner_id: string; value: string }>(
        HOLDS_SQL('postgres', Number(invoice.id), 'USDT').compile(db),
      );
      assert.deepEqual(
        holds.rows.map((r) => [r.owner_id, r.value]),
        [['1', '5']],
      );
    });
  });
}
