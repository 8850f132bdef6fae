import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ManualClock } from '../src/clock.ts';
import { createLimits, type Limits, type LimitsLog, type LimitsOptions } from '../src/limits/index.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const REDIS_URL = process.env.NLTRADE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/** Why Redis cannot be used here (outside CI, a missing Redis skips its suites); null when it can. */
async function redisUnavailable(): Promise<string | null> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (err) {
    if (process.env.CI) throw new Error(`Redis is required in CI but ${REDIS_URL} is unreachable: ${(err as Error).message}`);
    return `${REDIS_URL} unreachable (${(err as Error).message})`;
  } finally {
    client.disconnect();
  }
}

/** A documentation address no other run uses, so runs sharing one Redis never meet. */
const freshIp = () => `198.51.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

const eventually = async (what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> => {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

type Kind = 'memory' | 'postgres' | 'redis';

const kinds: Kind[] = [];
for (const db of await dbKinds()) kinds.push(db === 'sqlite' ? 'memory' : 'postgres');
kinds.push('redis');
const noRedis = await redisUnavailable();

/** The embedded database counts in memory; PostgreSQL and Redis are shared by processes. */
function describeStore(kind: Kind, name: string, fn: () => void): void {
  if (kind === 'redis' && noRedis !== null) {
    describe(name, () => test('every test of this suite', { skip: `Redis tier skipped: ${noRedis}` }, () => {}));
  } else {
    describeOn(kind === 'memory' ? 'sqlite' : 'postgres', name, fn);
  }
}

for (const kind of kinds) {
  describeStore(kind, `limits counted in ${kind}`, () => {
    const clock = new ManualClock();
    const prefix = `nltrade-test-${randomBytes(4).toString('hex')}:`;
    let t: TestSystem;
    const opened: Limits[] = [];
    /** Another server process's limits on the same store (its own holder id). */
    const process_ = (options: LimitsOptions = {}): Limits => {
      const limits = createLimits(t.system.config, t.system.storage, clock, { redisPrefix: prefix, ...options });
      opened.push(limits);
      return limits;
    };
    before(async () => {
      t = await testSystem(kind === 'postgres' ? 'postgres' : 'sqlite', kind === 'redis' ? { redisUrl: REDIS_URL } : {}, clock);
    });
    after(async () => {
      for (const l of opened) await l.close();
      await t.cleanup();
    });

    test('the store is the one the configuration names', () => {
      assert.equal(process_().store.kind, kind);
    });

    test('a fixed window: events within the budget pass, the next waits for the window to end, others are not affected', async () => {
      const limits = process_();
      const budget = limits.window('test-window', 3);
      const ip = freshIp();
      clock.advance(60_000 - (clock.now() % 60_000) + 15_000); // 15 s into a minute
      for (let i = 0; i < 3; i++) assert.equal(await budget.count(ip), 0);
      assert.equal(await budget.count(ip), 45, 'over: the seconds left in the window');
      assert.equal(await budget.count(ip), 45);
      assert.equal(await budget.count(freshIp()), 0, 'another client has its own budget');
      clock.advance(45_000);
      assert.equal(await budget.count(ip), 0, 'a new window');
    });

    test('slots: at most max held at once; a released slot can be taken again', async () => {
      const limits = process_();
      const ip = freshIp();
      const held = [];
      for (let i = 0; i < 3; i++) held.push(await limits.acquire('test-slots', ip, 3));
      assert.ok(held.every((s) => s !== null));
      assert.equal(await limits.acquire('test-slots', ip, 3), null);
      assert.notEqual(await limits.acquire('test-slots', freshIp(), 3), null, 'another client has its own slots');
      held[0]?.release();
      held[0]?.release(); // a second release gives nothing back twice
      await eventually('the released slot is free', async () => {
        const slot = await limits.acquire('test-slots', ip, 3);
        return slot !== null;
      });
      assert.equal(await limits.acquire('test-slots', ip, 3), null, 'only the one slot came back');
    });

    test('IPv6 clients are counted per /64', async () => {
      const limits = process_();
      const net = `2001:db8:${randomBytes(2).toString('hex')}:1`;
      assert.notEqual(await limits.acquire('test-v6', `${net}::1`, 2), null);
      assert.notEqual(await limits.acquire('test-v6', `${net}:ffff:0:0:2`, 2), null);
      assert.equal(await limits.acquire('test-v6', `${net}::3`, 2), null, 'same /64: same client');
      assert.notEqual(await limits.acquire('test-v6', '2001:db8:ffff:2::1', 2), null, 'another /64');
    });

    if (kind === 'memory') return;

    test('two processes count into one window', async () => {
      const a = process_().window('test-shared', 3);
      const b = process_().window('test-shared', 3);
      const ip = freshIp();
      assert.equal(await a.count(ip), 0);
      assert.equal(await b.count(ip), 0);
      assert.equal(await a.count(ip), 0);
      assert.ok((await b.count(ip)) > 0, 'the fourth event, counted by the other process, is over');
      assert.ok((await a.count(ip)) > 0);
    });

    test('two processes share the slots of a client', async () => {
      const a = process_();
      const b = process_();
      const ip = freshIp();
      const first = await a.acquire('test-shared-slots', ip, 3);
      assert.notEqual(first, null);
      assert.notEqual(await a.acquire('test-shared-slots', ip, 3), null);
      assert.notEqual(await b.acquire('test-shared-slots', ip, 3), null);
      assert.equal(await b.acquire('test-shared-slots', ip, 3), null, 'three held in total');
      assert.equal(await a.acquire('test-shared-slots', ip, 3), null);
      first?.release();
      await eventually('a slot released in one process is free in the other', async () => {
        return (await b.acquire('test-shared-slots', ip, 3)) !== null;
      });
    });

    test('a live process keeps its slots past their expiry: the heartbeat renews them', async () => {
      const a = process_({ heartbeatMs: 200, slotTtlMs: 3000 });
      const b = process_({ heartbeatMs: 200, slotTtlMs: 3000 });
      const ip = freshIp();
      for (let i = 0; i < 2; i++) (await a.acquire('test-renew', ip, 2))?.confirm();
      await new Promise((r) => setTimeout(r, 4500));
      assert.equal(await b.acquire('test-renew', ip, 2), null);
    });

    test('the slots of a process that crashed expire, and another process can take them', async () => {
      // The processes of earlier tests go away, so no sweep of theirs frees the slots here:
      // what is tested is that taking a slot ignores a share that was not renewed.
      for (const l of opened.splice(0)) await l.close();
      const ip = freshIp();
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        DATA_DIR: t.dataDir,
        DATABASE_URL: t.databaseUrl ?? '',
        NLTRADE_MASTER_KEY: t.system.config.masterKey,
        REDIS_URL: kind === 'redis' ? REDIS_URL : '',
        REDIS_PREFIX: prefix,
        HOLD: '2',
        IP: ip,
        HEARTBEAT_MS: '200',
        SLOT_TTL_MS: '1500',
      };
      const child: ChildProcess = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(import.meta.dirname, 'support', 'limits-child.ts')],
        {
          env,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout?.on('data', (d: Buffer) => {
            if (d.toString().includes('held')) resolve();
          });
          child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
        });
        // This process holds a slot of the same client and stays alive: the key as a whole
        // never expires, only the dead process's share in it may.
        const here = process_({ heartbeatMs: 200, slotTtlMs: 1500 });
        (await here.acquire('sockets', ip, 3))?.confirm();
        assert.equal(await here.acquire('sockets', ip, 3), null, 'the other process holds two of three');
        child.kill('SIGKILL');
        await eventually('the dead process’s slots expire', async () => (await here.acquire('sockets', ip, 3)) !== null);
      } finally {
        child.kill('SIGKILL');
      }
    });

    test('a process closing gives its slots back at once', async () => {
      const a = process_();
      const b = process_();
      const ip = freshIp();
      for (let i = 0; i < 2; i++) (await a.acquire('test-close', ip, 2))?.confirm();
      assert.equal(await b.acquire('test-close', ip, 2), null);
      await a.close();
      assert.notEqual(await b.acquire('test-close', ip, 2), null);
    });
  });
}

describe('limits when Redis is unreachable', () => {
  let t: TestSystem;
  before(async () => {
    t = await testSystem('sqlite', { redisUrl: 'redis://127.0.0.1:1' });
  });
  after(() => t.cleanup());

  test('each process counts on its own, and the failure is logged once', async () => {
    const clock = new ManualClock();
    const limits = createLimits(t.system.config, t.system.storage, clock);
    const errors: string[] = [];
    const log: LimitsLog = { warn: () => {}, info: () => {}, error: (_o, msg) => errors.push(msg) };
    limits.log = log;
    try {
      const budget = limits.window('down', 2);
      assert.equal(await budget.count('192.0.2.1'), 0);
      assert.equal(await budget.count('192.0.2.1'), 0);
      assert.ok((await budget.count('192.0.2.1')) > 0, 'the budget still holds, in this process');
      assert.notEqual(await limits.acquire('sockets', '192.0.2.1', 1), null);
      assert.equal(await limits.acquire('sockets', '192.0.2.1', 1), null, 'slots too');
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0] ?? '', /limits store failed/);
    } finally {
      await limits.close();
    }
  });
});
