import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { DecodePool } from '../src/services/image-pool.ts';
import { decodersFor } from '../src/services/photos.ts';

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { job: () => opened, open: () => open() };
}

const tick = () => new Promise((r) => setImmediate(r));

test('the pool runs `threads` jobs at once, queues `queue` more, and refuses the next with a Retry-After', async () => {
  const pool = new DecodePool({ threads: 2, queue: 1 });
  const gates = [gate(), gate(), gate()];
  const started: number[] = [];
  const jobs = gates.map((g, i) =>
    pool.run(async () => {
      started.push(i);
      await g.job();
      return i;
    }),
  );
  await tick();
  assert.deepEqual(started, [0, 1]);
  assert.deepEqual(pool.stats(), { running: 2, queued: 1, threads: 2 });
  assert.equal(pool.saturated, true);
  await assert.rejects(
    pool.run(async () => 'never'),
    (err: { code: string; details: { retryAfterSeconds: number } }) => {
      assert.equal(err.code, 'UNAVAILABLE');
      assert.ok(Number.isInteger(err.details.retryAfterSeconds) && err.details.retryAfterSeconds >= 1);
      return true;
    },
  );
  gates[0]?.open();
  assert.equal(await jobs[0], 0);
  await tick();
  // The freed slot went straight to the waiting job.
  assert.deepEqual(started, [0, 1, 2]);
  assert.deepEqual(pool.stats(), { running: 2, queued: 0, threads: 2 });
  gates[1]?.open();
  gates[2]?.open();
  assert.deepEqual(await Promise.all(jobs), [0, 1, 2]);
  assert.deepEqual(pool.stats(), { running: 0, queued: 0, threads: 2 });
});

test('a failing job frees its slot; a waiting job whose client left is dropped unrun', async () => {
  const pool = new DecodePool({ threads: 1, queue: 2 });
  const busy = gate();
  const first = pool.run(async () => {
    await busy.job();
    throw new Error('corrupt image');
  });
  const left = new AbortController();
  let ran = false;
  const abandoned = pool.run(async () => {
    ran = true;
  }, left.signal);
  const last = pool.run(async () => 'last');
  await tick();
  assert.deepEqual(pool.stats(), { running: 1, queued: 2, threads: 1 });
  left.abort();
  await assert.rejects(abandoned, { code: 'UNAVAILABLE' });
  assert.deepEqual(pool.stats(), { running: 1, queued: 1, threads: 1 });
  busy.open();
  await assert.rejects(first, /corrupt image/);
  assert.equal(await last, 'last');
  assert.equal(ran, false);
  assert.deepEqual(pool.stats(), { running: 0, queued: 0, threads: 1 });
});

test('with no queue, a busy pool refuses at once', async () => {
  const pool = new DecodePool({ threads: 1, queue: 0 });
  const busy = gate();
  const job = pool.run(busy.job);
  await assert.rejects(
    pool.run(async () => {}),
    { code: 'UNAVAILABLE' },
  );
  busy.open();
  await job;
  await pool.run(async () => {});
});

test('decoders: one per CPU for 0, and never all of libuv’s thread pool', () => {
  assert.equal(decodersFor(2, 4), 2);
  assert.equal(decodersFor(8, 4), 3, 'one libuv thread stays free for file and DNS work');
  assert.equal(decodersFor(8, 16), 8);
  assert.equal(decodersFor(3, 1), 1);
  assert.equal(decodersFor(0, 1024), Math.max(1, os.availableParallelism()));
});

test('a pixel budget: small photos decode side by side, a big one alone, and nobody overtakes a waiting big one', async () => {
  const pool = new DecodePool({ threads: 3, queue: 5, pixelBudget: 100 });
  const started: string[] = [];
  const gates = new Map<string, ReturnType<typeof gate>>();
  const run = (name: string, pixels: number) => {
    const g = gate();
    gates.set(name, g);
    return pool.run(
      async () => {
        started.push(name);
        await g.job();
      },
      undefined,
      pixels,
    );
  };
  const jobs = [run('small1', 30), run('small2', 30), run('big', 90), run('small3', 20)];
  await tick();
  // small3 would fit beside the two small ones, but the big one came first.
  assert.deepEqual(started, ['small1', 'small2']);
  gates.get('small1')?.open();
  await tick();
  assert.deepEqual(started, ['small1', 'small2'], 'the big one waits for the whole budget');
  gates.get('small2')?.open();
  await tick();
  assert.deepEqual(started, ['small1', 'small2', 'big', 'small3'].slice(0, 3));
  gates.get('big')?.open();
  await tick();
  assert.deepEqual(started, ['small1', 'small2', 'big', 'small3']);
  gates.get('small3')?.open();
  await Promise.all(jobs);
  // A photo over the whole budget still runs, on its own.
  const huge = gate();
  const alone = pool.run(() => huge.job(), undefined, 500);
  await tick();
  assert.deepEqual(pool.stats(), { running: 1, queued: 0, threads: 3 });
  huge.open();
  await alone;
});
