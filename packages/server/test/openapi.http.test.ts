import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compileErrors, validate } from '@readme/openapi-parser';
import { DOCS_CSP, generateOpenApiDocument, isDocumented } from '../src/http/openapi.ts';
import { type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const COMMITTED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/openapi.json');
const REGENERATE = 'npm run openapi';

// Generated once for the file: it builds the whole app.
const generated = await generateOpenApiDocument();

interface Operation {
  operationId?: string;
  parameters?: { in: string; name: string; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, { description?: string }> } }> };
  responses: Record<string, unknown>;
}
const paths = generated.paths as Record<string, Record<string, Operation>>;

test(`docs/openapi.json is what the code generates (regenerate with \`${REGENERATE}\`)`, () => {
  assert.ok(fs.existsSync(COMMITTED), `docs/openapi.json is missing: run \`${REGENERATE}\` and commit it`);
  const committed: unknown = JSON.parse(fs.readFileSync(COMMITTED, 'utf8'));
  assert.deepStrictEqual(committed, generated, `docs/openapi.json is out of date: run \`${REGENERATE}\` and commit it`);
});

test('the generated document is valid OpenAPI 3.1', async () => {
  assert.equal(generated.openapi, '3.1.0');
  // validate() dereferences in place: give it a copy.
  const result = await validate(structuredClone(generated) as Parameters<typeof validate>[0]);
  assert.ok(result.valid, result.valid ? '' : compileErrors(result));
});

test('it documents the merchant invoice API from the route schemas, and only public routes', () => {
  assert.deepEqual(Object.keys(paths['/v1/invoices'] ?? {}).sort(), ['get', 'post']);
  assert.deepEqual(Object.keys(paths['/v1/invoices/{uid}'] ?? {}), ['get']);
  assert.deepEqual(Object.keys(paths['/v1/invoices/{uid}/cancel'] ?? {}), ['post']);
  const create = paths['/v1/invoices']?.post;
  assert.equal(create?.operationId, 'createInvoice');
  assert.ok(create?.responses['201'] && create.responses['422'] && create.responses['409']);
  assert.ok(create?.parameters?.some((p) => p.in === 'header' && p.name === 'idempotency-key'));
  const body = create?.requestBody?.content['application/json']?.schema.properties ?? {};
  assert.deepEqual(Object.keys(body).sort(), ['amount', 'metadata', 'payment_timeout', 'return_url', 'title']);
  assert.match(body.amount?.description ?? '', /decimal string/);
  const list = paths['/v1/invoices']?.get;
  assert.deepEqual(
    list?.parameters
      ?.filter((p) => p.in === 'query')
      .map((p) => p.name)
      .sort(),
    ['created_gte', 'created_lt', 'limit', 'starting_after', 'status'],
  );
  for (const p of Object.keys(paths)) assert.ok(isDocumented(p.replace(/\{(\w+)\}/g, ':$1')), `${p} should not be documented`);
  for (const internal of ['/v1/checkout/{uid}', '/v1/photos/{id}', '/healthz', '/v1/openapi.json', '/docs', '/method/RemoteInvoiceApi'])
    assert.equal(paths[internal], undefined, internal);
});

for (const kind of await dbKinds()) {
  describeOn(kind, `OpenAPI document and reference page (${kind})`, () => {
    let l: Live;
    before(async () => {
      l = await live(kind);
    });
    after(() => l.close());

    test('GET /v1/openapi.json serves the generated document', async () => {
      const res = await fetch(`${l.url}/v1/openapi.json`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.match(res.headers.get('request-id') ?? '', /\S/);
      assert.deepStrictEqual(await res.json(), generated);
    });

    test('/docs is a Redoc page served from this server, with a CSP that lets it render', async () => {
      const res = await fetch(`${l.url}/docs`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(res.headers.get('content-security-policy'), DOCS_CSP);
      const html = await res.text();
      assert.match(html, /<redoc spec-url="\/v1\/openapi\.json"/);
      const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1] ?? '');
      assert.deepEqual(scripts, ['/docs/redoc.standalone.js']);
      assert.doesNotMatch(html, /https?:\/\//, 'no third-party URLs');
      const js = await fetch(`${l.url}/docs/redoc.standalone.js`);
      assert.equal(js.status, 200);
      assert.match(js.headers.get('content-type') ?? '', /javascript/);
      const source = await js.text();
      assert.ok(source.length > 500_000 && source.includes('Redoc'));
    });
  });
}
