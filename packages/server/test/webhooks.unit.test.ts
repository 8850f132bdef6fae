import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWebhookSignature } from '@nltrade/core';
import { signWebhook, verifyWebhook, WebhookVerificationError } from '@nltrade/sdk';
import { isPublicAddress, refuseUrl } from '../src/workers/webhook-http.ts';
import { backoffMs, signatureHeader } from '../src/workers/webhooks.ts';

test('public and non-public addresses, IPv4 and IPv6', () => {
  for (const a of ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111']) assert.equal(isPublicAddress(a), true, a);
  for (const a of [
    '127.0.0.1',
    '10.2.3.4',
    '172.20.0.1',
    '192.168.0.1',
    '100.64.1.1',
    '169.254.169.254',
    '0.0.0.0',
    '224.0.0.1',
    '::',
    '::1',
    '::ffff:127.0.0.1',
    '::ffff:8.8.8.8',
    'fe80::1',
    'fd00::1',
    '64:ff9b::a00:1',
    '2002:a00:1::1',
    'not an address',
  ]) {
    assert.equal(isPublicAddress(a), false, a);
  }
  assert.equal(refuseUrl(new URL('https://example.com/x'), false), null);
  assert.match(String(refuseUrl(new URL('http://example.com/x'), false)), /https/);
  assert.equal(refuseUrl(new URL('http://127.0.0.1:3000/x'), true), null);
});

test('backoff doubles from the base, with jitter in its lower half, and is capped at a day', () => {
  assert.equal(
    backoffMs(1, 1000, () => 0),
    500,
  );
  assert.equal(
    backoffMs(1, 1000, () => 1),
    1000,
  );
  assert.equal(
    backoffMs(4, 1000, () => 1),
    8000,
  );
  assert.equal(
    backoffMs(5, 1000, () => 0.5),
    12_000,
  );
  assert.equal(
    backoffMs(60, 30_000, () => 1),
    24 * 3600_000,
  );
});

test('the server signs as the SDK verifies; signWebhook makes the same header', () => {
  const body = JSON.stringify({ id: 'evt_1', object: 'event', type: 'invoice.created', created: 1, sequence: 1, data: {} });
  const header = signatureHeader(body, ['whsec_a', 'whsec_b'], 1_700_000_000);
  assert.equal(header, signWebhook(body, ['whsec_a', 'whsec_b'], 1_700_000_000));
  assert.equal(parseWebhookSignature(header)?.v1.length, 2);
  const now = 1_700_000_000_000;
  assert.equal(verifyWebhook(body, header, 'whsec_b', { now }).id, 'evt_1');
  assert.equal(verifyWebhook(Buffer.from(body), header, ['whsec_x', 'whsec_a'], { now }).id, 'evt_1');
  for (const [args, code] of [
    [[body, header, 'whsec_c', { now }], 'WEBHOOK_SIGNATURE_MISMATCH'],
    [[body, 't=1700000000', 'whsec_a', { now }], 'WEBHOOK_SIGNATURE_MALFORMED'],
    [[body, '', 'whsec_a', { now }], 'WEBHOOK_SIGNATURE_MISSING'],
    [[body, header, [], { now }], 'WEBHOOK_SECRET_MISSING'],
    [[body, header, 'whsec_a', { now: now + 301_000 }], 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE'],
    [['{"x":1}', signWebhook('{"x":1}', 'whsec_a', 1_700_000_000), 'whsec_a', { now }], 'WEBHOOK_BODY_INVALID'],
  ] as const) {
    assert.throws(
      () => verifyWebhook(...(args as unknown as Parameters<typeof verifyWebhook>)),
      (e: unknown) => e instanceof WebhookVerificationError && e.code === code,
      code,
    );
  }
  assert.equal(verifyWebhook(body, header, 'whsec_a', { now: now + 299_000 }).id, 'evt_1');
});
