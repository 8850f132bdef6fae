import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, publicEncrypt } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { AppError } from '@nltrade/core';
import { RsaPool } from '../src/crypto/rsa-pool.ts';

const pair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const keys = new Map([
  [1, pair()],
  [2, pair()],
]);
const encrypt = (keyId: number, value: unknown): Buffer =>
  publicEncrypt({ key: keys.get(keyId)!.publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(JSON.stringify(value)));

describe('RSA worker pool', () => {
  const loads: number[] = [];
  const pool = new RsaPool({
    threads: 2,
    queuePerMerchant: 100,
    loadPem: async (keyId) => {
      loads.push(keyId);
      const pem = keys.get(keyId)?.privateKey;
      if (keyId === 99) return 'not a pem';
      if (!pem) throw new AppError('INTERNAL', `no key ${keyId}`);
      return pem;
    },
  });
  after(() => pool.close());

  it('decrypts many requests in parallel on its threads, each to its own request', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) => pool.decrypt('m1', [1], encrypt(1, { type: 'get', n: i, verificationWord: 'bandasosamba' }))),
    );
    outcomes.forEach((o, i) => {
      assert.equal(o.index, 0);
      assert.deepEqual(o.request, { type: 'get', n: i, verificationWord: 'bandasosamba' });
    });
    assert.deepEqual(loads, [1], 'the PEM is loaded once and kept');
  });

  it('tries every key and reports the first that yields a request', async () => {
    const request = { type: 'get', verificationWord: 'bandasosamba' };
    assert.equal((await pool.decrypt('m1', [1, 2], encrypt(2, request))).index, 1);
    assert.equal((await pool.decrypt('m1', [2, 1], encrypt(2, request))).index, 0);
    assert.deepEqual(await pool.decrypt('m1', [1], encrypt(2, request)), { index: -1, request: null });
    assert.deepEqual(await pool.decrypt('m1', [1, 2], encrypt(1, { type: 'get' })), { index: -1, request: null }, 'no verification word');
    assert.deepEqual(await pool.decrypt('m1', [], encrypt(1, request)), { index: -1, request: null });
    assert.deepEqual(await pool.decrypt('m1', [1], Buffer.from('short')), { index: -1, request: null });
  });

  it('a key that cannot be loaded fails that request only', async () => {
    await assert.rejects(pool.decrypt('m1', [3], encrypt(1, {})), (err: unknown) => err instanceof AppError && err.code === 'INTERNAL');
    await assert.rejects(pool.decrypt('m1', [99], encrypt(1, {})), (err: unknown) => err instanceof AppError && err.code === 'INTERNAL');
    const ok = await pool.decrypt('m1', [1], encrypt(1, { verificationWord: 'bandasosamba' }));
    assert.equal(ok.index, 0);
  });

  it('refuses work once closed', async () => {
    const closing = new RsaPool({ threads: 1, queuePerMerchant: 1, loadPem: async () => keys.get(1)!.privateKey });
    await closing.start();
    await closing.close();
    await assert.rejects(
      closing.decrypt('m1', [1], encrypt(1, {})),
      (err: unknown) => err instanceof AppError && err.code === 'UNAVAILABLE',
    );
  });
});
