import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { buildApp } from '../src/http/app.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

for (const kind of await dbKinds()) {
  describeOn(kind, `health, readiness and request ids (${kind})`, () => {
    let t: TestSystem;
    let app: FastifyInstance;
    let draining = false;
    before(async () => {
      t = await testSystem(kind);
      app = await buildApp(t.system, { draining: () => draining });
    });
    after(async () => {
      await app.close();
      await t.cleanup();
    });

    test('/healthz says the process is up; /health stays as an alias', async () => {
      const res = await app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { status: true });
      const old = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(old.statusCode, 200);
      assert.equal(old.json().status, true);
    });

    test('/readyz is 200 with the database reachable and every migration applied, 503 with one missing', async () => {
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200, ready.body);
      assert.deepEqual(ready.json(), { status: true });

      // As if this build had a migration the database has not run.
      const db = t.system.storage.db;
      const { rows } = await sql<{ name: string }>`select name from nltrade_migrations order by name desc`.execute(db);
      const last = rows[0]?.name;
      assert.ok(last);
      await sql`delete from nltrade_migrations where name = ${last}`.execute(db);
      try {
        const notReady = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(notReady.statusCode, 503);
        assert.equal(notReady.json().status, false);
        assert.equal(notReady.json().code, 'UNAVAILABLE');
        assert.match(notReady.json().message, new RegExp(`migrations not applied: ${last}`));
      } finally {
        await sql`insert into nltrade_migrations (name, timestamp) values (${last}, ${new Date().toISOString()})`.execute(db);
      }
      assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      // Liveness does not depend on the database.
      assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    });

    test('/readyz is 503 once shutdown has begun, so a load balancer drains us first', async () => {
      draining = true;
      try {
        const res = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(res.statusCode, 503);
        assert.match(res.json().message, /Shutting down/);
        assert.equal(res.headers.connection, 'close', 'answers close their connection while draining');
        assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still alive');
      } finally {
        draining = false;
      }
    });

    test('every answer carries a Request-Id; a safe incoming X-Request-Id is kept, anything else replaced', async () => {
      const kept = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'lb-7f3a:42' } });
      assert.equal(kept.headers['request-id'], 'lb-7f3a:42');
      for (const bad of ['has spaces', 'x'.repeat(65), '{"json":1}', 'line\\nbreak']) {
        const res = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': bad } });
        const id = String(res.headers['request-id']);
        assert.notEqual(id, bad);
        assert.match(id, /^[0-9a-f-]{36}$/);
      }
      const fresh = await app.inject({ method: 'GET', url: '/nope' });
      assert.equal(fresh.statusCode, 404);
      assert.match(String(fresh.headers['request-id']), /^[0-9a-f-]{36}$/);
      // Errors raised before routing too.
      const garbled = await app.inject({ method: 'GET', url: '/v1/checkout/%00%ff', headers: { 'x-request-id': 'abc' } });
      assert.equal(garbled.statusCode, 400);
      assert.equal(garbled.headers['request-id'], 'abc');
    });
  });
}
