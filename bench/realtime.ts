// Realtime fan-out benchmark.
//   node --import tsx bench/realtime.ts            (SOCKETS=5000 CHANGES=1000 CONCURRENCY=4 by default)
// A server runs in a child process (so its memory is its own), SOCKETS socket.io clients in
// this one each join their own invoice's room over loopback, then the server commits CHANGES
// status changes (trader accepts) and we measure, per change, the time from the commit to
// the `invoce:refetch` arriving at the client, plus the server's memory per socket.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';

type ToServer =
  | { type: 'mem' }
  | { type: 'run'; count: number; concurrency: number }
  | { type: 'raw'; offsets: number[] }
  | { type: 'stop' };
type Mem = { rss: number; heapUsed: number; external: number; arrayBuffers: number };
type FromServer =
  | { type: 'ready'; url: string; uids: string[] }
  | ({ type: 'mem' } & Mem)
  | { type: 'committed'; times: [string, number][]; failed: number }
  | { type: 'emitted'; times: [string, number][] };

const SOCKETS = Number(process.env.SOCKETS ?? 5000);
const CHANGES = Number(process.env.CHANGES ?? 1000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4);
const CONNECT_BATCH = 250;
const DEADLINE_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 240_000);

/** CLOCK_MONOTONIC in ms: one clock for every process on the host, unlike performance.now(). */
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

if (process.argv[2] === '--server') await serverMain();
else await benchMain();

async function serverMain(): Promise<void> {
  const { loadConfig } = await import('../packages/server/src/config.ts');
  const { createSystem } = await import('../packages/server/src/system.ts');
  const { startServer } = await import('../packages/server/src/start.ts');
  const send = (m: FromServer) => process.send?.(m);
  // tmpfs when there is one: the fsync of each setup insert is not what is measured here.
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dataDir = fs.mkdtempSync(path.join(base, 'nltrade-bench-'));
  const config = loadConfig(
    {},
    {
      dataDir,
      port: 0,
      host: '127.0.0.1',
      rsaKeyBits: 2048,
      masterKey: randomBytes(32).toString('hex'),
      maxSocketsPerIp: SOCKETS + 100,
      // Every client is this one host: its connections are not a flood here.
      maxConnectionsPerIp: SOCKETS + 100,
      logLevel: 'warn',
    },
  );
  const system = await createSystem(config);
  // Subscribed before the realtime layer, so this runs first: right after the commit.
  const committedAt = new Map<string, number>();
  system.bus.subscribe((e) => {
    if (e.action === 'accept') committedAt.set(e.uid, now());
  });
  const server = await startServer(config, { system, sweeper: { start: false } });
  const { merchantId } = await system.merchants.create('Bench shop');
  const trader = await system.accounts.create('trader', 'Bench trader');
  const uids: string[] = [];
  for (let i = 0; i < SOCKETS; i++) uids.push((await system.invoices.create(merchantId, { title: `Bench ${i}`, price: '100' })).uid);
  send({ type: 'ready', url: server.url, uids });

  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', async (m: ToServer) => {
    if (m.type === 'mem') {
      for (let i = 0; i < 3; i++) {
        gc?.();
        await new Promise((r) => setTimeout(r, 50));
      }
      const u = process.memoryUsage();
      send({ type: 'mem', rss: u.rss, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers });
    } else if (m.type === 'run') {
      let next = 0;
      let failed = 0;
      const worker = async () => {
        while (next < m.count) {
          const uid = uids[next++];
          if (!uid) break;
          await system.invoices.act(uid, 'accept', { type: 'trader', id: trader.id }).catch(() => failed++);
        }
      };
      await Promise.all(Array.from({ length: m.concurrency }, worker));
      send({ type: 'committed', times: [...committedAt], failed });
    } else if (m.type === 'raw') {
      // The baseline: the same rooms told by a bare socket.io emit (no database, no service),
      // paced like the measured changes were, so both meet the clients equally busy.
      const times: [string, number][] = [];
      const start = now();
      for (const [i, offset] of m.offsets.entries()) {
        const uid = uids[i];
        if (!uid) break;
        while (now() < start + offset) await new Promise((r) => setImmediate(r));
        times.push([uid, now()]);
        server.realtime.io.to(`invoice:${uid}`).emit('invoce:refetch');
      }
      send({ type: 'emitted', times });
    } else if (m.type === 'stop') {
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    }
  });
}

async function benchMain(): Promise<void> {
  const child = fork(import.meta.filename, ['--server'], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const watchdog = setTimeout(() => {
    console.error(`bench: gave up after ${DEADLINE_MS} ms`);
    child.kill('SIGKILL');
    process.exit(2);
  }, DEADLINE_MS);
  child.once('exit', (code) => {
    if (code !== 0) {
      console.error(`bench: server exited with ${code}`);
      process.exit(2);
    }
  });

  const t0 = now();
  const ready = await receive(child, 'ready');
  console.log(`server ready with ${ready.uids.length} invoices in ${((now() - t0) / 1000).toFixed(1)} s (pid ${child.pid})`);
  const before = await request(child, { type: 'mem' }, 'mem');

  // Arrival times per invoice: the first from the measured change, the second from the
  // baseline's bare emit.
  const received = new Map<string, number[]>();
  const sockets: Socket[] = [];
  const tc = now();
  for (let i = 0; i < ready.uids.length; i += CONNECT_BATCH) {
    await Promise.all(
      ready.uids.slice(i, i + CONNECT_BATCH).map(
        (uid) =>
          new Promise<void>((resolve, reject) => {
            const s = io(ready.url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 20_000 });
            sockets.push(s);
            s.on('invoce:refetch', () => {
              const list = received.get(uid);
              if (list) list.push(now());
              else received.set(uid, [now()]);
            });
            s.once('connect_error', reject);
            s.once('ip:send', () => resolve());
            s.once('connect', () => s.emit('invoice:join', uid));
          }),
      ),
    );
  }
  const connectSeconds = (now() - tc) / 1000;
  const after = await request(child, { type: 'mem' }, 'mem');

  const count = Math.min(CHANGES, ready.uids.length);
  const arrived = (nth: number) => [...received.values()].filter((l) => l.length > nth).length;
  const waitFor = async (nth: number, total: number) => {
    const until = now() + 10_000;
    while (arrived(nth) < total && now() < until) await new Promise((r) => setTimeout(r, 20));
  };
  const committed = await request(child, { type: 'run', count, concurrency: CONCURRENCY }, 'committed');
  await waitFor(0, committed.times.length);
  const commitTimes = committed.times.map(([, at]) => at).sort((a, b) => a - b);
  const offsets = commitTimes.map((at) => at - (commitTimes[0] ?? at));
  const emitted = await request(child, { type: 'raw', offsets }, 'emitted');
  await waitFor(1, emitted.times.length);

  const latenciesOf = (times: [string, number][], nth: number) => {
    const out: number[] = [];
    let lost = 0;
    for (const [uid, at] of times) {
      const got = received.get(uid)?.[nth];
      if (got === undefined) lost++;
      else out.push(got - at);
    }
    return { sorted: out.sort((a, b) => a - b), lost };
  };
  const { sorted: latencies, lost: missing } = latenciesOf(committed.times, 0);
  const { sorted: baseline } = latenciesOf(emitted.times, 1);
  const stray = [...received.values()].reduce((sum, l) => sum + Math.max(0, l.length - 2), 0);
  const pctOf = (list: number[], p: number) => list[Math.min(list.length - 1, Math.ceil((p / 100) * list.length) - 1)] ?? Number.NaN;
  const pct = (p: number) => pctOf(latencies, p);
  const n = sockets.length;
  const kb = (bytes: number) => (bytes / n / 1024).toFixed(1);

  console.log('');
  console.log(`sockets                       ${n} (websocket, one room each, loopback), connected in ${connectSeconds.toFixed(1)} s`);
  console.log(`changes                       ${committed.times.length} committed (${committed.failed} failed), concurrency ${CONCURRENCY}`);
  console.log(
    `commit → invoce:refetch       p50 ${pct(50).toFixed(2)} ms   p90 ${pct(90).toFixed(2)} ms   p99 ${pct(99).toFixed(2)} ms   max ${pct(100).toFixed(2)} ms`,
  );
  console.log(
    `baseline: bare io.emit        p50 ${pctOf(baseline, 50).toFixed(2)} ms   p90 ${pctOf(baseline, 90).toFixed(2)} ms   p99 ${pctOf(baseline, 99).toFixed(2)} ms   (same rooms and pacing, no database)`,
  );
  console.log(
    `ratio to baseline             p50 ${(pct(50) / pctOf(baseline, 50)).toFixed(2)}   p99 ${(pct(99) / pctOf(baseline, 99)).toFixed(2)}`,
  );
  console.log(`delivery                      ${latencies.length} received, ${missing} missing, ${stray} to the wrong room or twice`);
  console.log(
    `server memory per socket      RSS ${kb(after.rss - before.rss)} KB   heap ${kb(after.heapUsed - before.heapUsed)} KB   external ${kb(after.external - before.external)} KB`,
  );
  console.log(`server RSS                    ${(before.rss / 2 ** 20).toFixed(0)} MB → ${(after.rss / 2 ** 20).toFixed(0)} MB`);
  // RSS can under-count (heap pages mapped during setup get reused), so judge by the larger figure.
  const perSocket = Math.max(after.rss - before.rss, after.heapUsed - before.heapUsed + after.external - before.external) / n;
  const ok = pct(99) < 50 && perSocket < 40 * 1024 && missing === 0 && stray === 0;
  console.log(`targets (p99 < 50 ms, < 40 KB/socket, all delivered): ${ok ? 'met' : 'NOT met'}`);
  // The lines scripts/bench.mjs collects (see README, "Benchmarks").
  const delivered = missing === 0 && stray === 0;
  const result = (r: object) => console.log(`RESULT ${JSON.stringify({ name: 'realtime', ...r })}`);
  result({
    metric: 'commit → invoce:refetch p99 vs bare io.emit p99, ms',
    value: Number(pct(99).toFixed(2)),
    baseline: Number(pctOf(baseline, 99).toFixed(2)),
    ratio: Number((pct(99) / pctOf(baseline, 99)).toFixed(2)),
    target: 'value < 50 ms, all delivered',
    met: pct(99) < 50 && delivered,
  });
  result({
    metric: 'server memory per socket, KB',
    value: Number((perSocket / 1024).toFixed(1)),
    baseline: null,
    ratio: null,
    target: '< 40 KB',
    met: perSocket < 40 * 1024,
  });

  for (const s of sockets) s.disconnect();
  child.removeAllListeners('exit');
  child.send({ type: 'stop' } satisfies ToServer);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(watchdog);
  process.exit(ok ? 0 : 1);
}

function receive<T extends FromServer['type']>(child: ChildProcess, type: T): Promise<Extract<FromServer, { type: T }>> {
  return new Promise((resolve) => {
    const on = (m: FromServer) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as Extract<FromServer, { type: T }>);
    };
    child.on('message', on);
  });
}

function request<T extends FromServer['type']>(
  child: ChildProcess,
  message: ToServer,
  reply: T,
): Promise<Extract<FromServer, { type: T }>> {
  const answer = receive(child, reply);
  child.send(message);
  return answer;
}
