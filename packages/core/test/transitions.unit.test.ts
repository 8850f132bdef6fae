import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ACTIONS,
  ACTORS,
  type Action,
  type ActionInput,
  type Actor,
  type ActorType,
  AppError,
  CARD_GIVEN_STATUS,
  CARD_VISIBLE_STATUSES,
  EXPIRING_STATUSES,
  FAILED_FINAL_STATUSES,
  FINAL_STATUSES,
  findRule,
  HELD_STATUSES,
  type InvoiceState,
  initialState,
  OPEN_STATUS,
  payerStep,
  STATUSES,
  type Status,
  SUCCESS_STATUS,
  statusesFrom,
  type Timeouts,
  TRANSITIONS,
  transition,
} from '../src/index.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const TIMEOUTS: Timeouts = { paymentSeconds: 960, acceptSeconds: 1800, traderCheckSeconds: 1800, cardSeconds: 300, photoSeconds: 1800 };
const CARD = '4441114441114442';

function state(status: Status, extra: Partial<InvoiceState> = {}): InvoiceState {
  return {
    status,
    version: 3,
    merchantId: 'm1',
    traderId: status === 'not approve exchange' ? null : 't1',
    sendMinor: 150_000,
    rate: '41.50',
    deadlineAt: null,
    ip: '203.0.113.7',
    createdAt: NOW - 60_000,
    ...extra,
  };
}

/** The actor and input that satisfy every guard of a rule, so only the table decides. */
function happyCase(action: Action, actorType: ActorType): { actor: Actor; input: ActionInput; extra: Partial<InvoiceState> } {
  const id = { merchant: 'm1', payer: '203.0.113.7', trader: 't1', admin: 'a1', system: null }[actorType];
  const input: ActionInput = {
    card: CARD,
    amount: '1200.00',
    photoUrl: 'https://shop.example/r.jpg',
    decision: 'success',
    reason: 'checked',
  };
  const extra: Partial<InvoiceState> = action === 'expire' ? { deadlineAt: NOW - 1 } : {};
  return { actor: { type: actorType, id }, input, extra };
}

/** The expected table, written out independently of TRANSITIONS. */
const EXPECTED: Record<string, Status> = {
  'not approve exchange|accept|trader': 'wait card',
  'wait card|setCard|trader': 'send card',
  'send card|paid|payer': 'pay',
  'pay|confirm|trader': 'success',
  'pay|changeAmount|trader': 'pay',
  'pay|dispute|trader': 'waitPhoto',
  'waitPhoto|proofPhoto|payer': 'notApprove',
  'notApprove|decide|admin': 'success',
  'not approve exchange|remove|merchant': 'canceled',
  'wait card|remove|merchant': 'canceled',
  'send card|remove|merchant': 'canceled',
  'not approve exchange|expire|system': 'rejected',
  'send card|expire|system': 'rejected',
  'pay|expire|system': 'notApprove',
  'wait card|expire|system': 'not approve exchange',
  'waitPhoto|expire|system': 'notApprove',
};
for (const s of STATUSES) if (!FINAL_STATUSES.has(s)) EXPECTED[`${s}|cancel|admin`] = 'canceled';

describe('transition table: every (status, action, actor) triple', () => {
  for (const status of STATUSES) {
    for (const action of ACTIONS) {
      for (const actorType of ACTORS) {
        const key = `${status}|${action}|${actorType}`;
        const expected = EXPECTED[key];
        test(`${key} → ${expected ?? 'refused'}`, () => {
          const { actor, input, extra } = happyCase(action, actorType);
          const s = state(status, extra);
          if (expected === undefined) {
            assert.equal(findRule(status, action, actorType), undefined);
            assert.throws(
              () => transition(s, action, actor, input, NOW, TIMEOUTS),
              (err: unknown) => err instanceof AppError && err.status >= 400 && err.status < 500,
            );
          } else {
            const r = transition(s, action, actor, input, NOW, TIMEOUTS);
            assert.equal(r.to, expected);
            assert.equal(r.from, status);
            assert.ok(r.note.length > 0);
          }
        });
      }
    }
  }

  test('the table has no duplicate triples and nothing leaves a final status', () => {
    const seen = new Set<string>();
    for (const r of TRANSITIONS) {
      const k = `${r.from}|${r.action}|${r.actor}`;
      assert.ok(!seen.has(k), `duplicate ${k}`);
      seen.add(k);
      assert.ok(!FINAL_STATUSES.has(r.from), `${k} leaves a final status`);
    }
    assert.equal(seen.size, Object.keys(EXPECTED).length);
  });
});

describe('guards and effects', () => {
  test('create starts untaken with an accept deadline', () => {
    const s = initialState(NOW, TIMEOUTS);
    assert.equal(s.status, 'not approve exchange');
    assert.equal(s.deadlineAt, NOW + 1_800_000);
  });

  test('accept records the trader and starts the card deadline; a second accept is ALREADY_TAKEN', () => {
    const r = transition(state('not approve exchange'), 'accept', { type: 'trader', id: 't9' }, {}, NOW, TIMEOUTS);
    assert.equal(r.patch.traderId, 't9');
    assert.equal(r.patch.acceptedAt, NOW);
    assert.equal(r.patch.deadlineAt, NOW + 300_000);
    assert.throws(
      () => transition(state('wait card'), 'accept', { type: 'trader', id: 't2' }, {}, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'ALREADY_TAKEN' && e.message === 'Another trader has already taken this invoice',
    );
  });

  test('the trader who already took an invoice is told so, not that another trader took it', () => {
    for (const s of ['wait card', 'send card', 'pay'] as const) {
      assert.throws(
        () => transition(state(s), 'accept', { type: 'trader', id: 't1' }, {}, NOW, TIMEOUTS),
        (e: AppError) => e.code === 'ALREADY_YOURS' && e.message === 'You have already taken this invoice',
      );
    }
    assert.throws(
      () => transition(state('canceled'), 'accept', { type: 'trader', id: 't1' }, {}, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'TRANSITION_REFUSED' && e.message === 'This invoice is no longer open to take',
    );
  });

  test('a card not given in time sends the invoice back to the queue, without its trader', () => {
    const sys = { type: 'system', id: null } as const;
    const taken = state('wait card', { deadlineAt: NOW - 1, createdAt: NOW - 600_000 });
    const r = transition(taken, 'expire', sys, {}, NOW, TIMEOUTS);
    assert.equal(r.to, 'not approve exchange');
    assert.equal(r.patch.traderId, null);
    assert.equal(r.patch.acceptedAt, null);
    // Its accept deadline still counts from creation.
    assert.equal(r.patch.deadlineAt, NOW - 600_000 + 1_800_000);
    assert.match(r.note, /не надав картку/);
    // Past the accept deadline as well: nobody else gets the chance.
    const late = transition(state('wait card', { deadlineAt: NOW - 1, createdAt: NOW - 1_800_000 }), 'expire', sys, {}, NOW, TIMEOUTS);
    assert.equal(late.to, 'rejected');
    assert.equal(late.patch.deadlineAt, null);
    assert.notEqual(late.note, r.note);
    assert.throws(
      () => transition(state('wait card', { deadlineAt: NOW + 1 }), 'expire', sys, {}, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'TRANSITION_REFUSED',
    );
  });

  test('a dispute starts the photo deadline; no photo in time goes to an administrator, saying so', () => {
    const t = { type: 'trader', id: 't1' } as const;
    assert.equal(transition(state('pay'), 'dispute', t, {}, NOW, TIMEOUTS).patch.deadlineAt, NOW + 1_800_000);
    const r = transition(state('waitPhoto', { deadlineAt: NOW }), 'expire', { type: 'system', id: null }, {}, NOW, TIMEOUTS);
    assert.equal(r.to, 'notApprove');
    assert.match(r.note, /фото/);
    const payer = { type: 'payer', id: '203.0.113.7' } as const;
    const sent = transition(
      state('waitPhoto', { deadlineAt: NOW + 5 }),
      'proofPhoto',
      payer,
      { photoUrl: 'https://x.example/r.jpg' },
      NOW,
      TIMEOUTS,
    );
    assert.equal(sent.patch.deadlineAt, null);
  });

  test('what the rest of the system asks about the lifecycle is derived from the table', () => {
    assert.equal(OPEN_STATUS, 'not approve exchange');
    assert.equal(CARD_GIVEN_STATUS, 'send card');
    assert.deepEqual([...CARD_VISIBLE_STATUSES].sort(), ['notApprove', 'pay', 'send card', 'success', 'waitPhoto']);
    const steps = Object.fromEntries(STATUSES.map((s) => [s, payerStep(s)]));
    assert.deepEqual(steps, {
      'not approve exchange': 0,
      'wait card': 0,
      'send card': 1,
      pay: 2,
      waitPhoto: 2,
      notApprove: 2,
      success: 3,
      canceled: 3,
      rejected: 3,
    });
    // A computed outcome lists every status it can give, and gives nothing else.
    for (const rule of TRANSITIONS) {
      if (typeof rule.to === 'string') continue;
      assert.ok(rule.outcomes && rule.outcomes.length > 0, `${rule.from}|${rule.action}`);
      const inputs: ActionInput[] = [{ decision: 'success' }, { decision: 'canceled' }];
      for (const input of inputs) {
        for (const createdAt of [NOW, NOW - 3_600_000]) {
          const s = state(rule.from, { createdAt });
          assert.ok(rule.outcomes.includes(rule.to(input, s, NOW, TIMEOUTS)));
        }
      }
    }
  });

  // Exact contents: a change of the table that moves one of these sets is then a decision, not an accident.
  test('the sets the ledger, the consoles and the page use come from the table', () => {
    assert.equal(SUCCESS_STATUS, 'success');
    assert.deepEqual([...FAILED_FINAL_STATUSES], ['canceled', 'rejected']);
    // How an invoice ends, well or badly, is exactly where the table leads and never leaves.
    assert.deepEqual([SUCCESS_STATUS, ...FAILED_FINAL_STATUSES].sort(), [...FINAL_STATUSES].sort());
    assert.deepEqual([...HELD_STATUSES], ['wait card', 'send card', 'pay', 'waitPhoto', 'notApprove']);
    assert.ok(!HELD_STATUSES.has(OPEN_STATUS));
    assert.deepEqual(
      statusesFrom((r) => r.actor === 'trader'),
      ['not approve exchange', 'wait card', 'pay'],
    );
    assert.deepEqual(
      statusesFrom((r) => r.action === 'decide'),
      ['notApprove'],
    );
  });

  test('the sweeper’s statuses come from the table', () => {
    assert.deepEqual(
      [...EXPIRING_STATUSES].sort(),
      TRANSITIONS.filter((r) => r.action === 'expire')
        .map((r) => r.from)
        .sort(),
    );
    assert.deepEqual([...EXPIRING_STATUSES].sort(), ['not approve exchange', 'pay', 'send card', 'wait card', 'waitPhoto']);
  });

  test('refusals say what was tried and why, never an internal verb', () => {
    const cases: [Status, Action, Actor, RegExp][] = [
      ['pay', 'paid', { type: 'payer', id: '203.0.113.7' }, /^This invoice is not waiting for payment$/],
      ['send card', 'setCard', { type: 'trader', id: 't1' }, /^This invoice is not waiting for a card$/],
      ['send card', 'paid', { type: 'trader', id: 't1' }, /^Only the payer can report the payment$/],
      ['notApprove', 'proofPhoto', { type: 'payer', id: '203.0.113.7' }, /not waiting for a receipt photo/],
      ['pay', 'decide', { type: 'admin', id: 'a1' }, /not waiting for an administrator/],
      ['success', 'cancel', { type: 'admin', id: 'a1' }, /already closed/],
    ];
    for (const [status, action, actor, message] of cases) {
      assert.throws(
        () =>
          transition(
            state(status),
            action,
            actor,
            { card: CARD, photoUrl: 'https://x/y', decision: 'success', reason: 'r' },
            NOW,
            TIMEOUTS,
          ),
        (e: AppError) => message.test(e.message) && !/Cannot|setCard|proofPhoto|paid an/.test(e.message),
      );
    }
    // Every refusal of every triple is worded, none with the action's internal name.
    for (const status of STATUSES) {
      for (const action of ACTIONS) {
        for (const actorType of ACTORS) {
          if (findRule(status, action, actorType)) continue;
          const { actor, input } = happyCase(action, actorType);
          try {
            transition(state(status), action, actor, input, NOW, TIMEOUTS);
          } catch (e) {
            assert.ok(e instanceof AppError);
            assert.doesNotMatch(e.message, /setCard|changeAmount|proofPhoto|^Cannot |"/, `${status}|${action}|${actorType}`);
          }
        }
      }
    }
  });

  test('reasons refuse control characters', () => {
    const a = { type: 'admin', id: 'a1' } as const;
    for (const reason of ['a\u0000b', 'line\nbreak', '\u001b[31mred', 'x\u007f', '\u0085']) {
      assert.throws(
        () => transition(state('notApprove'), 'decide', a, { decision: 'success', reason }, NOW, TIMEOUTS),
        (e: AppError) => e.code === 'VALIDATION_FAILED' && /control characters/.test(e.message),
      );
      assert.throws(
        () => transition(state('pay'), 'dispute', { type: 'trader', id: 't1' }, { reason }, NOW, TIMEOUTS),
        (e: AppError) => e.code === 'VALIDATION_FAILED',
      );
    }
    const payer = { type: 'payer', id: '203.0.113.7' } as const;
    assert.throws(
      () => transition(state('waitPhoto'), 'proofPhoto', payer, { photoUrl: 'https://x/\u0000' }, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'VALIDATION_FAILED',
    );
  });

  test('setCard validates Luhn and starts the payment deadline', () => {
    const t = { type: 'trader', id: 't1' } as const;
    const r = transition(state('wait card'), 'setCard', t, { card: '4441 1144 4111 4442' }, NOW, TIMEOUTS);
    assert.equal(r.patch.card, CARD);
    assert.equal(r.patch.deadlineAt, NOW + 960_000);
    assert.throws(
      () => transition(state('wait card'), 'setCard', t, { card: '4441114441114443' }, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'INVALID_CARD',
    );
    assert.throws(
      () => transition(state('wait card'), 'setCard', t, { card: 42 }, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'INVALID_CARD',
    );
  });

  test("a trader cannot act on another trader's invoice", () => {
    for (const [status, action] of [
      ['wait card', 'setCard'],
      ['pay', 'confirm'],
      ['pay', 'dispute'],
      ['pay', 'changeAmount'],
    ] as const) {
      assert.throws(
        () => transition(state(status), action, { type: 'trader', id: 't2' }, { card: CARD, amount: '1' }, NOW, TIMEOUTS),
        (e: AppError) => e.code === 'NOT_YOUR_INVOICE',
      );
    }
  });

  test('payer actions need the bound IP', () => {
    const payer = { type: 'payer', id: '198.51.100.1' } as const;
    assert.throws(
      () => transition(state('send card', { ip: null }), 'paid', payer, {}, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'IP_NOT_BOUND',
    );
    assert.throws(
      () => transition(state('send card'), 'paid', payer, {}, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'IP_MISMATCH',
    );
    assert.throws(
      () => transition(state('waitPhoto'), 'proofPhoto', payer, { photoUrl: 'https://x/y' }, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'IP_MISMATCH',
    );
  });

  test('paid after the deadline is refused; expiry before it is refused', () => {
    const payer = { type: 'payer', id: '203.0.113.7' } as const;
    assert.throws(
      () => transition(state('send card', { deadlineAt: NOW }), 'paid', payer, {}, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'DEADLINE_PASSED',
    );
    const sys = { type: 'system', id: null } as const;
    assert.throws(
      () => transition(state('send card', { deadlineAt: NOW + 1 }), 'expire', sys, {}, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'TRANSITION_REFUSED',
    );
    assert.throws(
      () => transition(state('send card', { deadlineAt: null }), 'expire', sys, {}, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'TRANSITION_REFUSED',
    );
  });

  test('changeAmount recomputes recive_value and keeps the previous amount', () => {
    const r = transition(state('pay'), 'changeAmount', { type: 'trader', id: 't1' }, { amount: '830' }, NOW, TIMEOUTS);
    assert.equal(r.patch.sendMinor, 83_000);
    assert.equal(r.patch.reciveMinor, 2_000); // 830 / 41.50 = 20.00
    assert.equal(r.patch.traderChangePrice, '1500');
    assert.equal(r.patch.resolution, null, 'no reason given');
    const why = transition(
      state('pay'),
      'changeAmount',
      { type: 'trader', id: 't1' },
      { amount: '830', reason: ' sent 830 ' },
      NOW,
      TIMEOUTS,
    );
    assert.equal(why.patch.resolution, 'sent 830');
    assert.throws(
      () =>
        transition(state('pay'), 'changeAmount', { type: 'trader', id: 't1' }, { amount: '830', reason: 'x'.repeat(501) }, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'VALIDATION_FAILED',
    );
    assert.throws(
      () => transition(state('pay'), 'changeAmount', { type: 'trader', id: 't1' }, { amount: '1500.00' }, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'INVALID_AMOUNT',
    );
  });

  test('merchant remove is refused once the payer has paid, and for other merchants', () => {
    const m = { type: 'merchant', id: 'm1' } as const;
    for (const s of ['pay', 'waitPhoto', 'notApprove'] as const) {
      assert.throws(
        () => transition(state(s), 'remove', m, {}, NOW, TIMEOUTS),
        (e: AppError) => e.code === 'ALREADY_PAID',
      );
    }
    assert.throws(
      () => transition(state('send card'), 'remove', { type: 'merchant', id: 'm2' }, {}, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'INVOICE_NOT_FOUND',
    );
  });

  test('admin decide needs a valid decision and a reason', () => {
    const a = { type: 'admin', id: 'a1' } as const;
    assert.equal(
      transition(state('notApprove'), 'decide', a, { decision: 'canceled', reason: 'fake receipt' }, NOW, TIMEOUTS).to,
      'canceled',
    );
    assert.throws(
      () => transition(state('notApprove'), 'decide', a, { decision: 'maybe', reason: 'x' }, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'VALIDATION_FAILED',
    );
    assert.throws(
      () => transition(state('notApprove'), 'decide', a, { decision: 'success' }, NOW, TIMEOUTS),
      (e: AppError) => e.code === 'VALIDATION_FAILED',
    );
  });
});
