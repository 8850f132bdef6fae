import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCard, luhnValid, maskCard, parseCard } from '../src/index.ts';

test('Luhn', () => {
  assert.ok(luhnValid('4441114441114442'));
  assert.ok(luhnValid('4111111111111111'));
  assert.ok(!luhnValid('4111111111111112'));
});

test('parseCard normalises spaces and dashes and refuses junk', () => {
  assert.equal(parseCard('4111 1111-1111 1111'), '4111111111111111');
  for (const bad of ['4111', 'abcd', '4111111111111112', '4111 1111 1111 111a', '', 12]) assert.throws(() => parseCard(bad));
});

test('formatting and masking', () => {
  assert.equal(formatCard('4441114441114442'), '4441-1144-4111-4442');
  assert.equal(maskCard('4441114441114442'), '4441-11**-****-4442');
});
