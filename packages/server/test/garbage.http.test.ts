import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/http/app.ts';
import { type TestSystem, testSystem } from './support/system.ts';

// What an attacker sends first: every answer is the catalog's JSON error, never a framework
// default, a stack trace or a 500.
let t: TestSystem;
let app: FastifyInstance;
before(async () => {
  t = await testSystem('sqlite');
  app = await buildApp(t.system);
});
after(async () => {
  await app.close();
  await t.cleanup();
});

describe('garbage in, clear errors out', () => {
  const cases: { name: string; method: 'GET' | 'POST'; url: string; headers?: Record<string, string>; payload?: string; status: number }[] =
    [
      { name: 'malformed percent-encoding in the URL', method: 'GET', url: '/v1/checkout/%00%ff', status: 400 },
      { name: 'unknown route', method: 'GET', url: '/wp-login.php', status: 404 },
      {
        name: 'JSON with __proto__',
        method: 'POST',
        url: '/method/RemoteInvoiceApi',
        headers: { 'content-type': 'application/json' },
        payload: '{"__proto__":{"a":1}}',
        status: 400,
      },
      {
        name: 'truncated JSON',
        method: 'POST',
        url: '/method/RemoteInvoiceApi',
        headers: { 'content-type': 'application/json' },
        payload: '{"data":',
        status: 400,
      },
      {
        name: 'JSON array body',
        method: 'POST',
        url: '/method/RemoteInvoiceApi',
        headers: { 'content-type': 'application/json' },
        payload: '[1,2,3]',
        status: 401,
      },
      {
        name: 'unsupported content type',
        method: 'POST',
        url: '/method/RemoteInvoiceApi',
        headers: { 'content-type': 'application/xml' },
        payload: '<a/>',
        status: 415,
      },
      {
        name: 'body over the limit',
        method: 'POST',
        url: '/method/RemoteInvoiceApi',
        headers: { 'content-type': 'application/json' },
        payload: `{"data":"${'A'.repeat(70_000)}"}`,
        status: 413,
      },
      { name: 'trader route without a token', method: 'GET', url: '/v1/trader/invoices', status: 401 },
      {
        name: 'trader route with a bogus scheme',
        method: 'GET',
        url: '/v1/trader/invoices',
        headers: { authorization: 'Basic Zm9vOmJhcg==' },
        status: 401,
      },
      { name: 'checkout of a malformed uid', method: 'GET', url: '/v1/checkout/..%2f..%2fetc', status: 404 },
      { name: 'asset path traversal', method: 'GET', url: '/assets/..%2f..%2fpackage.json', status: 404 },
    ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = await app.inject({ method: c.method, url: c.url, headers: c.headers ?? {}, payload: c.payload ?? '' });
      assert.equal(r.statusCode, c.status, r.body);
      const body = r.json() as { status: unknown; code: unknown; message: unknown };
      assert.equal(body.status, false);
      assert.equal(typeof body.code, 'string');
      assert.equal(typeof body.message, 'string');
      assert.doesNotMatch(r.body, /at .*\.ts:\d+|node_modules|Error:/);
    });
  }
});

describe('browser integrations on merchants’ own sites (CORS)', () => {
  test('the legacy endpoints answer preflights and every answer, errors included, may be read cross-origin', async () => {
    for (const url of ['/method/RemoteInvoiceApi', '/helpers/getLatestPublicRemoteRsaKey.php']) {
      const pre = await app.inject({
        method: 'OPTIONS',
        url,
        headers: {
          origin: 'https://shop.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
      assert.equal(pre.statusCode, 204);
      assert.equal(pre.headers['access-control-allow-origin'], '*');
      assert.match(String(pre.headers['access-control-allow-headers']), /content-type/);
    }
    const denied = await app.inject({
      method: 'POST',
      url: '/method/RemoteInvoiceApi',
      headers: { origin: 'https://shop.example' },
      payload: { access_token: 'x', data: 'AAAA' },
    });
    assert.equal(denied.statusCode, 401);
    assert.equal(denied.headers['access-control-allow-origin'], '*');
    const broken = await app.inject({
      method: 'POST',
      url: '/method/RemoteInvoiceApi',
      headers: { 'content-type': 'application/json' },
      payload: '{',
    });
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.headers['access-control-allow-origin'], '*');
  });

  test('the v1 API stays same-origin', async () => {
    const r = await app.inject({ method: 'GET', url: '/v1/trader/invoices', headers: { origin: 'https://evil.example' } });
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });
});

describe('the root URL', () => {
  test('says what the server is, as HTML with a locked-down policy', async () => {
    const r = await app.inject({ method: 'GET', url: '/' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
    assert.match(r.body, /NL-Trade gateway/);
    assert.match(r.body, /\/pay\//);
  });
});
