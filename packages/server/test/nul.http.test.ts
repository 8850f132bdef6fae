import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

// PostgreSQL refuses a NUL byte in text ("invalid byte sequence for encoding UTF8: 0x00")
// where SQLite stores it. Every route of the OpenAPI document gets a NUL in each place a
// client controls — path parameters, query parameters, JSON string fields — with a valid
// token of each role: the answer is always a catalog error or a success, never a 500.

interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}
interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
}

const NUL = 'a\u0000b';

/** A body with a NUL in every string field, so that whichever field is checked last still has one. */
function bodyOf(schema: Schema | undefined): Record<string, unknown> | null {
  if (!schema?.properties) return null;
  const body: Record<string, unknown> = {};
  let strings = 0;
  for (const [name, prop] of Object.entries(schema.properties)) {
    const types = Array.isArray(prop.type) ? prop.type : [prop.type];
    if (types.includes('string')) {
      body[name] = NUL;
      strings++;
    } else if (types.includes('object')) body[name] = { key: NUL };
    else if (types.includes('array')) body[name] = [NUL];
    else if (types.includes('integer') || types.includes('number')) body[name] = 1;
    else if (types.includes('boolean')) body[name] = true;
  }
  return strings > 0 ? body : null;
}

for (const kind of await dbKinds()) {
  describeOn(kind, `a NUL byte anywhere gets a clear answer (${kind})`, () => {
    let l: Live;
    let tokens: Record<string, string>;
    before(async () => {
      l = await live(kind);
      tokens = {
        merchant: l.merchantToken,
        trader: (await l.account('trader', 'nul trader')).token,
        admin: (await l.account('admin', 'nul admin')).token,
      };
    });
    after(() => l.close());

    test('every route, every role, every place', async () => {
      const doc = (await (await fetch(`${l.url}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, Operation>> };
      const failures: string[] = [];
      let probes = 0;
      for (const [template, operations] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(operations)) {
          const params = op.parameters ?? [];
          const pathParams = params.filter((p) => p.in === 'path').map((p) => p.name);
          const queryParams = params.filter((p) => p.in === 'query').map((p) => p.name);
          const body = bodyOf(op.requestBody?.content?.['application/json']?.schema);
          const variants: { url: string; body?: Record<string, unknown> }[] = [];
          const plain = template.replace(/\{(\w+)\}/g, '1');
          for (const name of pathParams) {
            variants.push({ url: template.replace(/\{(\w+)\}/g, (_, p: string) => (p === name ? encodeURIComponent(NUL) : '1')) });
          }
          if (queryParams.length > 0) {
            variants.push({ url: `${plain}?${queryParams.map((q) => `${q}=${encodeURIComponent(NUL)}`).join('&')}` });
          }
          if (body) variants.push({ url: plain, body });
          for (const v of variants) {
            for (const [role, token] of Object.entries(tokens)) {
              probes++;
              const headers: Record<string, string> = { authorization: `Bearer ${token}` };
              if (v.body) headers['content-type'] = 'application/json';
              const res = await fetch(l.url + v.url, {
                method: method.toUpperCase(),
                headers,
                ...(v.body && { body: JSON.stringify(v.body) }),
              });
              const text = await res.text();
              const where = `${method.toUpperCase()} ${v.url}${v.body ? ` ${JSON.stringify(v.body)}` : ''} as ${role}`;
              if (res.status >= 500) failures.push(`${where} → ${res.status} ${text.slice(0, 200)}`);
              else if (res.status >= 400) {
                const parsed = JSON.parse(text) as { code?: unknown };
                if (typeof parsed.code !== 'string') failures.push(`${where} → ${res.status} without a catalog code`);
              }
            }
          }
        }
      }
      assert.ok(probes > 100, `only ${probes} probes: the OpenAPI walk found too little`);
      assert.deepEqual(failures, []);
    });
  });
}
