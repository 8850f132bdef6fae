/**
 * Merchant REST API v1 throughput against a bare Fastify route doing the same database work,
 * in the same run, on the same database.
 *
 *   node --conditions=source --import tsx bench/api-v1.ts
 *
 * Env: DB (`sqlite`, `postgres` or `both`; sqlite), BENCH_SECONDS (per phase; 3, quick 2),
 * BENCH_ROUNDS (4, quick 2), BENCH_CONCURRENCY (16).
 *
 * Each client loop does `POST` create then `GET` of what it created:
 * (1) v1: `POST /v1/invoices` with the merchant's Bearer token and a fresh Idempotency-Key
 *     (token check, idempotency claim and record, schema validation, InvoiceService.create
 *     with its history row and hooks, the merchant view with history), then
 *     `GET /v1/invoices/:uid` (token check, invoice + history, the view).
 * (2) bare: a Fastify server in the same process with no hooks, no auth and no validation:
 *     the same INSERTs (invoice + history row, one transaction) and the same SELECT (invoice
 *     joined with its history), answered as plain JSON.
 * Phases alternate (bare, v1, bare, v1, …) so background load hits both; the load generator
 * runs in a worker thread with keep-alive node:http. The ratio is the median over rounds of
 * v1 ÷ bare requests per second (target ≥ 0.7). The last lines are `RESULT {json}`.
 */
import { Worker } from 'node:worker_threads';
import { convertAtRate, parseAmount } from '@nltrade/core';
import Fastify from 'fastify';
import { newUid } from '../packages/server/src/services/tokens.ts';
import { startServer } from '../packages/server/src/start.ts';
import { type DbKind, dbKinds, testSystem } from '../packages/server/test/support/system.ts';

const quick = process.env.BENCH_QUICK === '1';
const SECONDS = Number(process.env.BENCH_SECONDS ?? (quick ? 2 : 3));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 2 : 4));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TARGET = 0.7;
const which = process.env.DB ?? 'sqlite';

const LOAD = `
const http = require('node:http');
const { workerData, parentPort } = require('node:worker_threads');
const { base, token, seconds, concurrency, mode } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const url = new URL(base);
function send(method, path, body, headers) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers };
    if (data !== undefined) { h['content-type'] = 'application/json'; h['content-length'] = Buffer.byteLength(data); }
    const req = http.request({ host: url.hostname, port: url.port, method, path, agent, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}
let requests = 0, failed = 0, seq = 0;
const until = Date.now() + seconds * 1000;
async function loop(n) {
  while (Date.now() < until) {
    const body = { title: 'Order ' + n, amount: '1500.00' };
    const headers = mode === 'v1-nokey' ? { authorization: 'Bearer ' + token } : mode === 'v1' ? { authorization: 'Bearer ' + token, 'idempotency-key': 'bench-' + process.pid + '-' + n + '-' + (seq++) + '-' + Math.random() } : {};
    const created = await send('POST', mode !== 'bare' ? '/v1/invoices' : '/bare/invoices', body, headers);
    requests++;
    if (created.status !== 201) { failed++; continue; }
    const uid = JSON.parse(created.body).uid;
    const got = await send('GET', (mode !== 'bare' ? '/v1/invoices/' : '/bare/invoices/') + uid, undefined, mode !== 'bare' ? { authorization: 'Bearer ' + token } : {});
    requests++;
    if (got.status !== 200) failed++;
  }
}
const started = Date.now();
Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i))).then(() => {
  parentPort.postMessage({ requests, failed, ms: Date.now() - started });
  agent.destroy();
});
`;

function phase(mode: 'v1' | 'v1-nokey' | 'bare', base: string, token: string): Promise<{ rate: number; failed: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(LOAD, { eval: true, workerData: { base, token, seconds: SECONDS, concurrency: CONCURRENCY, mode } });
    w.once('message', (m: { requests: number; failed: number; ms: number }) =>
      resolve({ rate: (m.requests * 1000) / m.ms, failed: m.failed }),
    );
    w.once('error', reject);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function measure(kind: DbKind): Promise<boolean> {
  const ts = await testSystem(kind, { host: '127.0.0.1', logLevel: 'warn' });
  const { system } = ts;
  const server = await startServer(system.config, { system, sweeper: { start: false } });
  const { merchantId, accessToken } = await system.merchants.create('Bench shop');
  const db = system.storage.db;
  const rate = system.config.rate;

  const bare = Fastify();
  bare.post('/bare/invoices', async (request, reply) => {
    const body = request.body as { title: string; amount: string };
    const sendMinor = parseAmount(body.amount);
    const now = Date.now();
    const row = await db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('invoices')
        .values({
          uid: newUid(),
          merchant_id: Number(merchantId),
          trader_id: null,
          title: body.title,
          send_minor: sendMinor,
          recive_minor: convertAtRate(sendMinor, rate),
          rate,
          card: null,
          status: 'not approve exchange',
          version: 1,
          ip: null,
          payment_timeout: 960,
          created_at: now,
          updated_at: now,
          accepted_at: null,
          paid_at: null,
          deadline_at: now + 1_800_000,
          approve_photo: null,
          trader_change_price: null,
          resolution: null,
          return_url: null,
          metadata: null,
          sandbox: 0,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('invoice_history')
        .values({
          invoice_id: inserted.id,
          version: 1,
          at: now,
          status: inserted.status,
          from_status: null,
          note: 'created',
          action: 'create',
          actor_type: 'merchant',
          actor_id: merchantId,
          payload: JSON.stringify(inserted),
        })
        .execute();
      return inserted;
    });
    return reply.code(201).send(row);
  });
  bare.get('/bare/invoices/:uid', async (request) => {
    const { uid } = request.params as { uid: string };
    const rows = await db
      .selectFrom('invoices')
      .innerJoin('invoice_history as h', 'h.invoice_id', 'invoices.id')
      .selectAll('invoices')
      .select(['h.at as h_at', 'h.version as h_version', 'h.status as h_status', 'h.note as h_note', 'h.action as h_action'])
      .where('invoices.uid', '=', uid)
      .orderBy('h.version', 'asc')
      .execute();
    return { invoice: rows[0], history: rows.map((r) => ({ at: r.h_at, status: r.h_status, action: r.h_action })) };
  });
  const bareUrl = await bare.listen({ port: 0, host: '127.0.0.1' });

  try {
    // Warm both paths (JIT, prepared statements, connection pools).
    await phase('bare', bareUrl, '');
    await phase('v1', server.url, accessToken);
    const ratios: number[] = [];
    const v1Rates: number[] = [];
    const bareRates: number[] = [];
    const noKeyRates: number[] = [];
    let failed = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const b = await phase('bare', bareUrl, '');
      const v = await phase('v1', server.url, accessToken);
      // Informative: what the Idempotency-Key costs (its claim and record are two writes).
      const n = await phase('v1-nokey', server.url, accessToken);
      failed += b.failed + v.failed + n.failed;
      noKeyRates.push(n.rate);
      bareRates.push(b.rate);
      v1Rates.push(v.rate);
      ratios.push(v.rate / b.rate);
      console.log(
        `[${kind}] round ${r + 1}: bare ${b.rate.toFixed(0)} req/s, v1 ${v.rate.toFixed(0)} req/s (ratio ${(v.rate / b.rate).toFixed(2)}), v1 without Idempotency-Key ${n.rate.toFixed(0)} req/s`,
      );
    }
    const ratio = median(ratios);
    const met = ratio >= TARGET && failed === 0;
    console.log(
      `[${kind}] v1 create+get ${median(v1Rates).toFixed(0)} req/s vs bare ${median(bareRates).toFixed(0)} req/s: ratio ${ratio.toFixed(2)} (median of ${ROUNDS} rounds; target ≥ ${TARGET}: ${met ? 'met' : 'NOT met'})${failed ? `, ${failed} failed` : ''}; without Idempotency-Key ${median(noKeyRates).toFixed(0)} req/s`,
    );
    console.log(
      `RESULT ${JSON.stringify({
        name: 'api-v1',
        metric: `v1 create+get req/s ÷ bare Fastify (${kind})`,
        value: Math.round(median(v1Rates)),
        baseline: Math.round(median(bareRates)),
        ratio: Number(ratio.toFixed(2)),
        target: `>= ${TARGET}`,
        met,
      })}`,
    );
    return met;
  } finally {
    await bare.close();
    await server.close();
    await ts.cleanup();
  }
}

const kinds = (await dbKinds()).filter((k) => which === 'both' || k === which);
let allMet = true;
for (const kind of kinds) allMet = (await measure(kind)) && allMet;
if (!allMet) process.exitCode = 1;
