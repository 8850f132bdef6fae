import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SANDBOX_TOKEN_PREFIX, TOKEN_PREFIX_LIST, TOKEN_PREFIXES, TOKEN_RE } from '../src/index.ts';

const BODY = `${'A'.repeat(42)}_`;

test('the token shape follows the prefixes', () => {
  assert.deepEqual([...TOKEN_PREFIX_LIST], ['nlm_test', 'nlm', 'nlt', 'nla']);
  for (const prefix of [...Object.values(TOKEN_PREFIXES), SANDBOX_TOKEN_PREFIX]) {
    assert.ok(TOKEN_RE.test(`${prefix}_${BODY}`), prefix);
    assert.ok(!TOKEN_RE.test(`${prefix}_${BODY}x`), `${prefix}: one character too many`);
    assert.ok(!TOKEN_RE.test(`${prefix}_${BODY.slice(1)}`), `${prefix}: one character short`);
  }
  for (const stranger of [`nlx_${BODY}`, `nlm-${BODY}`, ` nlm_${BODY}`, `nlm_${BODY.slice(1)}!`])
    assert.ok(!TOKEN_RE.test(stranger), stranger);
});
