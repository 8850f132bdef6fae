// Connection-flood benchmark.
//   node --conditions=source --import tsx bench/connection-flood.ts
//   FLOOD (MAX_CONNECTIONS_PER_IP + 100) REDIAL_MS (1000) ROUNDS (2) SECONDS (5) CONCURRENCY (4)
// A server runs in a child process with the default limits (MAX_CONNECTIONS_PER_IP 256,
// HTTP_HEADERS_TIMEOUT 10 s, HTTP_REQUEST_TIMEOUT 30 s) and trusts no proxy. A second child
// floods it from 127.0.0.2 with FLOOD slow connections (half a request each, one more header
// line every few seconds), opening a new one REDIAL_MS after one is closed or refused, as a
// slowloris tool does (FLOOD=2000 REDIAL_MS=50 adds a reconnect storm). This process is another client, 127.0.0.3: it makes requests on fresh
// connections (GET /health and a checkout view, which reads the database) and we measure
// their latency with and without the flood, in alternating phases so background load hits
// both. Target: the other client's p99 under the flood stays under 100 ms, and none fails.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const FLOOD_ENV = process.env.FLOOD;
// BENCH_QUICK=1 (what `npm run bench` sets) makes it one round of 3 s phases.
const quick = process.env.BENCH_QUICK === '1';
const ROUNDS = Number(process.env.ROUNDS ?? (quick ? 1 : 2));
const SECONDS = Number(process.env.SECONDS ?? (quick ? 3 : 5));
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4);
const REDIAL_MS = Number(process.env.REDIAL_MS ?? 1000);
const DEADLINE_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 300_000);
const FLOODER = '127.0.0.2';
const CLIENT = '127.0.0.3';

type FromServer = { type: 'ready'; url: string; uid: string; max: number };
type ToFlooder = { type: 'start'; url: string; count: number } | { type: 'stop' } | { type: 'stats' };
type FromFlooder =
  | { type: 'started'; open: number }
  | { type: 'stopped' }
  | { type: 'stats'; open: number; opened: number; refused: number };

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

async function serverMain(): Promise<void> {
  process.once('disconnect', () => process.exit(0));
  const { loadConfig } = await import('../packages/server/src/config.ts');
  const { startServer } = await import('../packages/server/src/start.ts');
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dataDir = fs.mkdtempSync(path.join(base, 'nltrade-bench-'));
  const config = loadConfig(
    {},
    {
      dataDir,
      port: 0,
      host: '127.0.0.1',
      rsaKeyBits: 2048,
      rsaThreads: 1,
      masterKey: randomBytes(32).toString('hex'),
      // The measuring client makes thousands of checkout reads; their budget is not what is measured.
      checkoutRequestsPerMinute: 1_000_000,
      logLevel: 'silent',
    },
  );
  const server = await startServer(config, { sweeper: { start: false } });
  const { merchantId } = await server.system.merchants.create('Bench shop');
  const { uid } = await server.system.invoices.create(merchantId, { title: 'Bench', price: '100' });
  process.send?.({ type: 'ready', url: server.url, uid, max: config.maxConnectionsPerIp } satisfies FromServer);
  process.on('message', async (m: { type: string }) => {
    if (m.type !== 'stop') return;
    await server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
}

function floodMain(): void {
  process.once('disconnect', () => process.exit(0));
  const sockets = new Set<net.Socket>();
  let running = false;
  let opened = 0;
  let refused = 0;
  let target: URL | undefined;
  const open = () => {
    if (!running || !target) return;
    opened++;
    const socket = net.connect({ host: target.hostname, port: Number(target.port), localAddress: FLOODER });
    let established = false;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('connect', () => {
      established = true;
      socket.write('GET /health HTTP/1.1\r\nHost: flood\r\n');
    });
    const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 3000);
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(trickle);
      sockets.delete(socket);
      // Reset before or right after connecting: refused by the per-address limit.
      if (!established || socket.bytesRead === 0) refused++;
      if (running) setTimeout(open, REDIAL_MS);
    });
  };
  process.on('message', (m: ToFlooder) => {
    if (m.type === 'start') {
      target = new URL(m.url);
      running = true;
      for (let i = 0; i < m.count; i++) open();
      setTimeout(() => process.send?.({ type: 'started', open: sockets.size } satisfies FromFlooder), 500);
    } else if (m.type === 'stop') {
      running = false;
      for (const s of sockets) s.destroy();
      setTimeout(() => process.send?.({ type: 'stopped' } satisfies FromFlooder), 500);
    } else if (m.type === 'stats') {
      process.send?.({ type: 'stats', open: sockets.size, opened, refused } satisfies FromFlooder);
    }
  });
}

function receive<T extends { type: string }>(child: ChildProcess, type: T['type']): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: T) => {
      if (m?.type !== type) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
  });
}

/** One request on a fresh connection from CLIENT; its latency in ms, or null when it failed. */
function timed(url: string): Promise<number | null> {
  const start = now();
  return new Promise((resolve) => {
    const req = http.request(url, { localAddress: CLIENT, agent: false, headers: { connection: 'close' }, timeout: 10_000 });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? now() - start : null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

async function phase(urls: string[], seconds: number): Promise<{ latencies: number[]; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  let i = 0;
  const until = now() + seconds * 1000;
  const worker = async () => {
    while (now() < until) {
      const ms = await timed(urls[i++ % urls.length] as string);
      if (ms === null) failed++;
      else latencies.push(ms);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { latencies, failed };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const fds = (pid: number | undefined) => {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
};

async function benchMain(): Promise<void> {
  const execArgv = ['--conditions=source', '--import', 'tsx'];
  const server = fork(import.meta.filename, ['--server'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const flooder = fork(import.meta.filename, ['--flood'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const watchdog = setTimeout(() => {
    console.error(`bench: gave up after ${DEADLINE_MS} ms`);
    server.kill('SIGKILL');
    flooder.kill('SIGKILL');
    process.exit(2);
  }, DEADLINE_MS);
  const ready = await receive<FromServer>(server, 'ready');
  const urls = [`${ready.url}/health`, `${ready.url}/v1/checkout/${ready.uid}`];
  const FLOOD = FLOOD_ENV === undefined ? ready.max + 100 : Number(FLOOD_ENV);
  console.log(
    `server ready at ${ready.url} (pid ${server.pid}), MAX_CONNECTIONS_PER_IP ${ready.max}; ` +
      `flood: ${FLOOD} slow connections from ${FLOODER}, each redialled ${REDIAL_MS} ms after it ends`,
  );

  // Warm-up (JIT, the first database reads), not measured.
  await phase(urls, 2);
  const base: { latencies: number[]; failed: number } = { latencies: [], failed: 0 };
  const flood: { latencies: number[]; failed: number } = { latencies: [], failed: 0 };
  let serverFds = 0;
  let refusedPerSecond = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const b = await phase(urls, SECONDS);
    base.latencies.push(...b.latencies);
    base.failed += b.failed;

    flooder.send({ type: 'start', url: ready.url, count: FLOOD } satisfies ToFlooder);
    await receive(flooder, 'started');
    const before = await new Promise<FromFlooder & { type: 'stats' }>((resolve) => {
      flooder.send({ type: 'stats' } satisfies ToFlooder);
      void receive<FromFlooder & { type: 'stats' }>(flooder, 'stats').then(resolve);
    });
    const t0 = now();
    const f = await phase(urls, SECONDS);
    serverFds = Math.max(serverFds, fds(server.pid));
    flooder.send({ type: 'stats' } satisfies ToFlooder);
    const after = await receive<FromFlooder & { type: 'stats' }>(flooder, 'stats');
    refusedPerSecond = Math.max(refusedPerSecond, ((after.refused - before.refused) * 1000) / (now() - t0));
    flood.latencies.push(...f.latencies);
    flood.failed += f.failed;
    flooder.send({ type: 'stop' } satisfies ToFlooder);
    await receive(flooder, 'stopped');
  }
  const sb = base.latencies.sort((x, y) => x - y);
  const sf = flood.latencies.sort((x, y) => x - y);
  const line = (name: string, s: number[], failed: number) =>
    console.log(
      `${name.padEnd(30)}p50 ${pct(s, 50).toFixed(2)} ms   p90 ${pct(s, 90).toFixed(2)} ms   p99 ${pct(s, 99).toFixed(2)} ms   max ${pct(s, 100).toFixed(2)} ms   (${s.length} ok, ${failed} failed)`,
    );
  console.log('');
  line(`baseline (no flood), ${CLIENT}`, sb, base.failed);
  line(`under the flood, ${CLIENT}`, sf, flood.failed);
  console.log(`ratio p99 flood / baseline     ${(pct(sf, 99) / pct(sb, 99)).toFixed(2)}`);
  console.log(
    `flood                         ${FLOOD} connections kept up from ${FLOODER}, ${refusedPerSecond.toFixed(0)} refusals/s; server fds at most ${serverFds} (limit ${ready.max} per address)`,
  );
  const met = pct(sf, 99) < 100 && flood.failed === 0;
  console.log(`target                        p99 under the flood < 100 ms, none failed: ${met ? 'met' : 'NOT met'}`);
  // The line scripts/bench.mjs collects (see README, "Benchmarks").
  console.log(
    `RESULT ${JSON.stringify({
      name: 'connection-flood',
      metric: `another client's p99 under a flood of ${FLOOD} slow connections, ms`,
      value: Number(pct(sf, 99).toFixed(1)),
      baseline: Number(pct(sb, 99).toFixed(1)),
      ratio: Number((pct(sf, 99) / pct(sb, 99)).toFixed(2)),
      target: 'value < 100 ms, none failed',
      met,
    })}`,
  );
  clearTimeout(watchdog);
  server.send({ type: 'stop' });
  flooder.kill();
  await new Promise((r) => server.once('exit', r));
  process.exit(met ? 0 : 1);
}

if (process.argv[2] === '--server') await serverMain();
else if (process.argv[2] === '--flood') floodMain();
else await benchMain();
