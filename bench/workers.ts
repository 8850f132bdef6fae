// Legacy API throughput with `nltrade serve --workers 2` against one process, same run.
//   node --conditions=source --import tsx bench/workers.ts      (needs `npm run build` and PostgreSQL)
// Env: BENCH_SECONDS (per phase, 4; 3 with BENCH_QUICK=1), BENCH_ROUNDS (2), BENCH_CONCURRENCY
// (16), RSA_KEY_BITS (2048: the bench is about the processes, not the key size).
// Both servers run the built CLI on one PostgreSQL database; the phases alternate so
// background load hits both. Prints requests per second and the ratio 2 workers / 1.
import { type ChildProcess, spawn } from 'node:child_process';
import { constants, publicEncrypt } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { OPENED_ENVELOPES } from '../packages/server/src/legacy/api.ts';
import { testSystem } from '../packages/server/test/support/system.ts';

const quick = process.env.BENCH_QUICK === '1';
const SECONDS = Number(process.env.BENCH_SECONDS ?? (quick ? 3 : 4));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const BITS = process.env.RSA_KEY_BITS ?? '2048';
const BIN = path.resolve(import.meta.dirname, '../packages/cli/bin/nltrade.js');

const ts = await testSystem('postgres', { rsaKeyBits: Number(BITS) });
const { merchantId, accessToken } = await ts.system.merchants.create('Bench shop');
const invoice = await ts.system.invoices.create(merchantId, { title: 'bench', price: '100' });
const pem = await ts.system.merchants.currentPublicPem(merchantId);
// Distinct envelopes, more than a process keeps opened, sent in turn: every request is decrypted.
const bodies = Array.from({ length: 2 * OPENED_ENVELOPES }, () =>
  JSON.stringify({
    data: publicEncrypt(
      { key: pem, padding: constants.RSA_PKCS1_PADDING },
      Buffer.from(JSON.stringify({ type: 'get', uid_link: invoice.uid, verificationWord: 'bandasosamba' })),
    ).toString('base64'),
    access_token: accessToken,
  }),
);
let next = 0;

async function start(workers: number): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--workers', String(workers), '--data', ts.dataDir], {
    env: {
      ...process.env,
      DATABASE_URL: ts.databaseUrl ?? '',
      NLTRADE_MASTER_KEY: ts.system.config.masterKey ?? '',
      LOG_LEVEL: 'warn',
      RSA_KEY_BITS: BITS,
      RATE_LIMIT_AUTH_FAILURES: '1000000',
      MAX_CONNECTIONS_PER_IP: '100000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /running at (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    proc.once('exit', (code) => reject(new Error(`serve --workers ${workers} exited with ${code}`)));
  });
  return { url, proc };
}

/** Requests per second over `seconds`, CONCURRENCY keep-alive connections. */
async function load(url: string, seconds: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const target = new URL('/method/RemoteInvoiceApi', url);
  let done = 0;
  let failed = 0;
  const until = Date.now() + seconds * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.request(target, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) done++;
          else failed++;
          resolve();
        });
      });
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(bodies[next++ % bodies.length]);
    });
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) await one();
    }),
  );
  agent.destroy();
  if (failed > 0) console.warn(`  ${failed} requests failed`);
  return done / seconds;
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

const one = await start(1);
const two = await start(2);
try {
  // Untimed warm-up of each (JIT, the RSA workers loading the key).
  await load(one.url, 2);
  await load(two.url, 2);
  const rates: { one: number[]; two: number[] } = { one: [], two: [] };
  for (let round = 0; round < ROUNDS; round++) {
    rates.one.push(await load(one.url, SECONDS));
    rates.two.push(await load(two.url, SECONDS));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const r1 = mean(rates.one);
  const r2 = mean(rates.two);
  const ratio = r2 / r1;
  console.log(`legacy get, ${BITS}-bit keys, ${CONCURRENCY} connections, ${ROUNDS} × ${SECONDS} s each:`);
  console.log(`  1 process:            ${r1.toFixed(0)} req/s  (${rates.one.map((r) => r.toFixed(0)).join(', ')})`);
  console.log(`  --workers 2:          ${r2.toFixed(0)} req/s  (${rates.two.map((r) => r.toFixed(0)).join(', ')})`);
  console.log(`  ratio 2 workers / 1:  ${ratio.toFixed(2)}×`);
  console.log(
    `RESULT ${JSON.stringify({ name: 'workers', metric: 'legacy get req/s, --workers 2', value: Math.round(r2), baseline: Math.round(r1), ratio: Number(ratio.toFixed(2)), target: null, met: null })}`,
  );
} finally {
  await stop(one.proc);
  await stop(two.proc);
  await ts.cleanup();
}
process.exit(0);
