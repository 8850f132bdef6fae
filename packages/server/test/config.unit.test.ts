import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { AppError } from '@nltrade/core';
import { configTable, defaultConfig, loadConfig, SETTINGS } from '../src/config.ts';

describe('configuration', () => {
  test('defaults are defined once: the README table is generated from them', () => {
    const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../../../README.md'), 'utf8');
    assert.ok(readme.includes(configTable()), 'README.md is stale: node --conditions=source --import tsx scripts/config-table.ts');
    const d = defaultConfig();
    assert.equal(d.port, 8080);
    assert.equal(d.maxConnectionsPerIp, 256);
    assert.equal(d.httpRequestTimeoutSeconds, 30);
    assert.deepEqual(d.trustProxy, []);
    assert.equal(new Set(SETTINGS.map((s) => s.env)).size, SETTINGS.length);
  });

  test('every bad value is reported, one line each, naming the variable', () => {
    const env = {
      PORT: '99999',
      RSA_KEY_BITS: '3001',
      NLTRADE_RATE: 'abc',
      DATABASE_URL: 'mysql://x',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'http://x',
    };
    try {
      loadConfig(env);
      assert.fail('accepted a bad configuration');
    } catch (err) {
      assert.ok(err instanceof AppError);
      const lines = err.message.split('\n').slice(1);
      assert.equal(lines.length, 6, err.message);
      for (const name of Object.keys(env))
        assert.ok(
          lines.some((l) => l.trim().startsWith(name)),
          name,
        );
      assert.match(err.message, /PORT must be an integer from 0 to 65535 \(got "99999"\)/);
    }
  });

  test('flags override the environment and are read like it', () => {
    const c = loadConfig({ PORT: '1', DATA_DIR: '/nope' }, { port: 2, dataDir: 'rel/dir' });
    assert.equal(c.port, 2);
    assert.equal(c.dataDir, path.resolve('rel/dir'));
    assert.throws(() => loadConfig({}, { databaseUrl: 'sqlite://x' }), /--database-url must be a postgres/);
  });

  test('several workers need PostgreSQL', () => {
    assert.throws(() => loadConfig({ WORKERS: '2' }), /WORKERS above 1 needs PostgreSQL/);
    assert.equal(loadConfig({ WORKERS: '2', DATABASE_URL: 'postgres://x/y' }).workers, 2);
  });

  test('key primes fit the key size', () => {
    assert.equal(loadConfig({}).rsaKeyPrimes, 2);
    assert.equal(loadConfig({ RSA_KEY_PRIMES: '0' }).rsaKeyPrimes, 0);
    assert.equal(loadConfig({ RSA_KEY_PRIMES: '4' }).rsaKeyPrimes, 4);
    assert.equal(loadConfig({ RSA_KEY_PRIMES: '2', RSA_KEY_BITS: '2048' }).rsaKeyPrimes, 2);
    assert.throws(() => loadConfig({ RSA_KEY_PRIMES: '4', RSA_KEY_BITS: '2048' }), /RSA_KEY_PRIMES must be 0 or 2 to 3 for 2048-bit keys/);
    assert.throws(() => loadConfig({ RSA_KEY_PRIMES: '1' }), /RSA_KEY_PRIMES must be 0 or 2 to 4/);
  });
});
