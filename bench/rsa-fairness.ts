/**
 * RSA fairness: merchant B's `get` latency alone and while merchant A floods the legacy API.
 *
 *   node --conditions=source --import tsx bench/rsa-fairness.ts [--bits 4096] [--threads N] [--rounds 3]
 *        [--seconds 4] [--flood 128] [--flood-kind bad|valid] [--bound 64]
 *
 * Env fallbacks: RSA_KEY_BITS, RSA_THREADS (0 = one per CPU, as the server), BENCH_ROUNDS,
 * BENCH_SECONDS (per phase), FLOOD (A's concurrent requests), FLOOD_KIND, RSA_QUEUE_PER_MERCHANT;
 * BENCH_QUICK=1 (what `npm run bench` sets) makes the defaults 2 rounds of 3 s phases.
 *
 * A server on the embedded database runs here. Merchant A's key has been rotated twice, so
 * each of its undecryptable requests costs three RSA operations (the current key, then the
 * two retired ones) — the most one request can cost. A keeps FLOOD requests in flight from
 * 127.0.0.2 (by default twice its bound, so half of them are refused with 503 at once and
 * come straight back); `--flood-kind valid` floods with valid `get`s instead. Merchant B,
 * from 127.0.0.3, makes one ordinary `get` at a time. Phases alternate (B alone, B during the
 * flood) so background load hits both. The ratio is the median over rounds of B's p50 during
 * the flood ÷ its p50 alone in the same round (a burst of load from elsewhere on a shared
 * machine then spoils one round, not the result); the p50 and p99 shown are over all rounds.
 * Target: ratio ≤ 3. The last line is `RESULT {json}`.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
    flood: { type: 'string' },
    'flood-kind': { type: 'string' },
    bound: { type: 'string' },
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
const rounds = Math.max(1, intOption(flags.rounds, process.env.BENCH_ROUNDS, quick ? 2 : 3));
const phaseSeconds = Math.max(1, intOption(flags.seconds, process.env.BENCH_SECONDS, quick ? 3 : 4));
const bound = Math.max(1, intOption(flags.bound, process.env.RSA_QUEUE_PER_MERCHANT, 64));
const flood = Math.max(1, intOption(flags.flood, process.env.FLOOD, 2 * bound));
const floodKind = flags['flood-kind'] ?? process.env.FLOOD_KIND ?? 'bad';
if (floodKind !== 'bad' && floodKind !== 'valid') throw new Error('--flood-kind must be bad or valid');
const TARGET = 3;
const WARMUP_MS = 500;

/**
 * Keeps `concurrency` keep-alive requests in flight from `localAddress` until told to stop;
 * records, after the warm-up, each answer's status and (for 200s) latency.
 */
const LOAD_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const http = require('node:http');
const { url, bodies, concurrency, warmupMs, localAddress } = workerData;
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
let counting = false, stop = false, i = 0;
const statuses = {};
const latencies = [];
function one() {
  return new Promise((resolve) => {
    const body = bodies[i++ % bodies.length];
    const t0 = performance.now();
    const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', localAddress,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (counting) {
          statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
          if (res.statusCode === 200) latencies.push(performance.now() - t0);
        }
        resolve();
      });
    });
    req.on('error', () => { if (counting) statuses.error = (statuses.error || 0) + 1; resolve(); });
    req.end(body);
  });
}
async function loop() { while (!stop) await one(); }
const loops = Array.from({ length: concurrency }, loop);
setTimeout(() => { counting = true; }, warmupMs);
parentPort.on('message', async () => {
  counting = false; stop = true;
  await Promise.all(loops);
  agent.destroy();
  parentPort.postMessage({ statuses, latencies });
});
`;

interface LoadResult {
  statuses: Record<string, number>;
  latencies: number[];
}

class Load {
  readonly #worker: Worker;
  readonly #done: Promise<LoadResult>;

  constructor(workerData: { url: string; bodies: string[]; concurrency: number; warmupMs: number; localAddress: string }) {
    this.#worker = new Worker(LOAD_WORKER, { eval: true, workerData });
    this.#done = new Promise((resolve, reject) => {
      this.#worker.once('message', resolve);
      this.#worker.once('error', reject);
    });
  }

  async stop(): Promise<LoadResult> {
    this.#worker.postMessage('stop');
    const result = await this.#done;
    await this.#worker.terminate();
    return result;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

async function main(): Promise<void> {
  console.log(
    `# rsa-fairness bench: ${bits}-bit keys, ${threads} RSA thread(s), bound ${bound} per merchant, ` +
      `A floods with ${flood} ${floodKind === 'bad' ? 'undecryptable' : 'valid'} requests in flight, ${rounds} round(s) of ${phaseSeconds} s + ${phaseSeconds} s`,
  );
  console.log(`# node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-bench-'));
  const config = loadConfig(
    {},
    {
      dataDir,
      rsaKeyBits: bits,
      rsaThreads: threads,
      rsaQueuePerMerchant: bound,
      port: 0,
      masterKey: randomBytes(32).toString('hex'),
      logLevel: 'warn',
      maxConnectionsPerIp: flood + 64,
    },
  );
  const system = await createSystem(config);
  const server = await startServer(config, { system, sweeper: { start: false } });
  try {
    const started = Date.now();
    const [a, b] = await Promise.all([system.merchants.create('Flooder'), system.merchants.create('Ordinary')]);
    // Two retired keys: every undecryptable request of A's is tried against all three.
    await system.merchants.rotateKey(a.merchantId);
    await system.merchants.rotateKey(a.merchantId);
    console.log(`# merchants and keys made in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const clientA = new ReferenceClient(server.url, a.accessToken);
    const clientB = new ReferenceClient(server.url, b.accessToken);
    const uidA = await clientA.create('Flooder invoice', '10');
    const uidB = await clientB.create('Ordinary invoice', '150.00');
    const pemA = await clientA.fetchPublicKey();
    const pemB = await clientB.fetchPublicKey();
    const bodiesB = Array.from({ length: 64 }, () =>
      JSON.stringify({ data: encryptRequest(pemB, { type: 'get', uid_link: uidB }), access_token: b.accessToken }),
    );
    const bodiesA = Array.from({ length: 256 }, () => {
      if (floodKind === 'valid')
        return JSON.stringify({ data: encryptRequest(pemA, { type: 'get', uid_link: uidA }), access_token: a.accessToken });
      // Random, but below every 4096-bit modulus (top bit clear): each one costs a real RSA operation per key.
      const bytes = randomBytes(bits / 8);
      bytes[0] = (bytes[0] as number) & 0x3f;
      return JSON.stringify({ data: bytes.toString('base64'), access_token: a.accessToken });
    });
    const check = await clientA.post(JSON.parse(bodiesA[0] as string).data);
    if (check.http !== (floodKind === 'bad' ? 400 : 200))
      throw new Error(`A's request was answered ${check.http}: ${JSON.stringify(check.json)}`);

    const url = `${server.url}/method/RemoteInvoiceApi`;
    const ordinary = () => new Load({ url, bodies: bodiesB, concurrency: 1, warmupMs: WARMUP_MS, localAddress: '127.0.0.3' });
    const flooder = () => new Load({ url, bodies: bodiesA, concurrency: flood, warmupMs: 0, localAddress: '127.0.0.2' });

    // Warm-up: JIT, the workers' key loads, A's retired keys.
    {
      const f = flooder();
      const o = ordinary();
      await sleep(2000);
      await Promise.all([f.stop(), o.stop()]);
    }

    const alone: number[] = [];
    const during: number[] = [];
    const ratios: number[] = [];
    const statusesB = { alone: {} as Record<string, number>, during: {} as Record<string, number> };
    const statusesA: Record<string, number> = {};
    for (let round = 1; round <= rounds; round++) {
      const o1 = ordinary();
      await sleep(phaseSeconds * 1000 + WARMUP_MS);
      const r1 = await o1.stop();
      alone.push(...r1.latencies);
      add(statusesB.alone, r1.statuses);

      const f = flooder();
      // The flood fills A's queue before B's measured requests start.
      await sleep(WARMUP_MS);
      const o2 = ordinary();
      await sleep(phaseSeconds * 1000 + WARMUP_MS);
      const r2 = await o2.stop();
      const rf = await f.stop();
      during.push(...r2.latencies);
      add(statusesB.during, r2.statuses);
      add(statusesA, rf.statuses);
      const s1 = [...r1.latencies].sort((x, y) => x - y);
      const s2 = [...r2.latencies].sort((x, y) => x - y);
      ratios.push(pct(s2, 0.5) / pct(s1, 0.5));
      console.log(
        `round ${round}: B alone p50 ${pct(s1, 0.5).toFixed(1)} ms (${s1.length} gets); during A's flood p50 ${pct(s2, 0.5).toFixed(1)} ms, ` +
          `p99 ${pct(s2, 0.99).toFixed(1)} ms (${s2.length} gets), ratio ${(pct(s2, 0.5) / pct(s1, 0.5)).toFixed(2)}; A's answers ${JSON.stringify(rf.statuses)}`,
      );
    }
    alone.sort((x, y) => x - y);
    during.sort((x, y) => x - y);
    const p50Alone = pct(alone, 0.5);
    const p50During = pct(during, 0.5);
    const ratio = median(ratios);
    const bFailed = Object.entries({ ...statusesB.alone, ...statusesB.during }).some(([code]) => code !== '200');
    console.log(`B alone          p50 ${p50Alone.toFixed(1)} ms   p99 ${pct(alone, 0.99).toFixed(1)} ms   (${alone.length} gets)`);
    console.log(`B during flood   p50 ${p50During.toFixed(1)} ms   p99 ${pct(during, 0.99).toFixed(1)} ms   (${during.length} gets)`);
    console.log(`A's answers      ${JSON.stringify(statusesA)} (503: beyond its bound of ${bound})`);
    console.log(`B's answers      alone ${JSON.stringify(statusesB.alone)}, during ${JSON.stringify(statusesB.during)}`);
    console.log(
      `ratio p50 during/alone  ${ratio.toFixed(2)}  (median of rounds; pooled ${(p50During / p50Alone).toFixed(2)}; ` +
        `target <= ${TARGET}: ${ratio <= TARGET && !bFailed ? 'met' : 'NOT met'})`,
    );
    const round2 = (x: number, d = 2) => Number(x.toFixed(d));
    console.log(
      `RESULT ${JSON.stringify({
        name: 'rsa-fairness',
        metric: "B's get p50 during A's flood ÷ alone, ms (median of rounds)",
        value: round2(p50During, 1),
        baseline: round2(p50Alone, 1),
        ratio: round2(ratio),
        target: `<= ${TARGET}`,
        met: ratio <= TARGET && !bFailed,
      })}`,
    );
    if (bFailed) process.exitCode = 1;
  } finally {
    await server.close();
    await system.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
