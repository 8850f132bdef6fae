/**
 * Legacy API throughput vs the raw RSA private-operation rate, measured in one run.
 *
 *   node --import tsx bench/legacy-api.ts [--bits 4096] [--threads N] [--rounds 3] [--seconds 4] [--concurrency C]
 *
 * Env fallbacks: RSA_KEY_BITS, RSA_THREADS (0 = one per CPU, as the server), BENCH_ROUNDS,
 * BENCH_SECONDS (per phase), BENCH_CONCURRENCY. The server uses the embedded database in a
 * temporary directory. Raw and API phases alternate for `rounds` rounds (about 30 s in all
 * at the defaults); the rates are totals over all rounds.
 *
 * (1) raw: `privateDecrypt` with RSA_NO_PADDING in a tight loop on as many worker threads as
 *     the server's pool has, same key size — the ceiling for any RSA-bound server.
 * (2) api: `get` requests through the full envelope (token check, key lookup, decryption in
 *     the pool with implicit-rejection unpadding, invoice + history read, JSON answer) from a
 *     keep-alive load generator in its own thread, with pre-encrypted bodies.
 */
import { constants, publicEncrypt, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../packages/server/src/config.ts';
import { startServer } from '../packages/server/src/start.ts';
import { createSystem } from '../packages/server/src/system.ts';
import { encryptRequest, ReferenceClient } from '../packages/server/test/support/reference-client.ts';

const { values: flags } = parseArgs({
  options: {
    bits: { type: 'string' },
    threads: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    concurrency: { type: 'string' },
  },
});

function intOption(flag: string | undefined, env: string | undefined, fallback: number): number {
  const raw = flag ?? env;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${raw}`);
  return n;
}

const bits = intOption(flags.bits, process.env.RSA_KEY_BITS, 4096);
const requestedThreads = intOption(flags.threads, process.env.RSA_THREADS, 0);
const threads = requestedThreads > 0 ? requestedThreads : Math.max(1, os.availableParallelism());
const rounds = Math.max(1, intOption(flags.rounds, process.env.BENCH_ROUNDS, 3));
const phaseSeconds = Math.max(1, intOption(flags.seconds, process.env.BENCH_SECONDS, 4));
const concurrency = intOption(flags.concurrency, process.env.BENCH_CONCURRENCY, threads * 4);
const WARMUP_MS = 500;
const SERVER_WARMUP_MS = 3000;

/** Counts raw RSA private operations for `ms` after a warm-up, in one thread. */
const RAW_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const key = crypto.createPrivateKey(workerData.pem);
const ct = Buffer.from(workerData.ciphertext);
const opts = { key, padding: crypto.constants.RSA_NO_PADDING };
const warmEnd = Date.now() + workerData.warmupMs;
while (Date.now() < warmEnd) crypto.privateDecrypt(opts, ct);
let ops = 0;
const start = process.hrtime.bigint();
const end = start + BigInt(workerData.ms) * 1000000n;
let now = start;
while (now < end) { crypto.privateDecrypt(opts, ct); ops++; now = process.hrtime.bigint(); }
parentPort.postMessage({ ops, seconds: Number(now - start) / 1e9 });
`;

/** Keeps `concurrency` keep-alive requests in flight; counts answers after the warm-up. */
const LOAD_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const http = require('node:http');
const { url, bodies, concurrency, warmupMs, ms } = workerData;
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
let counting = false, stop = false, ok = 0, failed = 0, statuses = {}, i = 0;
const latencies = [];
function one() {
  return new Promise((resolve) => {
    const body = bodies[i++ % bodies.length];
    const t0 = performance.now();
    const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (counting) {
          if (res.statusCode === 200) { ok++; latencies.push(performance.now() - t0); }
          else { failed++; statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1; }
        }
        resolve();
      });
    });
    req.on('error', () => { if (counting) failed++; resolve(); });
    req.end(body);
  });
}
async function loop() { while (!stop) await one(); }
const loops = Array.from({ length: concurrency }, loop);
let started;
setTimeout(() => { counting = true; started = performance.now(); }, warmupMs);
setTimeout(async () => {
  const seconds = (performance.now() - started) / 1000;
  counting = false; stop = true;
  await Promise.all(loops);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const p = (q) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : NaN;
  parentPort.postMessage({ ok, failed, statuses, seconds, p50: p(0.5), p99: p(0.99) });
}, warmupMs + ms);
`;

function runWorker<T>(code: string, workerData: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData });
    worker.once('message', (m: T) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

/** Total operations over the phase, summed across threads, and the phase length. */
async function rawRate(pem: string, publicPem: string): Promise<{ ops: number; seconds: number }> {
  const ciphertext = publicEncrypt({ key: publicPem, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('{"type":"get"}'));
  const results = await Promise.all(
    Array.from({ length: threads }, () =>
      runWorker<{ ops: number; seconds: number }>(RAW_WORKER, { pem, ciphertext, warmupMs: WARMUP_MS, ms: phaseSeconds * 1000 }),
    ),
  );
  const seconds = Math.max(...results.map((r) => r.seconds));
  return { ops: results.reduce((sum, r) => sum + (r.ops / r.seconds) * seconds, 0), seconds };
}

interface LoadResult {
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  seconds: number;
  p50: number;
  p99: number;
}

async function main(): Promise<void> {
  console.log(
    `# legacy-api bench: ${bits}-bit keys, ${threads} RSA thread(s), ${rounds} rounds of ${phaseSeconds} s + ${phaseSeconds} s, concurrency ${concurrency}`,
  );
  console.log(`# node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}`);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-bench-'));
  const config = loadConfig(
    {},
    { dataDir, rsaKeyBits: bits, rsaThreads: threads, port: 0, masterKey: randomBytes(32).toString('hex'), logLevel: 'warn' },
  );
  const system = await createSystem(config);
  const server = await startServer(config, { system, sweeper: { start: false } });
  try {
    const { accessToken } = await system.merchants.create('bench');
    const client = new ReferenceClient(server.url, accessToken);
    const uid = await client.create('Bench invoice', '150.00');
    const pem = await client.fetchPublicKey();
    const bodies = Array.from({ length: 256 }, () =>
      JSON.stringify({ data: encryptRequest(pem, { type: 'get', uid_link: uid }), access_token: accessToken }),
    );
    const check = await client.call({ type: 'get', uid_link: uid });
    if (check.http !== 200 || check.json.response.data.invoice[0].uid_link !== uid) throw new Error('get does not work');
    // The raw phase uses the merchant's own key: same size, same parsing, same CPU caches.
    const key = (await system.merchants.authenticateWithKeys(accessToken))?.keys[0];
    const privatePem = await system.merchants.privateKeyPem(key!.id);

    // Phases alternate so that a change in background load on the machine hits both sides.
    let rawOps = 0;
    let rawSeconds = 0;
    let apiOk = 0;
    let apiSeconds = 0;
    let failed = 0;
    const statuses: Record<string, number> = {};
    const latencies: { p50: number; p99: number }[] = [];
    let eluSum = 0;
    // One untimed API phase first: the server's first seconds under load are JIT and cache
    // warm-up (Fastify, Kysely, the worker pool's key load), not its steady throughput.
    // The raw phases warm up inside each worker the same way (WARMUP_MS).
    await runWorker<LoadResult>(LOAD_WORKER, {
      url: `${server.url}/method/RemoteInvoiceApi`,
      bodies,
      concurrency,
      warmupMs: 0,
      ms: SERVER_WARMUP_MS,
    });
    for (let round = 1; round <= rounds; round++) {
      const raw = await rawRate(privatePem, pem);
      rawOps += raw.ops;
      rawSeconds += raw.seconds;
      const elu0 = performance.eventLoopUtilization();
      const load = await runWorker<LoadResult>(LOAD_WORKER, {
        url: `${server.url}/method/RemoteInvoiceApi`,
        bodies,
        concurrency,
        warmupMs: WARMUP_MS,
        ms: phaseSeconds * 1000,
      });
      eluSum += performance.eventLoopUtilization(elu0).utilization;
      apiOk += load.ok;
      apiSeconds += load.seconds;
      failed += load.failed;
      for (const [code, n] of Object.entries(load.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
      latencies.push({ p50: load.p50, p99: load.p99 });
      console.log(
        `round ${round}: raw ${(raw.ops / raw.seconds).toFixed(1)} ops/s, api ${(load.ok / load.seconds).toFixed(1)} req/s ` +
          `(p50 ${load.p50.toFixed(1)} ms, p99 ${load.p99.toFixed(1)} ms)`,
      );
    }
    const rawRateTotal = rawOps / rawSeconds;
    const apiRate = apiOk / apiSeconds;
    const ratio = apiRate / rawRateTotal;
    console.log(`raw RSA private ops/s     ${rawRateTotal.toFixed(1)}  (${threads} thread(s), RSA_NO_PADDING, ${bits}-bit)`);
    console.log(
      `api get requests/s        ${apiRate.toFixed(1)}  (server event loop ${((eluSum / rounds) * 100).toFixed(0)}% busy` +
        `${failed ? `, ${failed} failed ${JSON.stringify(statuses)}` : ''})`,
    );
    console.log(`ratio api/raw             ${ratio.toFixed(2)}  (target >= 0.80: ${ratio >= 0.8 ? 'met' : 'NOT met'})`);
    if (failed > 0) process.exitCode = 1;
  } finally {
    await server.close();
    await system.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
