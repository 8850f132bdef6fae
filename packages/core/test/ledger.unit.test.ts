import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AppError,
  accountCode,
  assertBalanced,
  formatMoney,
  mergeLines,
  parseAccountCode,
  parseBps,
  parseMoney,
  splitSettlement,
} from '../src/index.ts';

test('splitSettlement: the parts always add up to the value, the platform takes the remainder', () => {
  // 10.01 at 1.5 % fee: 15.015 → 15 half up; 0.5 % reward: 5.005 → 5 down; platform 10.
  assert.deepEqual(splitSettlement(1001, 150, 50), { merchant: 986, fee: 15, reward: 5, platform: 10 });
  // Half a cent of fee rounds up (the money rule), half a cent of reward rounds down.
  assert.deepEqual(splitSettlement(100, 50, 50), { merchant: 99, fee: 1, reward: 0, platform: 1 });
  assert.deepEqual(splitSettlement(3616, 0, 0), { merchant: 3616, fee: 0, reward: 0, platform: 0 });
  assert.deepEqual(splitSettlement(1, 10_000, 10_000), { merchant: 0, fee: 1, reward: 1, platform: 0 });
  // A reward above the fee is paid by the platform.
  assert.deepEqual(splitSettlement(10_000, 100, 300), { merchant: 9_900, fee: 100, reward: 300, platform: -200 });
  for (let v = 0; v < 3000; v += 7) {
    for (const [f, r] of [
      [0, 0],
      [1, 1],
      [33, 17],
      [250, 100],
      [9999, 1],
      [10_000, 0],
    ] as const) {
      const s = splitSettlement(v, f, r);
      assert.equal(s.merchant + s.reward + s.platform, v, `${v} ${f} ${r}`);
      assert.equal(s.fee, v - s.merchant);
      assert.ok(s.merchant >= 0 && s.reward >= 0 && s.fee >= 0);
      for (const n of Object.values(s)) assert.ok(Number.isSafeInteger(n));
    }
  }
  assert.throws(() => splitSettlement(-1, 0, 0), AppError);
  assert.throws(() => splitSettlement(1.5, 0, 0), AppError);
  assert.throws(() => splitSettlement(100, 10_001, 0), AppError);
});

test('parseMoney / formatMoney: two decimals, integer minor units, signs only where allowed', () => {
  assert.equal(parseMoney('1000.00'), 100_000);
  assert.equal(parseMoney('1000.5'), 100_050);
  assert.equal(parseMoney(' 12 '), 1200);
  assert.equal(parseMoney('0.01'), 1);
  assert.equal(parseMoney('-12.30', { signed: true }), -1230);
  assert.equal(parseMoney('+5', { signed: true }), 500);
  for (const bad of ['-1', '0', '0.00', '1.234', '1e3', 'abc', '', '1,00', '01', 'NaN', '10000000000000', null, undefined, {}]) {
    assert.throws(
      () => parseMoney(bad),
      (e: unknown) => e instanceof AppError && e.code === 'INVALID_AMOUNT',
      String(bad),
    );
  }
  assert.equal(formatMoney(0), '0.00');
  assert.equal(formatMoney(5), '0.05');
  assert.equal(formatMoney(100_050), '1000.50');
  assert.equal(formatMoney(-1230), '-12.30');
  for (const n of [1, 99, 100, 12_345, 99_999_999_999]) {
    assert.equal(parseMoney(formatMoney(n)), n);
    assert.equal(parseMoney(formatMoney(-n), { signed: true }), -n);
  }
});

test('entries: merged per account, zero lines dropped, must sum to zero', () => {
  const lines = mergeLines([
    { account: 'trader_held:1', amount: -500 },
    { account: 'trader_deposit:1', amount: 500 },
    { account: 'trader_deposit:1', amount: -500 },
    { account: 'merchant:2', amount: 490 },
    { account: 'platform', amount: 10 },
  ]);
  assert.deepEqual(lines, [
    { account: 'merchant:2', amount: 490 },
    { account: 'platform', amount: 10 },
    { account: 'trader_held:1', amount: -500 },
  ]);
  assertBalanced(lines);
  assertBalanced([]);
  assert.throws(() => assertBalanced([{ account: 'a', amount: 1 }]), /does not balance/);
  assert.throws(
    () =>
      assertBalanced([
        { account: 'a', amount: 0.5 },
        { account: 'b', amount: -0.5 },
      ]),
    /integer/,
  );
});

test('account codes and basis points', () => {
  assert.equal(accountCode('merchant', '5'), 'merchant:5');
  assert.equal(accountCode('platform'), 'platform');
  assert.throws(() => accountCode('trader_deposit', null), AppError);
  assert.deepEqual(parseAccountCode('trader_rewards:12'), { kind: 'trader_rewards', ownerId: '12', code: 'trader_rewards:12' });
  assert.deepEqual(parseAccountCode('world'), { kind: 'world', ownerId: null, code: 'world' });
  for (const bad of ['merchant', 'merchant:0', 'merchant:-1', 'bank:1', 'merchant:1 ', 5])
    assert.throws(() => parseAccountCode(bad), AppError);
  assert.equal(parseBps(0), 0);
  assert.equal(parseBps('250'), 250);
  assert.equal(parseBps(10_000), 10_000);
  for (const bad of [-1, 10_001, 1.5, '1.5', 'x', null]) assert.throws(() => parseBps(bad), AppError);
});
