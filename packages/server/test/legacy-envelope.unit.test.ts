import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError, type ErrorCode } from '@nltrade/core';
import { encodePublicKey, legacyDate, legacyRecord, rot13 } from '../src/legacy/record.ts';
import { accessTokenOf, ciphertextOf, parseDecrypted, parseUpdate, requestType, uidOf } from '../src/legacy/request.ts';
import type { HistoryEntry, Invoice } from '../src/services/invoices.ts';
import { unrot13 } from './support/reference-client.ts';

const UID = 'ngyt8761x4fvwo2jz0a5cr3ihubdle';
const throwsCode = (fn: () => unknown, code: ErrorCode, message?: RegExp): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
};

/** The sample record of the protocol reference (§4.2), for its field names and types. */
const SAMPLE = {
  id: '490',
  telegram_id: '24234234234',
  trader_id: '4',
  name_ex: 'TestEx',
  send_value: '1',
  recive_value: '0.03',
  currency: '39.81',
  card_f_pay: '9999-9999-9999-9999',
  msg: null,
  approve_photo: null,
  technical: null,
  status: 'notApprove',
  date: '2023-12-19 16:08:48',
  codeex: null,
  pay_info: null,
  trader_photo: null,
  pay_date: null,
  uid_link: 'ngyt8761x4fvwo2jz0a5cr3ihubdle',
  ip: '37.72.44.30',
  payment_timeout: '960',
  accept_date: '2023-12-19 16:09:24',
  exchange_log: '[{"date":"2023-12-19 16:08:48","status":"Инвойс создан"}]',
  trader_change_price: null,
  exchange_type: 'invoice',
  user_id: null,
};

describe('legacy record', () => {
  const created = Date.UTC(2023, 11, 19, 16, 8, 48);
  const invoice: Invoice = {
    id: '490',
    uid: UID,
    merchantId: '1',
    traderId: '4',
    title: 'TestEx',
    sendMinor: 100,
    reciveMinor: 3,
    rate: '39.81',
    card: '9999999999999999',
    status: 'notApprove',
    version: 5,
    ip: '37.72.44.30',
    paymentTimeout: 960,
    createdAt: created,
    updatedAt: created,
    acceptedAt: created + 36_000,
    paidAt: null,
    deadlineAt: null,
    approvePhoto: null,
    traderChangePrice: null,
    resolution: null,
    returnUrl: null,
    metadata: {},
    sandbox: false,
  };
  const history: HistoryEntry[] = [
    {
      at: created,
      version: 1,
      status: 'not approve exchange',
      note: 'Инвойс создан',
      action: 'create',
      actorType: 'merchant',
      actorId: '1',
    },
  ];

  it('has exactly the sample record’s fields, in order, each a string or null', () => {
    const record = legacyRecord(invoice, history);
    assert.deepEqual(Object.keys(record), Object.keys(SAMPLE));
    for (const [name, value] of Object.entries(record)) assert.ok(value === null || typeof value === 'string', name);
    // Every field the sample shows and we track comes out the same.
    const { telegram_id: _t, ...expected } = SAMPLE;
    const { telegram_id, ...actual } = record;
    assert.equal(telegram_id, null);
    assert.deepEqual(actual, expected);
  });

  it('formats money, dates, the change price and the photo the original way', () => {
    const record = legacyRecord(
      {
        ...invoice,
        sendMinor: 150_050,
        reciveMinor: 3_616,
        traderChangePrice: '1500',
        approvePhoto: 'https://x.test/p.jpg',
        paidAt: created,
      },
      [],
    );
    assert.equal(record.send_value, '1500.50');
    assert.equal(record.recive_value, '36.16');
    assert.equal(record.trader_change_price, '1500');
    assert.equal(record.approve_photo, 'https://x.test/p.jpg');
    assert.equal(record.pay_date, '2023-12-19 16:08:48');
    assert.equal(record.exchange_log, '[]');
    assert.equal(legacyDate(Date.UTC(2026, 0, 2, 3, 4, 5, 999)), '2026-01-02 03:04:05');
    const empty = legacyRecord({ ...invoice, card: null, traderId: null, acceptedAt: null, ip: null }, []);
    assert.deepEqual([empty.card_f_pay, empty.trader_id, empty.accept_date, empty.ip], [null, null, null, null]);
  });

  it('rot13 moves ASCII letters only and the key result decodes as clients do', () => {
    assert.equal(rot13('-----BEGIN RSA PUBLIC KEY-----\nMIIB+/=09\n'), '-----ORTVA EFN CHOYVP XRL-----\nZVVO+/=09\n');
    const pem = '-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEAzZ+/abc=\n-----END RSA PUBLIC KEY-----\n';
    const result = encodePublicKey(pem);
    assert.ok(result.startsWith('LS0tLS1PUlRWQSBFRk4gQ0'), 'the protocol reference’s example prefix');
    assert.equal(unrot13(atob(result)), pem);
  });
});

describe('legacy request parsing', () => {
  it('reads the access token from form or JSON bodies', () => {
    const token = `nlm_${'A'.repeat(43)}`;
    assert.equal(accessTokenOf({ access_token: token }), token);
    // Only the shape tokens are issued in gets as far as a database lookup.
    const malformed = ['nlm_x', `nlx_${'A'.repeat(43)}`, `nlm_${'A'.repeat(42)}!`, `${token} `, `nlm_${'A'.repeat(44)}`];
    for (const body of [
      undefined,
      null,
      'x',
      [],
      {},
      { access_token: '' },
      { access_token: 5 },
      { access_token: 'x'.repeat(201) },
      ...malformed.map((t) => ({ access_token: t })),
    ]) {
      throwsCode(() => accessTokenOf(body), 'UNAUTHORIZED');
    }
  });

  it('accepts base64 data (with or without padding or line breaks) and refuses anything else', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253]);
    const b64 = bytes.toString('base64');
    assert.deepEqual(ciphertextOf({ data: b64 }), bytes);
    assert.deepEqual(ciphertextOf({ data: b64.replace(/=+$/, '') }), bytes);
    assert.deepEqual(ciphertextOf({ data: `${b64.slice(0, 4)}\r\n${b64.slice(4)}` }), bytes);
    assert.deepEqual(ciphertextOf({ data: b64.replaceAll('+', ' ') }), bytes, 'a form body with an unescaped +');
    throwsCode(() => ciphertextOf({}), 'BAD_REQUEST', /data must be a base64 string/);
    throwsCode(() => ciphertextOf({ data: 42 }), 'BAD_REQUEST', /data must be a base64 string/);
    throwsCode(() => ciphertextOf({ data: '' }), 'BAD_REQUEST', /empty/);
    for (const bad of ['abc$', 'a', 'ab=c', 'abcd=', '%%%%', 'YWJj-_8', '{"json":1}']) {
      throwsCode(() => ciphertextOf({ data: bad }), 'BAD_REQUEST', /not valid base64/);
    }
    throwsCode(() => ciphertextOf({ data: 'A'.repeat(1372) }), 'BAD_REQUEST', /too long/);
    throwsCode(() => ciphertextOf({ data: 'A'.repeat(60_000) }), 'BAD_REQUEST', /too long/);
  });

  it('a plaintext is a request only if it is a UTF-8 JSON object with the verification word', () => {
    const ok = { type: 'get', uid_link: UID, verificationWord: 'bandasosamba' };
    assert.deepEqual(parseDecrypted(Buffer.from(JSON.stringify(ok))), ok);
    for (const text of [
      '',
      'not json',
      '[1,2]',
      'null',
      '"bandasosamba"',
      '{"type":"get"}',
      '{"type":"get","verificationWord":"bandasosambA"}',
      '{"type":"get","verificationWord":null}',
    ]) {
      assert.equal(parseDecrypted(Buffer.from(text)), null, text);
    }
    assert.equal(parseDecrypted(Buffer.from([0x7b, 0xff, 0x7d])), null, 'invalid UTF-8');
  });

  it('knows the four types and validates uid_link', () => {
    for (const type of ['create', 'get', 'update', 'remove'] as const) assert.equal(requestType({ type }), type);
    throwsCode(() => requestType({ type: 'delete' }), 'UNKNOWN_REQUEST_TYPE', /"delete"/);
    throwsCode(() => requestType({}), 'UNKNOWN_REQUEST_TYPE', /missing/);
    throwsCode(() => requestType({ type: 1 }), 'UNKNOWN_REQUEST_TYPE');
    assert.equal(uidOf({ uid_link: UID }), UID);
    throwsCode(() => uidOf({}), 'VALIDATION_FAILED', /missing/);
    // A malformed UID names no invoice, and says nothing about the format.
    throwsCode(() => uidOf({ uid_link: 'ABC' }), 'INVOICE_NOT_FOUND', /^Invoice not found$/);
    throwsCode(() => uidOf({ uid_link: `${UID}x` }), 'INVOICE_NOT_FOUND', /^Invoice not found$/);
  });

  it('update accepts exactly the payer’s two moves with an optional log', () => {
    const base = { type: 'update', uid_link: UID, verificationWord: 'bandasosamba' };
    assert.deepEqual(parseUpdate({ ...base, status: 'pay', log: 'Заявка оплаченна клієнтом' }), {
      uid: UID,
      move: { action: 'paid' },
      note: 'Заявка оплаченна клієнтом',
    });
    assert.deepEqual(parseUpdate({ ...base, status: 'pay' }), { uid: UID, move: { action: 'paid' }, note: undefined });
    const url = 'https://cdn.example.com/receipts/1.jpg';
    for (const extra of [{ status: 'notApprove' }, {}]) {
      assert.deepEqual(parseUpdate({ ...base, ...extra, approve_photo: url, log: 'Фото' }), {
        uid: UID,
        move: { action: 'proofPhoto', photoUrl: url },
        note: 'Фото',
      });
    }
  });

  it('update refuses every other field and value, naming it', () => {
    const base = { type: 'update', uid_link: UID, verificationWord: 'bandasosamba' };
    for (const field of ['send_value', 'card_f_pay', 'ip', 'trader_id', 'recive_value', 'exchange_log', '__proto__x']) {
      throwsCode(() => parseUpdate({ ...base, status: 'pay', [field]: '1' }), 'FIELD_NOT_ALLOWED', new RegExp(`"${field}"`));
    }
    for (const status of ['success', 'canceled', 'send card', 'waitPhoto', '']) {
      throwsCode(() => parseUpdate({ ...base, status }), 'FIELD_NOT_ALLOWED', /"status"/);
    }
    throwsCode(() => parseUpdate({ ...base, status: null }), 'FIELD_NOT_ALLOWED', /"status"/);
    throwsCode(() => parseUpdate({ ...base, status: 'pay', approve_photo: 'https://x.test/a' }), 'FIELD_NOT_ALLOWED', /approve_photo/);
    throwsCode(() => parseUpdate({ ...base, status: 'notApprove' }), 'VALIDATION_FAILED', /approve_photo is required/);
    throwsCode(() => parseUpdate({ ...base }), 'VALIDATION_FAILED', /Nothing to update/);
    throwsCode(() => parseUpdate({ ...base, approve_photo: 'javascript:alert(1)' }), 'VALIDATION_FAILED', /http/);
    throwsCode(() => parseUpdate({ ...base, approve_photo: 42 }), 'VALIDATION_FAILED');
    throwsCode(() => parseUpdate({ ...base, status: 'pay', log: 'x'.repeat(501) }), 'VALIDATION_FAILED', /log/);
    throwsCode(() => parseUpdate({ ...base, status: 'pay', log: 5 }), 'VALIDATION_FAILED', /log/);
    throwsCode(() => parseUpdate({ type: 'update', status: 'pay' }), 'VALIDATION_FAILED', /uid_link/);
    for (const log of ['a\u0000b', 'two\nlines', '\u001b[2J']) {
      throwsCode(() => parseUpdate({ ...base, status: 'pay', log }), 'VALIDATION_FAILED', /control characters/);
    }
    throwsCode(() => parseUpdate({ ...base, approve_photo: 'https://x.example/a\u0000.jpg' }), 'VALIDATION_FAILED', /control/);
  });
});
