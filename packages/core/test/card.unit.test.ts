import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AppError, formatCard, luhnValid, maskCard, parseCard } from '../src/index.ts';

test('Luhn', () => {
  assert.ok(luhnValid('4441114441114442'));
  assert.ok(luhnValid('4111111111111111'));
  assert.ok(!luhnValid('4111111111111112'));
});

test('parseCard normalises spaces and dashes and refuses junk', () => {
  assert.equal(parseCard('4111 1111-1111 1111'), '4111111111111111');
  // 19 digits (Maestro, some UnionPay) are fine.
  assert.equal(parseCard('6759 6498 2643 8453 600'.replace(/.$/, String(luhnDigit('675964982643845360')))).length, 19);
  for (const bad of [
    '4111',
    'abcd',
    '4111111111111112',
    '4111 1111 1111 111a',
    '',
    12,
    '4111\t1111 1111 1111',
    '4111\u00001111 1111 1111',
  ]) {
    assert.throws(
      () => parseCard(bad),
      (e: AppError) => e.code === 'INVALID_CARD',
    );
  }
});

test('cards have 16 to 19 digits, and one repeated digit is no card', () => {
  // Luhn-valid all the same: 13 zeros, 16 zeros, 15 digits (Amex), 20 digits.
  for (const bad of ['0000000000000', '0000000000000000', '0000 0000 0000 0000', '378282246310005']) {
    assert.ok(luhnValid(bad.replace(/ /g, '')));
    assert.throws(
      () => parseCard(bad),
      (e: AppError) => e.code === 'INVALID_CARD',
      bad,
    );
  }
  assert.throws(() => parseCard('0000000000000000'), /one digit repeated/);
  assert.throws(() => parseCard('378282246310005'), /16 to 19 digits/);
  assert.throws(() => parseCard('41111111111111111111'), /16 to 19 digits/);
});

/** The digit that makes `payload` + digit Luhn-valid. */
function luhnDigit(payload: string): number {
  for (let d = 0; d <= 9; d++) if (luhnValid(payload + d)) return d;
  throw new Error('unreachable');
}

test('formatting and masking', () => {
  assert.equal(formatCard('4441114441114442'), '4441-1144-4111-4442');
  assert.equal(maskCard('4441114441114442'), '4441-11**-****-4442');
});
