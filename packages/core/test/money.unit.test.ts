import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, convertAtRate, formatAmount, formatAmountFixed, parseAmount, parseRate } from '../src/index.ts';

test('parseAmount accepts plain decimals into minor units', () => {
  assert.equal(parseAmount('1'), 100);
  assert.equal(parseAmount('100.5'), 10_050);
  assert.equal(parseAmount('100.50'), 10_050);
  assert.equal(parseAmount(' 0.01 '), 1);
  assert.equal(parseAmount(1500), 150_000);
  assert.equal(parseAmount('1000000000'), 100_000_000_000);
});

test('parseAmount refuses everything else with INVALID_AMOUNT', () => {
  for (const bad of [
    '',
    '0',
    '0.00',
    '-1',
    '+1',
    '1e3',
    '1.001',
    '01',
    '1,50',
    '.5',
    '5.',
    'NaN',
    'Infinity',
    '1000000000.01',
    '99999999999999',
    null,
    undefined,
    {},
    [],
    true,
    Number.NaN,
    0.1 + 0.2,
  ]) {
    assert.throws(
      () => parseAmount(bad),
      (e: unknown) => e instanceof AppError && e.code === 'INVALID_AMOUNT',
      `accepted ${String(bad)}`,
    );
  }
});

test('formatting: send_value drops zero cents, recive_value always has two', () => {
  assert.equal(formatAmount(100), '1');
  assert.equal(formatAmount(10_050), '100.50');
  assert.equal(formatAmount(5), '0.05');
  assert.equal(formatAmountFixed(3), '0.03');
  assert.equal(formatAmountFixed(150_000), '1500.00');
});

test('conversion rounds half up to the cent, exactly', () => {
  // The protocol's sample record: 1 UAH at 39.81 → "0.03" (0.02512 rounds up).
  assert.equal(convertAtRate(100, '39.81'), 3);
  assert.equal(convertAtRate(150_000, '41.50'), 3_614); // 36.1445.. → 36.14
  assert.equal(convertAtRate(4_150, '41.50'), 100); // exactly 1.00
  // 0.125 → 0.13 (half up), 0.124999.. → 0.12
  assert.equal(convertAtRate(125, '10'), 13);
  assert.equal(convertAtRate(1_249, '100'), 12);
  // Large amounts stay exact (no float drift).
  assert.equal(convertAtRate(100_000_000_000, '41.50'), 2_409_638_554);
  assert.equal(convertAtRate(100, '0.00000001'), 10_000_000_000);
});

test('rates are positive decimals', () => {
  assert.deepEqual(parseRate('41.50').units, 4150n);
  for (const bad of ['0', '-1', 'abc', '1e2', '']) assert.throws(() => parseRate(bad));
});
