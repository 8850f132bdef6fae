/**
 * Legacy API throughput vs the raw RSA private-operation rate, measured in one run, and the
 * server's main-thread CPU per request.
 *
 *   node --conditions=source --import tsx bench/legacy-api.ts [--bits 4096] [--threads N] [--rounds 6]
 *        [--seconds 3] [--concurrency C] [--client raw|node]
 *
 * Env fallbacks: RSA_KEY_BITS, RSA_THREADS (0 = one per CPU, as the server), BENCH_ROUNDS,
 * BENCH_SECONDS (per phase), BENCH_CONCURRENCY, BENCH_CLIENT; BENCH_QUICK=1 (what
 * `npm run bench` sets) makes the defaults 4 rounds of 2 s. The server uses the embedded
 * database in a temporary directory. Raw and API phases alternate, one of each per round
 * (about 50 s in all at the defaults, 30 s quick).
 *
 * (1) raw: `privateDecrypt` with RSA_NO_PADDING in a tight loop on as many worker threads as
 *     the server's pool has, same key size — the ceiling for any RSA-bound server.
 * (2) api: `get` requests through the full envelope (token check, key lookup, decryption in
 *     the pool with implicit-rejection unpadding, invoice + history read, JSON answer) from a
 *     keep-alive load generator in its own thread, with pre-encrypted bodies, each distinct
 *     (more than the server keeps opened, so each is decrypted). The generator
 *     runs on the same CPUs as the server and the RSA threads, so what it spends is lost to
 *     the ratio: by default it writes prepared requests on raw sockets and reads answers by
 *     their Content-Length (checking each status), about a fifth of what node:http's client
 *     costs per request; `--client node` uses node:http instead. Its CPU per request is shown.
 * (3) the server's main-thread CPU per `get` during the API phases (see mainThreadCpu).
 *
 * The ratio is the median over rounds of (api rate / raw rate) in the same round: a burst of
 * background load on a shared machine then spoils one round, not the result. The last lines
 * are `RESULT {json}` (the convention of scripts/bench.mjs, see README).
 */
import { constants, publicEncrypt, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../packages/server/src/config.ts';
import { OPENED_ENVELOPES } from '../packages/server/src/legacy/api.ts';
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
    client: { type: 'string' },
    primes: { type: 'string' },
  },
});

function intOption(flag: string | undefined, env: string | undefined, fallback: number): number {
  const raw = flag ?? env;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${raw}`);
  return n;
}

const quick = process.env.BENCH_QUICK === '1';
const bits = intOption(flags.bits, process.env.RSA_KEY_BITS, 4096);
const requestedThreads = intOption(flags.threads, process.env.RSA_THREADS, 0);
const threads = requestedThreads > 0 ? requestedThreads : Math.max(1, os.availableParallelism());
const rounds = Math.max(1, intOption(flags.rounds, process.env.BENCH_ROUNDS, quick ? 4 : 6));
const phaseSeconds = Math.max(1, intOption(flags.seconds, process.env.BENCH_SECONDS, quick ? 2 : 3));
const concurrency = intOption(flags.concurrency, process.env.BENCH_CONCURRENCY, threads * 4);
const clientKind = flags.client ?? process.env.BENCH_CLIENT ?? 'raw';
// Unset: the server's default (classic keys); 0: the most primes the size allows (RSA_KEY_PRIMES).
const primesText = flags.primes ?? process.env.RSA_KEY_PRIMES;
if (clientKind !== 'raw' && clientKind !== 'node') throw new Error('--client must be raw or node');
const WARMUP_MS = 500;
const SERVER_WARMUP_MS = 3000;
const RATIO_TARGET = 0.85;
const CPU_TARGET_MS = 0.25;

/**
 * CPU time of this process's main thread (the server's event loop) so far, in ms; null where
 * /proc is missing. process.cpuUsage() would add the RSA workers and the load generator,
 * which run in threads of this same process, and eventLoopUtilization() is wall time, which
 * on a loaded 2-CPU machine also counts the time the loop waits for a CPU. Linux keeps each
 * thread's own figures: schedstat's first field is its time on CPU in ns; stat's utime and
 * stime split it into user and kernel time in clock ticks (10 ms, fine over seconds). On
 * Linux the main thread's id is the process id. The kernel part includes loopback TCP work
 * that the sending thread does for the receiver; a remote client would not cost it here.
 */
function mainThreadCpu(): { total: number; user: number; sys: number } | null {
  const task = `/proc/self/task/${process.pid}`;
  try {
    const stat = fs.readFileSync(`${task}/stat`, 'utf8');
    // utime and stime are fields 14 and 15 of proc(5); the slice starts at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = Number(fields[11]) * 10;
    const sys = Number(fields[12]) * 10;
    let total = user + sys;
    try {
      const ns = Number(fs.readFileSync(`${task}/schedstat`, 'utf8').split(' ')[0]);
      if (Number.isFinite(ns) && ns > 0) total = ns / 1e6;
    } catch {}
    return { total, user, sys };
  } catch {
    return null;
  }
}

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

/**
 * Keeps \`concurrency\` keep-alive requests in flight; counts answers after the warm-up, and
 * posts marks when counting starts and stops so that the parent reads the server's CPU over
 * exactly that window. \`send(body, done)\` is the client: raw sockets or node:http.
 */
const LOAD_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { url, bodies, concurrency, warmupMs, ms, client, offset } = workerData;
const target = new URL(url);
let counting = false, stop = false, ok = 0, failed = 0, statuses = {}, i = offset;
const latencies = [];
// This thread's own CPU time in ms (Linux): what the load generator takes from the server.
const ownCpu = () => { try { return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6; } catch { return NaN; } };
function record(status, t0) {
  if (!counting) return;
  if (status === 200) { ok++; latencies.push(performance.now() - t0); }
  else { failed++; statuses[status] = (statuses[status] || 0) + 1; }
}

// node:http's client, for comparison.
function nodeClient() {
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const one = () => new Promise((resolve) => {
    const body = bodies[i++ % bodies.length];
    const t0 = performance.now();
    const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => { record(res.statusCode, t0); resolve(); });
    });
    req.on('error', () => { record('error', t0); resolve(); });
    req.end(body);
  });
  const loops = Array.from({ length: concurrency }, async () => { while (!stop) await one(); });
  return Promise.all(loops).then(() => agent.destroy());
}

// Prepared requests on raw keep-alive sockets; an answer ends after its headers and
// Content-Length bytes (the server sends no chunked answers to these).
function rawClient() {
  const net = require('node:net');
  const requests = bodies.map((body) => Buffer.from(
    'POST ' + target.pathname + ' HTTP/1.1\\r\\nHost: ' + target.host + '\\r\\nContent-Type: application/json\\r\\n' +
    'Content-Length: ' + Buffer.byteLength(body) + '\\r\\n\\r\\n' + body, 'latin1'));
  const CRLF2 = Buffer.from('\\r\\n\\r\\n');
  const connection = () => new Promise((resolve) => {
    let socket, buf = null, headerEnd = -1, length = 0, status = 0, t0 = 0, busy = false;
    const send = () => {
      if (stop) { socket.end(); return resolve(); }
      busy = true; t0 = performance.now();
      socket.write(requests[i++ % requests.length]);
    };
    const open = () => {
      buf = null; headerEnd = -1;
      socket = require('node:net').connect({ host: target.hostname, port: Number(target.port), noDelay: true }, send);
      socket.on('data', (chunk) => {
        buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
        for (;;) {
          if (headerEnd < 0) {
            const at = buf.indexOf(CRLF2);
            if (at < 0) return;
            const head = buf.toString('latin1', 0, at);
            status = Number(head.slice(9, 12));
            const m = /\\r\\ncontent-length: *(\\d+)/i.exec(head);
            if (!m) { record('no content-length', t0); busy = false; socket.destroy(); return; }
            headerEnd = at + 4; length = Number(m[1]);
          }
          if (buf.length < headerEnd + length) return;
          record(status, t0);
          busy = false;
          buf = buf.length === headerEnd + length ? null : buf.subarray(headerEnd + length);
          headerEnd = -1;
          send();
          if (buf === null || stop) return;
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        if (busy) record('closed', t0);
        busy = false;
        if (stop) resolve(); else open();
      });
    };
    open();
  });
  return Promise.all(Array.from({ length: concurrency }, connection));
}

const running = client === 'node' ? nodeClient() : rawClient();
let started, cpu0 = 0, cpu = 0;
setTimeout(() => { counting = true; started = performance.now(); cpu0 = ownCpu(); parentPort.postMessage({ mark: 'start' }); }, warmupMs);
setTimeout(async () => {
  const seconds = (performance.now() - started) / 1000;
  counting = false; stop = true;
  cpu = ownCpu() - cpu0;
  parentPort.postMessage({ mark: 'stop' });
  await running;
  latencies.sort((a, b) => a - b);
  const p = (q) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : NaN;
  parentPort.postMessage({ ok, failed, statuses, seconds, p50: p(0.5), p99: p(0.99), cpu, sent: i - offset });
}, warmupMs + ms);
`;

/** Runs a worker to its one result; `onMark` gets the load generator's start and stop marks. */
function runWorker<T>(code: string, workerData: unknown, onMark?: (mark: 'start' | 'stop') => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData });
    worker.on('message', (m: T | { mark: 'start' | 'stop' }) => {
      if (typeof m === 'object' && m !== null && 'mark' in m) {
        onMark?.(m.mark);
        return;
      }
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
  /** The load generator's own CPU time over the counted window, ms. */
  cpu: number;
  /** Requests sent, warm-up included (the next phase starts that far on in `bodies`). */
  sent: number;
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

async function main(): Promise<void> {
  console.log(
    `# legacy-api bench: ${bits}-bit keys (RSA_KEY_PRIMES=${primesText || 'default'}), ${threads} RSA thread(s), ${rounds} rounds of ${phaseSeconds} s + ${phaseSeconds} s, ` +
      `concurrency ${concurrency}, ${clientKind === 'raw' ? 'raw-socket' : 'node:http'} client`,
  );
  console.log(`# node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}`);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-bench-'));
  const config = loadConfig(
    {},
    {
      dataDir,
      rsaKeyBits: bits,
      ...(primesText !== undefined && primesText !== '' && { rsaKeyPrimes: intOption(primesText, undefined, 2) }),
      rsaThreads: threads,
      port: 0,
      masterKey: randomBytes(32).toString('hex'),
      logLevel: 'warn',
    },
  );
  const system = await createSystem(config);
  const server = await startServer(config, { system, sweeper: { start: false } });
  try {
    const { accessToken } = await system.merchants.create('bench');
    const client = new ReferenceClient(server.url, accessToken);
    const uid = await client.create('Bench invoice', '150.00');
    const pem = await client.fetchPublicKey();
    // Twice as many distinct envelopes as the server keeps opened, sent in turn: every request
    // is decrypted (a client resending one envelope, as the SDK's `get` does, would skip it).
    const bodies = Array.from({ length: 2 * OPENED_ENVELOPES }, () =>
      JSON.stringify({ data: encryptRequest(pem, { type: 'get', uid_link: uid }), access_token: accessToken }),
    );
    const check = await client.call({ type: 'get', uid_link: uid });
    if (check.http !== 200 || check.json.response.data.invoice[0].uid_link !== uid) throw new Error('get does not work');
    // The raw phase uses the merchant's own key: same size, same parsing, same CPU caches.
    const key = (await system.merchants.authenticateWithKeys(accessToken))?.keys[0];
    const privatePem = await system.merchants.privateKeyPem(key!.id);
    // Each phase goes on where the last one stopped in the list of envelopes, so none is sent
    // again while the server still keeps it opened.
    const load = { url: `${server.url}/method/RemoteInvoiceApi`, bodies, concurrency, client: clientKind, offset: 0 };

    // One untimed API phase first: the server's first seconds under load are JIT and cache
    // warm-up (Fastify, Kysely, the worker pool's key load), not its steady throughput.
    // The raw phases warm up inside each worker the same way (WARMUP_MS).
    load.offset += (await runWorker<LoadResult>(LOAD_WORKER, { ...load, warmupMs: 0, ms: SERVER_WARMUP_MS })).sent;

    // Phases alternate so that a change in background load on the machine hits both sides.
    const ratios: number[] = [];
    let rawOps = 0;
    let rawSeconds = 0;
    let apiOk = 0;
    let apiSeconds = 0;
    let failed = 0;
    const statuses: Record<string, number> = {};
    const cpuMs = { total: 0, user: 0, sys: 0 };
    let clientCpuMs = 0;
    let cpuKnown = true;
    for (let r = 1; r <= rounds; r++) {
      const raw = await rawRate(privatePem, pem);
      let cpu0: ReturnType<typeof mainThreadCpu> = null;
      let cpu = 0;
      const api = await runWorker<LoadResult>(LOAD_WORKER, { ...load, warmupMs: WARMUP_MS, ms: phaseSeconds * 1000 }, (mark) => {
        const now = mainThreadCpu();
        if (mark === 'start') cpu0 = now;
        else if (now === null || cpu0 === null) cpuKnown = false;
        else {
          cpu = now.total - cpu0.total;
          cpuMs.total += cpu;
          cpuMs.user += now.user - cpu0.user;
          cpuMs.sys += now.sys - cpu0.sys;
        }
      });
      load.offset += api.sent;
      const rawPerSecond = raw.ops / raw.seconds;
      const apiPerSecond = api.ok / api.seconds;
      ratios.push(apiPerSecond / rawPerSecond);
      rawOps += raw.ops;
      rawSeconds += raw.seconds;
      apiOk += api.ok;
      apiSeconds += api.seconds;
      clientCpuMs += api.cpu;
      failed += api.failed;
      for (const [code, n] of Object.entries(api.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
      console.log(
        `round ${r}: raw ${rawPerSecond.toFixed(1)} ops/s, api ${apiPerSecond.toFixed(1)} req/s, ratio ${(apiPerSecond / rawPerSecond).toFixed(2)} ` +
          `(p50 ${api.p50.toFixed(1)} ms, p99 ${api.p99.toFixed(1)} ms), main thread ${(cpu / Math.max(1, api.ok)).toFixed(3)} ms CPU/get`,
      );
    }
    const rawRateTotal = rawOps / rawSeconds;
    const apiRate = apiOk / apiSeconds;
    const ratio = median(ratios);
    const perGet = (ms: number) => ms / Math.max(1, apiOk);
    const cpuPerGet = cpuKnown ? perGet(cpuMs.total) : Number.NaN;
    console.log(`raw RSA private ops/s     ${rawRateTotal.toFixed(1)}  (${threads} thread(s), RSA_NO_PADDING, ${bits}-bit)`);
    console.log(`api get requests/s        ${apiRate.toFixed(1)}${failed ? `  (${failed} failed ${JSON.stringify(statuses)})` : ''}`);
    console.log(
      `main thread CPU per get   ${cpuKnown ? `${cpuPerGet.toFixed(3)} ms (user ${perGet(cpuMs.user).toFixed(2)}, kernel ${perGet(cpuMs.sys).toFixed(2)})` : 'n/a (no /proc)'}` +
        `  (target < ${CPU_TARGET_MS} ms: ${cpuPerGet < CPU_TARGET_MS ? 'met' : 'NOT met'})`,
    );
    console.log(`load generator CPU/get    ${perGet(clientCpuMs).toFixed(3)} ms  (the client, on the same CPUs)`);
    console.log(
      `ratio api/raw             ${ratio.toFixed(2)}  (median of rounds; totals ${(apiRate / rawRateTotal).toFixed(2)}; ` +
        `target >= ${RATIO_TARGET}: ${ratio >= RATIO_TARGET ? 'met' : 'NOT met'})`,
    );
    const result = (r: object) => console.log(`RESULT ${JSON.stringify({ name: 'legacy-api', ...r })}`);
    result({
      metric: 'api get/s ÷ raw RSA ops/s (median of rounds)',
      value: round(apiRate),
      baseline: round(rawRateTotal),
      ratio: round(ratio, 3),
      target: `>= ${RATIO_TARGET}`,
      met: ratio >= RATIO_TARGET && failed === 0,
    });
    result({
      metric: 'server main-thread CPU per get, ms',
      value: cpuKnown ? round(cpuPerGet, 3) : null,
      baseline: null,
      ratio: null,
      target: `< ${CPU_TARGET_MS} ms`,
      met: cpuKnown ? cpuPerGet < CPU_TARGET_MS : null,
    });
    if (failed > 0) process.exitCode = 1;
  } finally {
    await server.close();
    await system.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
