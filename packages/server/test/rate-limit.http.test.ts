import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../src/clock.ts';
import { buildApp } from '../src/http/app.ts';
import { type TestSystem, testSystem } from './support/system.ts';

describe('per-IP limits on anonymous traffic', () => {
  const clock = new ManualClock();
  let t: TestSystem;
  let app: FastifyInstance;
  let token: string;
  before(async () => {
    t = await testSystem('sqlite', { authFailuresPerMinute: 3, checkoutRequestsPerMinute: 5, trustProxy: ['127.0.0.1/32'] }, clock);
    app = await buildApp(t.system);
    token = (await t.system.merchants.create('Shop')).accessToken;
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  const keyRequest = (accessToken: string, ip: string) =>
    app.inject({
      method: 'POST',
      url: '/helpers/getLatestPublicRemoteRsaKey.php',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
      payload: `access_token=${accessToken}`,
    });

  test('an address guessing tokens is refused for the rest of the minute; its valid tokens and others are not', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await keyRequest(`guess${i}`, '198.51.100.9')).statusCode, 401);
    const blocked = await keyRequest('guess3', '198.51.100.9');
    assert.equal(blocked.statusCode, 429);
    assert.equal(blocked.json().code, 'RATE_LIMITED');
    assert.ok(Number(blocked.headers['retry-after']) > 0);
    assert.equal((await keyRequest(token, '198.51.100.9')).statusCode, 200, 'a valid token from that address is served');
    assert.equal((await keyRequest('guess4', '198.51.100.10')).statusCode, 401, 'another address is unaffected');
    // Valid tokens are never counted, however many.
    for (let i = 0; i < 10; i++) assert.equal((await keyRequest(token, '198.51.100.11')).statusCode, 200);
    clock.advance(61_000);
    assert.equal((await keyRequest('guess5', '198.51.100.9')).statusCode, 401, 'the block ends with the window');
  });

  test('the anonymous checkout API has a request budget per address', async () => {
    const uid = (await t.system.invoices.create((await t.system.merchants.authenticate(token))!.id, { title: 'x', price: '1' })).uid;
    const get = (ip: string) => app.inject({ method: 'GET', url: `/v1/checkout/${uid}`, headers: { 'x-forwarded-for': ip } });
    for (let i = 0; i < 5; i++) assert.equal((await get('203.0.113.50')).statusCode, 200);
    const over = await get('203.0.113.50');
    assert.equal(over.statusCode, 429);
    assert.equal(over.json().status, false);
    assert.equal((await get('203.0.113.51')).statusCode, 200);
    clock.advance(60_000);
    assert.equal((await get('203.0.113.50')).statusCode, 200);
  });
});
