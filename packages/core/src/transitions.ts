import { parseCard } from './card.ts';
import { AppError } from './errors.ts';
import { convertAtRate, formatAmount, parseAmount } from './money.ts';
import { FINAL_STATUSES, STATUSES, type Status } from './statuses.ts';
import { cleanText, LIMITS } from './text.ts';

export const ACTORS = ['merchant', 'payer', 'trader', 'admin', 'system'] as const;
export type ActorType = (typeof ACTORS)[number];

/** Who acted: the type, and the account id for merchant/trader/admin (the IP for a payer). */
export interface Actor {
  readonly type: ActorType;
  readonly id: string | null;
}

export const ACTIONS = [
  'accept',
  'setCard',
  'paid',
  'confirm',
  'changeAmount',
  'dispute',
  'proofPhoto',
  'decide',
  'remove',
  'cancel',
  'expire',
] as const;
export type Action = (typeof ACTIONS)[number];

/** What the state machine needs to know about an invoice. */
export interface InvoiceState {
  readonly status: Status;
  readonly version: number;
  readonly merchantId: string;
  readonly traderId: string | null;
  readonly sendMinor: number;
  readonly rate: string;
  /** Epoch ms of the pending timer for the current status, or null. */
  readonly deadlineAt: number | null;
  /** The IP bound to the invoice by the first realtime join; payer actions need it. */
  readonly ip: string | null;
  /** Epoch ms of creation: the accept deadline counts from it, whoever took the invoice meanwhile. */
  readonly createdAt: number;
}

export interface ActionInput {
  card?: unknown;
  amount?: unknown;
  photoUrl?: unknown;
  decision?: unknown;
  reason?: unknown;
}

/** Timer lengths the machine sets when it enters a status, in seconds. */
export interface Timeouts {
  /** `send card` → `rejected` after this (the invoice's `payment_timeout`). */
  readonly paymentSeconds: number;
  /** `not approve exchange` → `rejected` when no trader takes it in this time. */
  readonly acceptSeconds: number;
  /** `pay` → `notApprove` when the trader neither confirms nor disputes in this time. */
  readonly traderCheckSeconds: number;
  /** `wait card` → back to the queue when the trader who took it gives no card in this time. */
  readonly cardSeconds: number;
  /** `waitPhoto` → `notApprove` when the payer sends no receipt photo in this time. */
  readonly photoSeconds: number;
}

/** Fields an applied transition changes, besides status and version. */
export interface InvoicePatch {
  traderId?: string | null;
  acceptedAt?: number | null;
  card?: string;
  paidAt?: number;
  sendMinor?: number;
  reciveMinor?: number;
  traderChangePrice?: string;
  approvePhoto?: string;
  deadlineAt?: number | null;
  resolution?: string | null;
}

export interface TransitionResult {
  readonly from: Status;
  readonly to: Status;
  readonly action: Action;
  readonly actor: Actor;
  readonly patch: InvoicePatch;
  /** The history line (`exchange_log` entry) for this change. */
  readonly note: string;
}

type Guard = (state: InvoiceState, actor: Actor, now: number) => AppError | null;
type Outcome = (input: ActionInput, state: InvoiceState, now: number, timeouts: Timeouts) => Status;

export interface TransitionRule {
  readonly from: Status;
  readonly action: Action;
  readonly actor: ActorType;
  /** A function when the outcome depends on the input (admin decide) or the invoice (card timeout). */
  readonly to: Status | Outcome;
  /** Every status a computed `to` may give, so the table can be walked. */
  readonly outcomes?: readonly Status[];
  readonly guard?: Guard;
  /** Receives the outcome's status too, for rules with more than one. */
  readonly apply?: (state: InvoiceState, input: ActionInput, now: number, timeouts: Timeouts, actor: Actor, to: Status) => InvoicePatch;
  /** The history line; a function for rules with more than one outcome. */
  readonly note: string | ((to: Status) => string);
}

const ownTrader: Guard = (s, a) =>
  s.traderId !== null && s.traderId === a.id
    ? null
    : new AppError('NOT_YOUR_INVOICE', 'Only the trader who accepted this invoice may do this');
const ownMerchant: Guard = (s, a) => (s.merchantId === a.id ? null : new AppError('INVOICE_NOT_FOUND'));
const deadlinePassed: Guard = (s, _a, now) =>
  s.deadlineAt !== null && now >= s.deadlineAt ? null : new AppError('TRANSITION_REFUSED', 'The deadline has not passed yet');
const beforeDeadline: Guard = (s, _a, now) => (s.deadlineAt !== null && now >= s.deadlineAt ? new AppError('DEADLINE_PASSED') : null);
/** A payer is identified by IP: only the first IP that opened the invoice may act for it. */
const boundPayer: Guard = (s, a) => {
  if (s.ip === null) return new AppError('IP_NOT_BOUND');
  return s.ip === a.id ? null : new AppError('IP_MISMATCH');
};
const all =
  (...guards: Guard[]): Guard =>
  (s, a, now) => {
    for (const g of guards) {
      const denied = g(s, a, now);
      if (denied) return denied;
    }
    return null;
  };

const secondsFrom = (now: number, seconds: number): number => now + seconds * 1000;

function decision(input: ActionInput): Status {
  if (input.decision === 'success' || input.decision === 'canceled') return input.decision;
  throw new AppError('VALIDATION_FAILED', 'decision must be "success" or "canceled"');
}

function reasonText(input: ActionInput, required: boolean): string | null {
  return cleanText(input.reason, { field: 'reason', max: LIMITS.reasonChars, required });
}

/** When an invoice taken but left without a card goes back to the queue, its accept deadline still counts from creation. */
const acceptDeadline = (s: InvoiceState, t: Timeouts): number => secondsFrom(s.createdAt, t.acceptSeconds);

const NON_FINAL = STATUSES.filter((s) => !FINAL_STATUSES.has(s));
const MERCHANT_REMOVABLE: Status[] = ['not approve exchange', 'wait card', 'send card'];

/**
 * The whole lifecycle as data. A (status, action, actor) triple absent from this table is
 * refused. Guards add the conditions a triple alone cannot express (ownership, deadlines).
 */
export const TRANSITIONS: readonly TransitionRule[] = [
  {
    from: 'not approve exchange',
    action: 'accept',
    actor: 'trader',
    to: 'wait card',
    guard: (_s, a) => (a.id === null ? new AppError('FORBIDDEN', 'A trader account is required') : null),
    apply: (_s, _i, now, t, actor) => ({ traderId: actor.id, acceptedAt: now, deadlineAt: secondsFrom(now, t.cardSeconds) }),
    note: 'Заявку прийнято трейдером',
  },
  {
    from: 'wait card',
    action: 'setCard',
    actor: 'trader',
    to: 'send card',
    guard: ownTrader,
    apply: (_s, i, now, t) => ({ card: parseCard(i.card), deadlineAt: secondsFrom(now, t.paymentSeconds) }),
    note: 'Трейдер надав картку для оплати',
  },
  {
    from: 'send card',
    action: 'paid',
    actor: 'payer',
    to: 'pay',
    guard: all(boundPayer, beforeDeadline),
    apply: (_s, _i, now, t) => ({ paidAt: now, deadlineAt: secondsFrom(now, t.traderCheckSeconds) }),
    note: 'Заявка оплаченна клієнтом',
  },
  {
    from: 'pay',
    action: 'confirm',
    actor: 'trader',
    to: 'success',
    guard: ownTrader,
    apply: () => ({ deadlineAt: null }),
    note: 'Трейдер підтвердив оплату',
  },
  {
    from: 'pay',
    action: 'changeAmount',
    actor: 'trader',
    to: 'pay',
    guard: ownTrader,
    apply: (s, i, now, t) => {
      const sendMinor = parseAmount(i.amount);
      if (sendMinor === s.sendMinor) throw new AppError('INVALID_AMOUNT', 'The new amount equals the current one');
      return {
        sendMinor,
        reciveMinor: convertAtRate(sendMinor, s.rate),
        traderChangePrice: formatAmount(s.sendMinor),
        deadlineAt: secondsFrom(now, t.traderCheckSeconds),
        // Why the amount changed ("the payer sent 1400"), for the payer and an administrator.
        resolution: reasonText(i, false),
      };
    },
    note: 'Трейдер змінив суму',
  },
  {
    from: 'pay',
    action: 'dispute',
    actor: 'trader',
    to: 'waitPhoto',
    guard: ownTrader,
    apply: (_s, i, now, t) => ({ deadlineAt: secondsFrom(now, t.photoSeconds), resolution: reasonText(i, false) }),
    note: 'Трейдер не отримав оплату, очікується фото підтвердження',
  },
  {
    from: 'waitPhoto',
    action: 'proofPhoto',
    actor: 'payer',
    to: 'notApprove',
    guard: boundPayer,
    apply: (_s, i) => ({
      approvePhoto: cleanText(i.photoUrl, { field: 'approve_photo', max: LIMITS.photoUrlChars, required: true }),
      deadlineAt: null,
    }),
    note: 'Фото підтвердження відправленно',
  },
  {
    from: 'notApprove',
    action: 'decide',
    actor: 'admin',
    to: decision,
    outcomes: ['success', 'canceled'],
    apply: (_s, i) => ({ deadlineAt: null, resolution: reasonText(i, true) }),
    note: 'Адміністратор прийняв рішення',
  },
  ...MERCHANT_REMOVABLE.map(
    (from): TransitionRule => ({
      from,
      action: 'remove',
      actor: 'merchant',
      to: 'canceled',
      guard: ownMerchant,
      apply: () => ({ deadlineAt: null }),
      note: 'Заявку скасовано мерчантом',
    }),
  ),
  ...NON_FINAL.map(
    (from): TransitionRule => ({
      from,
      action: 'cancel',
      actor: 'admin',
      to: 'canceled',
      apply: (_s, i) => ({ deadlineAt: null, resolution: reasonText(i, false) }),
      note: 'Заявку скасовано адміністратором',
    }),
  ),
  {
    from: 'not approve exchange',
    action: 'expire',
    actor: 'system',
    to: 'rejected',
    guard: deadlinePassed,
    apply: () => ({ deadlineAt: null }),
    note: 'Жоден трейдер не прийняв заявку вчасно',
  },
  {
    from: 'send card',
    action: 'expire',
    actor: 'system',
    to: 'rejected',
    guard: deadlinePassed,
    apply: () => ({ deadlineAt: null }),
    note: 'Час на оплату вичерпано',
  },
  {
    from: 'pay',
    action: 'expire',
    actor: 'system',
    to: 'notApprove',
    guard: deadlinePassed,
    apply: () => ({ deadlineAt: null }),
    note: 'Трейдер не перевірив оплату вчасно, заявку передано адміністратору',
  },
  {
    // A trader who took the invoice and gave no card must not hold it for ever: it goes back
    // to the queue for another trader, unless its time to be taken has run out meanwhile.
    from: 'wait card',
    action: 'expire',
    actor: 'system',
    to: (_i, s, now, t) => (now < acceptDeadline(s, t) ? 'not approve exchange' : 'rejected'),
    outcomes: ['not approve exchange', 'rejected'],
    guard: deadlinePassed,
    apply: (s, _i, _now, t, _a, to) =>
      to === 'rejected' ? { deadlineAt: null } : { traderId: null, acceptedAt: null, deadlineAt: acceptDeadline(s, t) },
    note: (to) =>
      to === 'rejected'
        ? 'Трейдер не надав картку вчасно, а час на прийняття заявки вичерпано'
        : 'Трейдер не надав картку вчасно, заявку повернуто в чергу',
  },
  {
    from: 'waitPhoto',
    action: 'expire',
    actor: 'system',
    to: 'notApprove',
    guard: deadlinePassed,
    apply: () => ({ deadlineAt: null }),
    note: 'Клієнт не надіслав фото підтвердження вчасно, заявку передано адміністратору',
  },
];

/** The statuses with a timer: the sweeper looks only at these. */
export const EXPIRING_STATUSES: readonly Status[] = [...new Set(TRANSITIONS.filter((r) => r.action === 'expire').map((r) => r.from))];

function only(action: Action, actor: ActorType): TransitionRule {
  const rules = TRANSITIONS.filter((r) => r.action === action && r.actor === actor);
  const rule = rules[0];
  if (rules.length !== 1 || !rule) throw new Error(`the table must have exactly one ${action} by ${actor}`);
  return rule;
}

/** The statuses a rule can lead to; a rule with a computed outcome lists them. */
export function outcomesOf(rule: TransitionRule): readonly Status[] {
  return typeof rule.to === 'string' ? [rule.to] : (rule.outcomes ?? []);
}

/** Where traders find work: the status a trader may `accept` from (the open queue). */
export const OPEN_STATUS: Status = only('accept', 'trader').from;

function onlyTo(action: Action, actor: ActorType): Status {
  const to = only(action, actor).to;
  if (typeof to !== 'string') throw new Error(`${action} must lead to one status`);
  return to;
}

/** The status in which the payer is shown the card to pay to (what `setCard` leads to). */
export const CARD_GIVEN_STATUS: Status = onlyTo('setCard', 'trader');

/** How an invoice ends well: what the trader's `confirm` leads to. */
export const SUCCESS_STATUS: Status = onlyTo('confirm', 'trader');

/**
 * The statuses some rule matching `match` starts from, in STATUSES order: "where may this
 * happen", asked of the table.
 */
export function statusesFrom(match: (rule: TransitionRule) => boolean): readonly Status[] {
  return STATUSES.filter((s) => TRANSITIONS.some((r) => r.from === s && match(r)));
}

/**
 * How an invoice ends badly (canceled, expired): the statuses the table leads into and never
 * out of, other than success. The page and the consoles show these as failures.
 */
export const FAILED_FINAL_STATUSES: ReadonlySet<Status> = new Set(
  STATUSES.filter((s) => s !== SUCCESS_STATUS && !TRANSITIONS.some((r) => r.from === s)),
);

/**
 * Every status an invoice taken by a trader can be in until it ends or goes back to the
 * queue: while in one, the trader holds it (the ledger holds its value on the trader's
 * deposit, the trader's console lists it as its own). Walked along the table from what
 * `accept` leads to.
 */
export const HELD_STATUSES: ReadonlySet<Status> = (() => {
  const seen = new Set<Status>([onlyTo('accept', 'trader')]);
  const queue = [...seen];
  for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
    for (const r of TRANSITIONS) {
      if (r.from !== s) continue;
      for (const to of outcomesOf(r)) {
        if (to === OPEN_STATUS || FINAL_STATUSES.has(to) || seen.has(to)) continue;
        seen.add(to);
        queue.push(to);
      }
    }
  }
  return new Set(STATUSES.filter((s) => seen.has(s)));
})();

/**
 * Every status an invoice can be in once the card was given, not counting how it ends badly
 * (canceled, rejected): there the card is still the payer's business (to pay, or to prove
 * having paid). Walked along the table from CARD_GIVEN_STATUS.
 */
export const CARD_VISIBLE_STATUSES: ReadonlySet<Status> = (() => {
  const seen = new Set<Status>([CARD_GIVEN_STATUS]);
  const queue: Status[] = [CARD_GIVEN_STATUS];
  for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
    for (const r of TRANSITIONS) {
      if (r.from !== s) continue;
      for (const to of outcomesOf(r)) {
        if (FAILED_FINAL_STATUSES.has(to) || seen.has(to)) continue;
        seen.add(to);
        queue.push(to);
      }
    }
  }
  return seen;
})();

/**
 * The payer's progress in four steps — a trader takes it, the payer pays, the payment is
 * checked, the end — for the checkout page, from where each status lies on the table's road.
 */
export type PayerStep = 0 | 1 | 2 | 3;
export function payerStep(status: Status): PayerStep {
  if (FINAL_STATUSES.has(status)) return 3;
  if (status === CARD_GIVEN_STATUS) return 1;
  return CARD_VISIBLE_STATUSES.has(status) ? 2 : 0;
}

const INDEX = new Map<string, TransitionRule>(TRANSITIONS.map((r) => [`${r.from}|${r.action}|${r.actor}`, r]));

export function findRule(from: Status, action: Action, actor: ActorType): TransitionRule | undefined {
  return INDEX.get(`${from}|${action}|${actor}`);
}

/** What each action is, in the words of the person refused it. */
const ACTION_WORDS: Readonly<Record<Action, { doing: string; notNow: string }>> = {
  accept: { doing: 'take an invoice', notNow: 'This invoice is no longer open to take' },
  setCard: { doing: 'give the card to pay to', notNow: 'This invoice is not waiting for a card' },
  paid: { doing: 'report the payment', notNow: 'This invoice is not waiting for payment' },
  confirm: { doing: 'confirm the payment', notNow: 'This invoice has no payment waiting to be checked' },
  changeAmount: { doing: 'change the amount', notNow: 'The amount can be changed only while the payment is being checked' },
  dispute: { doing: 'dispute the payment', notNow: 'This invoice has no payment waiting to be checked' },
  proofPhoto: { doing: 'send the receipt photo', notNow: 'This invoice is not waiting for a receipt photo' },
  decide: { doing: 'decide a disputed invoice', notNow: "This invoice is not waiting for an administrator's decision" },
  remove: { doing: 'remove an invoice', notNow: 'This invoice is already closed' },
  cancel: { doing: 'cancel an invoice', notNow: 'This invoice is already closed' },
  expire: { doing: 'expire an invoice', notNow: 'This invoice has no deadline to pass now' },
};

const ACTOR_NOUNS: Readonly<Record<ActorType, string>> = {
  merchant: 'the merchant',
  payer: 'the payer',
  trader: 'a trader',
  admin: 'an administrator',
  system: 'the system',
};

/** Who may perform each action at all, from the table. */
const ACTORS_OF = new Map<Action, Set<ActorType>>();
for (const r of TRANSITIONS) {
  const set = ACTORS_OF.get(r.action) ?? new Set<ActorType>();
  set.add(r.actor);
  ACTORS_OF.set(r.action, set);
}

/** The specific refusal for a triple missing from the table, in words the person can act on. */
function refusal(state: InvoiceState, action: Action, actor: Actor): AppError {
  const words = ACTION_WORDS[action];
  const allowed = ACTORS_OF.get(action);
  if (!allowed?.has(actor.type)) {
    const who = [...(allowed ?? [])].map((a) => ACTOR_NOUNS[a]).join(' or ');
    return new AppError('FORBIDDEN', `Only ${who} can ${words.doing}`, { action });
  }
  if (action === 'accept' && state.traderId !== null && !FINAL_STATUSES.has(state.status)) {
    return new AppError(state.traderId === actor.id ? 'ALREADY_YOURS' : 'ALREADY_TAKEN');
  }
  if (action === 'remove' && !FINAL_STATUSES.has(state.status)) return new AppError('ALREADY_PAID');
  return new AppError('TRANSITION_REFUSED', words.notNow, { status: state.status, action });
}

/**
 * Whether `actor` may take `action` now, judged by the table and its guards alone (not the
 * action's input): lets a caller refuse before costly work, such as reading an upload.
 */
export function permitted(state: InvoiceState, action: Action, actor: Actor, now: number): void {
  const rule = findRule(state.status, action, actor.type);
  if (!rule) throw refusal(state, action, actor);
  const denied = rule.guard?.(state, actor, now);
  if (denied) throw denied;
}

/**
 * Applies one action to an invoice state. Pure: the caller loads the state, calls this,
 * and saves the result with a compare-and-set on `state.version`.
 */
export function transition(
  state: InvoiceState,
  action: Action,
  actor: Actor,
  input: ActionInput,
  now: number,
  timeouts: Timeouts,
): TransitionResult {
  const rule = findRule(state.status, action, actor.type);
  if (!rule) throw refusal(state, action, actor);
  const denied = rule.guard?.(state, actor, now);
  if (denied) throw denied;
  const to = typeof rule.to === 'function' ? rule.to(input, state, now, timeouts) : rule.to;
  const patch: InvoicePatch = rule.apply ? rule.apply(state, input, now, timeouts, actor, to) : {};
  const note = typeof rule.note === 'function' ? rule.note(to) : rule.note;
  return { from: state.status, to, action, actor, patch, note };
}

/** The status an invoice starts in, and its first timer. */
export function initialState(now: number, timeouts: Timeouts): { status: Status; deadlineAt: number; note: string } {
  return { status: 'not approve exchange', deadlineAt: secondsFrom(now, timeouts.acceptSeconds), note: 'Инвойс создан' };
}
