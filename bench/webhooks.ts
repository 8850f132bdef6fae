// Webhook end-to-end latency benchmark.
//   node --conditions=source --import tsx bench/webhooks.ts     (RATE=100 events/s, SECONDS=10; DB=sqlite|postgres|both)
// A server runs here with one webhook endpoint on a receiver on loopback (WEBHOOK_ALLOW_PRIVATE=1).
// Invoices are created at RATE per second; each commit is one `invoice.created` event. We
// measure from the commit (the create call returning) to the moment the receiver answers 2xx
// to its signed delivery. Baseline, in the same run and at the same pace: a bare keep-alive
// HTTP POST of the same body to the same receiver, from the send to the receiver's 2xx.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { type DbKind, testSystem } from '../packages/server/test/support/system.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const RATE = Number(process.env.RATE ?? 100);
const SECONDS = Number(process.env.SECONDS ?? (QUICK ? 5 : 10));
const TARGET_P99_MS = 100;
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Receives POSTs; `onBody` is told each body the moment its 2xx is sent. */
async function receiver(onBody: (body: string, at: number) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-length': '2' }).end('ok');
      onBody(Buffer.concat(chunks).toString('utf8'), now());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs `fire(i)` RATE times a second for SECONDS, on a fixed schedule (no drift from slow calls). */
async function paced(fire: (i: number) => Promise<void>): Promise<number> {
  const total = RATE * SECONDS;
  const start = now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(fire(i));
  }
  await Promise.all(pending);
  return total;
}

async function waitUntil(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

async function measure(kind: DbKind): Promise<boolean> {
  const ts = await testSystem(kind, { webhookAllowPrivate: true, host: '127.0.0.1' });
  const { system } = ts;
  const { startServer } = await import('../packages/server/src/start.ts');
  const server = await startServer(system.config, { system, sweeper: { start: false } });
  const { merchantId } = await system.merchants.create('Bench shop');

  // Webhooks: commit time per invoice UID, then arrival at the receiver.
  const committed = new Map<string, number>();
  const hookLatency: number[] = [];
  const hooks = await receiver((body, at) => {
    const uid = (JSON.parse(body) as { data: { invoice: { uid: string } } }).data.invoice.uid;
    const t = committed.get(uid);
    if (t !== undefined) hookLatency.push(at - t);
  });
  await system.webhooks.create(merchantId, { url: hooks.url });
  // Warm-up: the first delivery opens the connection.
  await system.invoices.create(merchantId, { title: 'Warm-up', price: '100' });
  await new Promise((r) => setTimeout(r, 500));

  const events = await paced(async (i) => {
    const invoice = await system.invoices.create(merchantId, { title: `Order ${i}`, price: '100' });
    committed.set(invoice.uid, now());
  });
  await waitUntil(() => hookLatency.length >= events, 30_000);

  // Baseline: the same body, POSTed bare to a receiver of the same kind, same pace.
  const sample = (await system.webhooks.eventRow(
    Number((await system.storage.db.selectFrom('invoice_history').select('id').executeTakeFirstOrThrow()).id),
  ))!;
  const { webhookEventOf } = await import('../packages/server/src/services/webhooks.ts');
  const body = JSON.stringify(webhookEventOf(sample));
  const sent = new Map<number, number>();
  const bareLatency: number[] = [];
  const bare = await receiver((b, at) => {
    const t = sent.get(Number(JSON.parse(b).n));
    if (t !== undefined) bareLatency.push(at - t);
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const target = new URL(bare.url);
  await paced(
    (i) =>
      new Promise<void>((resolve, reject) => {
        const data = `{"n":${i},${body.slice(1)}`;
        sent.set(i, now());
        const req = http.request(
          {
            host: target.hostname,
            port: target.port,
            path: target.pathname,
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve());
          },
        );
        req.on('error', reject);
        req.end(data);
      }),
  );
  await waitUntil(() => bareLatency.length >= events, 10_000);
  agent.destroy();

  hookLatency.sort((a, b) => a - b);
  bareLatency.sort((a, b) => a - b);
  const p50 = percentile(hookLatency, 50);
  const p99 = percentile(hookLatency, 99);
  const b50 = percentile(bareLatency, 50);
  const b99 = percentile(bareLatency, 99);
  const met = p99 <= TARGET_P99_MS && hookLatency.length === events;
  console.log(`${kind}: ${events} events at ${RATE}/s over ${SECONDS} s`);
  console.log(
    `  webhooks (commit → receiver 2xx)  delivered ${hookLatency.length}/${events}  p50 ${p50.toFixed(1)} ms  p99 ${p99.toFixed(1)} ms  max ${(hookLatency.at(-1) ?? Number.NaN).toFixed(1)} ms`,
  );
  console.log(
    `  baseline (bare POST → 2xx)         delivered ${bareLatency.length}/${events}  p50 ${b50.toFixed(1)} ms  p99 ${b99.toFixed(1)} ms  max ${(bareLatency.at(-1) ?? Number.NaN).toFixed(1)} ms`,
  );
  for (const [metric, value, baseline] of [
    [`${kind}: webhook commit → receiver 2xx p50 at ${RATE}/s, ms`, p50, b50],
    [`${kind}: webhook commit → receiver 2xx p99 at ${RATE}/s, ms`, p99, b99],
  ] as const) {
    const isP99 = metric.includes('p99');
    console.log(
      `RESULT ${JSON.stringify({
        name: 'webhooks',
        metric,
        value: Number(value.toFixed(1)),
        baseline: Number(baseline.toFixed(2)),
        ratio: Number((value / Math.max(baseline, 0.01)).toFixed(1)),
        target: isP99 ? `value <= ${TARGET_P99_MS} ms` : null,
        met: isP99 ? met : null,
      })}`,
    );
  }

  await hooks.close();
  await bare.close();
  await server.close();
  await ts.cleanup();
  return hookLatency.length === events;
}

async function main(): Promise<void> {
  const which = process.env.DB ?? (QUICK ? 'sqlite' : 'both');
  console.log(`webhook delivery latency, commit → receiver's 2xx (node ${process.version}, ${os.cpus().length} CPUs)`);
  let ok = true;
  if (which !== 'postgres') ok = (await measure('sqlite')) && ok;
  if (which !== 'sqlite') ok = (await measure('postgres')) && ok;
  // Every event must arrive for the figures to mean anything.
  process.exit(ok ? 0 : 1);
}

await main();
