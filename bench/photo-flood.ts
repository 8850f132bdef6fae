// Receipt-photo flood benchmark (issue #9, section 1).
//   node --conditions=source --import tsx bench/photo-flood.ts
// SECONDS (10 per phase), RATE (100 GET/s from the other client), UPLOADS (12 at once). The
// server's own settings come from the environment as usual (PHOTO_DECODE_THREADS, …).
//
// Three processes, so nobody's CPU or memory is counted as another's: the server (it samples
// its own RSS every 10 ms and reads the kernel's high-water mark), an ordinary client that
// fetches GET /v1/checkout/:uid at a steady RATE (open loop: a late answer is measured from
// when the request was due, so a stall cannot hide by delaying the next request), and this
// one, the attacker, as the payer of the invoices. Over loopback, with the rate limits raised
// so that what is measured is the photo path, not the limiter. Phases:
//   baseline                         no attack
//   8 MB → unknown invoice, 1/s      the control: the same bytes, refused before the body is
//                                    read (404); what is left is taking them off the socket
//   7000² WebP → 1 invoice, 1/s      the attack from the issue, UPLOADS at once, repeated every
//                                    second for the phase: one holds the claim, the rest 409
//   7000² WebP → 12 invoices, 1/s    the same spread over 12 invoices (no claim to stop it):
//                                    each is refused from its first 128 KB
//   ~cap WebP → 12 invoices          square, just under PHOTO_MAX_PIXELS: every one is decoded,
//                                    so this is the decode pool's own bound (one wave)
//   stress: 8 MB → unknown invoice   UPLOADS always in flight (hundreds of MB/s over loopback),
//                                    refused unread: what bytes alone cost the event loop
//   stress: 7000² → 12 invoices      over-cap photos at that rate: compare with the line above
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';

const SECONDS = Number(process.env.SECONDS ?? 10);
const RATE = Number(process.env.RATE ?? 100);
const UPLOADS = Number(process.env.UPLOADS ?? 12);
const DEADLINE_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 600_000);
const ATTACKER_IP = '198.51.100.66';
const CLIENT_IP = '203.0.113.10';
const RSS_TARGET_MB = 600;
const P99_TARGET_MS = 200;

type ToServer = { type: 'invoices'; count: number } | { type: 'phase' } | { type: 'peak' } | { type: 'stop' };
type FromServer =
  | { type: 'ready'; url: string; uid: string; threads: number; queue: number; maxPixels: number; rss: number }
  | { type: 'invoices'; uids: string[] }
  | { type: 'phase' }
  | { type: 'peak'; sampledRss: number; hwm: number | null; cpuMs: number; maxRunning: number; maxQueued: number; loopP99: number };
type ToClient = { type: 'start' } | { type: 'stop' };
type FromClient = { type: 'ready' } | { type: 'latencies'; ms: number[]; failed: number };

/** CLOCK_MONOTONIC in ms. */
const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const MB = 2 ** 20;
const attackAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

// A child whose parent died (a crash, ^C) goes too, rather than holding the terminal open.
if (process.argv[2]?.startsWith('--')) process.once('disconnect', () => process.exit(0));
if (process.argv[2] === '--server') await serverMain();
else if (process.argv[2] === '--client') await clientMain(process.argv[3] ?? '', process.argv[4] ?? '');
else await benchMain();

/** Peak RSS since the last reset, from the kernel (Linux): catches what a 5 ms sampler may miss. */
function highWaterMark(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function resetHighWaterMark(): void {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {}
}

async function serverMain(): Promise<void> {
  const { loadConfig } = await import('../packages/server/src/config.ts');
  const { createSystem } = await import('../packages/server/src/system.ts');
  const { startServer } = await import('../packages/server/src/start.ts');
  const send = (m: FromServer) => process.send?.(m);
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dataDir = fs.mkdtempSync(path.join(base, 'nltrade-bench-'));
  const config = loadConfig(process.env, {
    dataDir,
    port: 0,
    host: '127.0.0.1',
    rsaKeyBits: 2048,
    rsaThreads: 1,
    masterKey: randomBytes(32).toString('hex'),
    trustProxy: ['127.0.0.1/32'],
    checkoutRequestsPerMinute: 1_000_000,
    maxConnectionsPerIp: 10_000,
    logLevel: 'warn',
  });
  const system = await createSystem(config);
  const server = await startServer(config, { system, sweeper: { start: false } });
  const { merchantId } = await system.merchants.create('Bench shop');
  const trader = await system.accounts.create('trader', 'Bench trader');
  const t = { type: 'trader', id: trader.id } as const;
  const other = await system.invoices.create(merchantId, { title: 'Ordinary order', price: '250' });
  await system.invoices.bindIp(other.uid, CLIENT_IP);

  let sampled = 0;
  let maxRunning = 0;
  let maxQueued = 0;
  let cpu = process.cpuUsage();
  const sample = () => {
    sampled = Math.max(sampled, process.memoryUsage.rss());
    const stats = system.photos.decodeStats();
    maxRunning = Math.max(maxRunning, stats.running);
    maxQueued = Math.max(maxQueued, stats.queued);
  };
  setInterval(sample, 10).unref();
  // How long the server's own event loop was held up: tells a stall of the server apart from
  // a machine too busy to schedule the client (or the server) at all.
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();

  process.on('message', async (m: ToServer) => {
    if (m.type === 'invoices') {
      const uids: string[] = [];
      for (let i = 0; i < m.count; i++) {
        const { uid } = await system.invoices.create(merchantId, { title: `Disputed ${i}`, price: '100' });
        await system.invoices.bindIp(uid, ATTACKER_IP);
        await system.invoices.act(uid, 'accept', t);
        await system.invoices.act(uid, 'setCard', t, { card: '5555555555554444' });
        await system.invoices.act(uid, 'paid', { type: 'payer', id: ATTACKER_IP });
        await system.invoices.act(uid, 'dispute', t);
        uids.push(uid);
      }
      send({ type: 'invoices', uids });
    } else if (m.type === 'phase') {
      (globalThis as { gc?: () => void }).gc?.();
      resetHighWaterMark();
      sampled = 0;
      maxRunning = 0;
      maxQueued = 0;
      cpu = process.cpuUsage();
      loop.reset();
      sample();
      send({ type: 'phase' });
    } else if (m.type === 'peak') {
      sample();
      const used = process.cpuUsage(cpu);
      send({
        type: 'peak',
        sampledRss: sampled,
        hwm: highWaterMark(),
        cpuMs: (used.user + used.system) / 1000,
        maxRunning,
        maxQueued,
        loopP99: loop.percentile(99) / 1e6,
      });
    } else if (m.type === 'stop') {
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    }
  });
  const stats = system.photos.decodeStats();
  send({
    type: 'ready',
    url: server.url,
    uid: other.uid,
    threads: stats.threads,
    queue: config.photoDecodeQueue,
    maxPixels: config.photoMaxPixels,
    rss: process.memoryUsage.rss(),
  });
}

/** The ordinary client: GET /v1/checkout/:uid at RATE per second while told to. */
async function clientMain(url: string, uid: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const get = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.get(`${url}/v1/checkout/${uid}`, { agent, headers: { 'x-forwarded-for': CLIENT_IP } }, (res) => {
        res.resume();
        res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.once('error', reject);
    });
  await get(); // the connection and the route warm
  let running = false;
  let latencies: number[] = [];
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const loop = async () => {
    const interval = 1000 / RATE;
    const start = now();
    for (let i = 0; running; i++) {
      const due = start + i * interval;
      const wait = due - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!running) break;
      const p = get().then(
        () => {
          latencies.push(now() - due);
        },
        () => {
          failed++;
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  };
  let looping: Promise<void> = Promise.resolve();
  process.on('message', async (m: ToClient) => {
    if (m.type === 'start') {
      latencies = [];
      failed = 0;
      running = true;
      looping = loop();
    } else {
      running = false;
      await looping;
      await Promise.all(inFlight);
      process.send?.({ type: 'latencies', ms: latencies, failed } satisfies FromClient);
    }
  });
  process.send?.({ type: 'ready' } satisfies FromClient);
}

/** A photo-like WebP (smooth colour fields, some grain), cached between runs: encoding one takes a while. */
async function webpOf(width: number, height: number): Promise<Buffer> {
  const dir = path.join(os.tmpdir(), 'nltrade-photo-flood');
  const file = path.join(dir, `${width}x${height}.webp`);
  if (fs.existsSync(file)) return fs.readFileSync(file);
  fs.mkdirSync(dir, { recursive: true });
  const grain = await sharp({
    create: {
      width: Math.ceil(width / 8),
      height: Math.ceil(height / 8),
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 60 },
    },
  })
    .png()
    .toBuffer();
  const data = await sharp(grain).resize(width, height, { kernel: 'cubic' }).webp({ quality: 80, effort: 1 }).toBuffer();
  fs.writeFileSync(file, data);
  return data;
}

interface Outcome {
  answers: Map<string, number>;
}

/** A multipart body built once: the attacker's own CPU should not be what slows the machine. */
function multipart(file: Buffer): { body: Buffer; type: string } {
  const boundary = `----nltrade${randomBytes(8).toString('hex')}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="receipt.webp"\r\nContent-Type: image/webp\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    type: `multipart/form-data; boundary=${boundary}`,
  };
}

function uploadOnce(url: string, uid: string, photo: { body: Buffer; type: string }, outcome: Outcome): Promise<void> {
  const count = (key: string) => outcome.answers.set(key, (outcome.answers.get(key) ?? 0) + 1);
  return new Promise<void>((resolve) => {
    const req = http.request(`${url}/v1/checkout/${uid}/photo`, {
      method: 'POST',
      agent: attackAgent,
      headers: { 'content-type': photo.type, 'content-length': photo.body.length, 'x-forwarded-for': ATTACKER_IP },
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        let code = '';
        try {
          code = (JSON.parse(Buffer.concat(chunks).toString()) as { code?: string }).code ?? '';
        } catch {}
        count(`${res.statusCode}${code ? ` ${code}` : ''}`);
        resolve();
      });
    });
    req.once('error', (err) => {
      count(`error ${err.message}`);
      resolve();
    });
    req.end(photo.body);
  });
}

async function benchMain(): Promise<void> {
  const execArgv = ['--conditions=source', '--import', 'tsx'];
  const server = fork(import.meta.filename, ['--server'], {
    execArgv: [...execArgv, '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const watchdog = setTimeout(() => {
    console.error(`bench: gave up after ${DEADLINE_MS} ms`);
    server.kill('SIGKILL');
    process.exit(2);
  }, DEADLINE_MS);
  server.once('exit', (code) => {
    console.error(`bench: server exited with ${code}`);
    process.exit(2);
  });
  const ready = await receive<FromServer, 'ready'>(server, 'ready');
  const client = fork(import.meta.filename, ['--client', ready.url, ready.uid], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await receive<FromClient, 'ready'>(client, 'ready');
  console.log(
    `server: ${ready.threads} decoder(s), queue ${ready.queue}, cap ${(ready.maxPixels / 1e6).toFixed(0)} MP, RSS at start ${(ready.rss / MB).toFixed(0)} MB; ` +
      `${os.availableParallelism()} CPUs, Node ${process.version}`,
  );

  const t0 = now();
  const attack = await webpOf(7000, 7000);
  // Square and just under the server's cap: every one of them must be decoded.
  const side = Math.floor(Math.sqrt(ready.maxPixels) * 0.995);
  const atCap = await webpOf(side, side);
  console.log(
    `images: 7000×7000 WebP ${(attack.length / MB).toFixed(1)} MB, ${side}×${side} WebP ${(atCap.length / MB).toFixed(1)} MB (${((now() - t0) / 1000).toFixed(1)} s)`,
  );
  const invoices = async (count: number) => (await ask<FromServer, 'invoices'>(server, { type: 'invoices', count }, 'invoices')).uids;

  interface Row {
    name: string;
    rssMb: number;
    cpuS: number;
    p50: number;
    p99: number;
    n: number;
    failed: number;
  }
  async function phase(name: string, attackFor: (until: number, outcome: Outcome) => Promise<void>): Promise<Row> {
    await ask<FromServer, 'phase'>(server, { type: 'phase' }, 'phase');
    const outcome: Outcome = { answers: new Map() };
    client.send({ type: 'start' } satisfies ToClient);
    const until = now() + SECONDS * 1000;
    await attackFor(until, outcome);
    const rest = until - now();
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    const lat = await ask<FromClient, 'latencies'>(client, { type: 'stop' }, 'latencies');
    const peak = await ask<FromServer, 'peak'>(server, { type: 'peak' }, 'peak');
    const sorted = lat.ms.sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
    const row: Row = {
      name,
      rssMb: Math.max(peak.sampledRss, peak.hwm ?? 0) / MB,
      cpuS: peak.cpuMs / 1000,
      p50: pct(50),
      p99: pct(99),
      n: sorted.length,
      failed: lat.failed,
    };
    const answers = [...outcome.answers]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${v}× ${k}`)
      .join(', ');
    console.log(
      `${name.padEnd(36)} peak RSS ${row.rssMb.toFixed(0).padStart(4)} MB   server CPU ${row.cpuS.toFixed(1).padStart(5)} s   ` +
        `other client p50 ${row.p50.toFixed(1)} ms p99 ${row.p99.toFixed(1)} ms (${row.n} requests, ${row.failed} failed)   ` +
        `server loop delay p99 ${peak.loopP99.toFixed(1)} ms   pool max ${peak.maxRunning} running ${peak.maxQueued} queued   uploads: ${answers || '—'}`,
    );
    return row;
  }
  type Body = { body: Buffer; type: string };
  /** The issue's attack: UPLOADS at once; the next wave a second after the last began (or when it ends, if later). */
  const waves = (uids: string[], photo: Body) => async (until: number, outcome: Outcome) => {
    while (now() < until) {
      const began = now();
      await Promise.all(Array.from({ length: UPLOADS }, (_v, i) => uploadOnce(ready.url, uids[i % uids.length] ?? '', photo, outcome)));
      const next = began + 1000;
      if (next >= until) break;
      if (next > now()) await new Promise((r) => setTimeout(r, next - now()));
    }
  };
  /** Stress: UPLOADS always in flight, each answered one replaced at once. */
  const sustained = (uids: string[], photo: Body) => async (until: number, outcome: Outcome) => {
    await Promise.all(
      Array.from({ length: UPLOADS }, async (_v, i) => {
        while (now() < until) await uploadOnce(ready.url, uids[i % uids.length] ?? '', photo, outcome);
      }),
    );
  };

  const attackBody = multipart(attack);
  const atCapBody = multipart(atCap);
  const one = await invoices(1);
  const many = await invoices(UPLOADS);
  const fresh = await invoices(UPLOADS);
  const baseline = await phase('baseline (no uploads)', async () => {});
  const floorWaves = await phase(`${UPLOADS}× 8 MB → unknown invoice, 1/s`, waves(['q'.repeat(30)], attackBody));
  const overOne = await phase(`${UPLOADS}× 7000² WebP → 1 invoice, 1/s`, waves(one, attackBody));
  const overMany = await phase(`${UPLOADS}× 7000² WebP → ${UPLOADS} invoices, 1/s`, waves(many, attackBody));
  const underCap = await phase(`${UPLOADS}× ${side}² WebP → ${UPLOADS} invoices`, async (_until, outcome) => {
    // One wave: an accepted photo moves its invoice on, so a second would only be refused.
    await Promise.all(fresh.map((uid) => uploadOnce(ready.url, uid, atCapBody, outcome)));
  });
  const floor = await phase(`stress: ${UPLOADS}× 8 MB → unknown invoice`, sustained(['q'.repeat(30)], attackBody));
  const stress = await phase(`stress: ${UPLOADS}× 7000² → ${UPLOADS} invoices`, sustained(many, attackBody));
  const baseline2 = await phase('baseline again', async () => {});

  const base99 = Math.max(baseline.p99, baseline2.p99);
  console.log('');
  console.log(`baseline p99 ${baseline.p99.toFixed(1)} / ${baseline2.p99.toFixed(1)} ms (before / after); ratios to the larger`);
  let ok = true;
  for (const row of [floorWaves, overOne, overMany, underCap, floor, stress]) {
    const rssOk = row.rssMb < RSS_TARGET_MB;
    const p99Ok = row.p99 < P99_TARGET_MS;
    if (row === overOne || row === overMany) ok &&= rssOk && p99Ok && row.failed === 0;
    console.log(
      `${row.name.padEnd(36)} RSS ${row.rssMb.toFixed(0)} MB (< ${RSS_TARGET_MB}: ${rssOk ? 'yes' : 'NO'})   ` +
        `p99 ${row.p99.toFixed(1)} ms (< ${P99_TARGET_MS}: ${p99Ok ? 'yes' : 'NO'}), ${(row.p99 / base99).toFixed(1)}× baseline`,
    );
  }
  console.log(`targets for the issue's attack (the two 7000² phases at 1/s): ${ok ? 'met' : 'NOT met'}`);

  client.kill();
  server.removeAllListeners('exit');
  server.send({ type: 'stop' } satisfies ToServer);
  await new Promise((r) => server.once('exit', r));
  clearTimeout(watchdog);
  process.exit(ok ? 0 : 1);
}

function receive<M extends { type: string }, T extends M['type']>(child: ChildProcess, type: T): Promise<Extract<M, { type: T }>> {
  return new Promise((resolve) => {
    const on = (m: M) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as Extract<M, { type: T }>);
    };
    child.on('message', on);
  });
}

function ask<M extends { type: string }, T extends M['type']>(
  child: ChildProcess,
  message: object,
  reply: T,
): Promise<Extract<M, { type: T }>> {
  const answer = receive<M, T>(child, reply);
  child.send(message);
  return answer;
}
