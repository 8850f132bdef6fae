import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AppError } from '@nltrade/core';
import { RsaPool } from '../src/crypto/rsa-pool.ts';

// The real pool with its real workers (raw RSA + implicit-rejection unpadding). Nothing here
// measures time: only the order in which decryptions finish, and who gets refused.

const pair = (bits: number) =>
  generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const A_KEY = 1;
const B_KEY = 2;
// A's operations are the slow ones (4096 bits, several ms each): the test enqueues all its
// calls long before a worker is done with the first.
const keys = new Map([
  [A_KEY, pair(4096)],
  [B_KEY, pair(2048)],
]);
const encrypt = (keyId: number, value: unknown): Buffer =>
  publicEncrypt({ key: keys.get(keyId)!.publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(JSON.stringify(value)));
const request = (n: number) => ({ type: 'get', n, verificationWord: 'bandasosamba' });
/** What a flooding merchant sends: random bytes, which decrypt to a synthetic message. */
const garbage = () => randomBytes(512);

function poolOf(threads: number, queuePerMerchant: number): RsaPool {
  return new RsaPool({ threads, queuePerMerchant, loadPem: async (keyId) => keys.get(keyId)!.privateKey });
}

/** Loads both keys into the workers, so that later calls queue in the tick they are made. */
async function warm(pool: RsaPool): Promise<void> {
  await pool.start();
  await Promise.all([pool.decrypt('A', [A_KEY], encrypt(A_KEY, request(0))), pool.decrypt('B', [B_KEY], encrypt(B_KEY, request(0)))]);
}

describe('RSA pool fairness between merchants', () => {
  for (const threads of [1, 2]) {
    describe(`${threads} thread(s)`, () => {
      let pool: RsaPool;
      before(async () => {
        pool = poolOf(threads, 100);
        await warm(pool);
      });
      after(() => pool.close());

      it("merchant B's one request is not queued behind merchant A's fifty", async () => {
        const order: string[] = [];
        const flood = Array.from({ length: 50 }, () => pool.decrypt('A', [A_KEY], garbage()).finally(() => order.push('A')));
        const mine = pool.decrypt('B', [B_KEY], encrypt(B_KEY, request(1))).finally(() => order.push('B'));
        const during = pool.stats();
        assert.equal(during.threads, threads);
        // Each worker holds at most three: the one it runs and two offered in its mailbox.
        assert.ok(during.queued >= 51 - 3 * threads, JSON.stringify(during));
        assert.ok(during.merchantsQueued >= 1, JSON.stringify(during));
        const outcome = await mine;
        assert.deepEqual(outcome, { index: 0, request: request(1) });
        for (const o of await Promise.all(flood)) assert.deepEqual(o, { index: -1, request: null });
        // When B arrives each worker holds at most three of A's (the one it runs, two offered
        // in its mailbox); B takes the place of the next one a worker would take, and if that
        // worker took it a moment earlier, B's operation has the smallest tag and goes into
        // the next free mailbox entry. Usually it finishes among the first few. On a starved
        // machine the workers run ahead of this thread (each may finish all three it holds
        // before the pool hears of one) and replies queue up before B's, so the bound is
        // loose; first come first served, B would be the 51st whatever the machine does.
        const position = order.indexOf('B');
        assert.ok(position < 25, `B finished as number ${position + 1} of 51: ${order.join('')}`);
        const after = pool.stats();
        assert.equal(after.queued, 0);
        assert.equal(after.merchantsQueued, 0);
        assert.equal(after.busy, 0);
        assert.equal(after.completed - during.completed, 51);
      });

      it('two merchants with work waiting take turns', async () => {
        const order: string[] = [];
        const a = Array.from({ length: 20 }, () => pool.decrypt('A', [A_KEY], garbage()).finally(() => order.push('A')));
        const b = Array.from({ length: 20 }, (_, i) =>
          pool.decrypt('B', [B_KEY], encrypt(B_KEY, request(i))).finally(() => order.push('B')),
        );
        const outcomes = await Promise.all(b);
        for (const [i, o] of outcomes.entries()) assert.deepEqual(o, { index: 0, request: request(i) });
        await Promise.all(a);
        // A's first few were in the workers' mailboxes before B's arrived (up to three per
        // worker); after those the two take turns, so B finishes about half of the rest of the
        // first twenty. First come first served, B would finish none of them.
        const firstHalf = order.slice(0, 20).filter((m) => m === 'B').length;
        assert.ok(firstHalf >= 5, `B finished ${firstHalf} of the first 20: ${order.join('')}`);
      });
    });
  }

  it('a decryption with several keys is one operation per key, and still reports the first key that fits', async () => {
    const pool = poolOf(2, 10);
    try {
      await warm(pool);
      const before = pool.stats().completed;
      assert.deepEqual(await pool.decrypt('A', [B_KEY, A_KEY], encrypt(A_KEY, request(7))), { index: 1, request: request(7) });
      assert.deepEqual(await pool.decrypt('A', [A_KEY, B_KEY], garbage()), { index: -1, request: null });
      assert.equal(pool.stats().completed - before, 4);
    } finally {
      await pool.close();
    }
  });

  it('a merchant beyond its bound is refused (UNAVAILABLE, with a Retry-After); others are not', async () => {
    const pool = poolOf(1, 5);
    try {
      await warm(pool);
      const flood = Array.from({ length: 8 }, () => pool.decrypt('A', [A_KEY], garbage()));
      const mine = pool.decrypt('B', [B_KEY], encrypt(B_KEY, request(3)));
      const settled = await Promise.allSettled(flood);
      const refused = settled.filter(
        (s) =>
          s.status === 'rejected' &&
          s.reason instanceof AppError &&
          s.reason.code === 'UNAVAILABLE' &&
          s.reason.status === 503 &&
          s.reason.details?.retryAfterSeconds === 1,
      );
      assert.equal(refused.length, 3, JSON.stringify(settled.map((s) => s.status)));
      assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 5);
      assert.deepEqual(await mine, { index: 0, request: request(3) });
      // The bound counts what is waiting, not what was ever sent: A is served again.
      assert.deepEqual(await pool.decrypt('A', [A_KEY], encrypt(A_KEY, request(4))), { index: 0, request: request(4) });
    } finally {
      await pool.close();
    }
  });

  it('closing fails what is queued and what is running, and nothing hangs', async () => {
    const pool = poolOf(1, 100);
    await warm(pool);
    const flood = Promise.allSettled(Array.from({ length: 10 }, () => pool.decrypt('A', [A_KEY], garbage())));
    await pool.close();
    const settled = await flood;
    for (const s of settled) {
      if (s.status === 'rejected') assert.ok(s.reason instanceof AppError && s.reason.code === 'UNAVAILABLE');
    }
    assert.ok(settled.some((s) => s.status === 'rejected'));
  });
});
