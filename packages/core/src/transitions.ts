import { parseCard } from './card.ts';
import { AppError } from './errors.ts';
import { convertAtRate, formatAmount, parseAmount } from './money.ts';
import { FINAL_STATUSES, STATUSES, type Status } from './statuses.ts';

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
}

/** Fields an applied transition changes, besides status and version. */
export interface InvoicePatch {
  traderId?: string;
  acceptedAt?: number;
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
type Apply = (state: InvoiceState, input: ActionInput, now: number, timeouts: Timeouts) => InvoicePatch;

export interface TransitionRule {
  readonly from: Status;
  readonly action: Action;
  readonly actor: ActorType;
  /** A function when the outcome depends on the input (admin decide). */
  readonly to: Status | ((input: ActionInput) => Status);
  readonly guard?: Guard;
  readonly apply?: Apply;
  readonly note: string;
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
  const r = input.reason;
  if (r === undefined || r === null || r === '') {
    if (required) throw new AppError('VALIDATION_FAILED', 'reason is required');
    return null;
  }
  if (typeof r !== 'string' || r.length > 500) throw new AppError('VALIDATION_FAILED', 'reason must be a string of at most 500 characters');
  return r;
}

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
    apply: (_s, _i, now) => ({ acceptedAt: now, deadlineAt: null }),
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
    apply: (_s, i) => ({ deadlineAt: null, resolution: reasonText(i, false) }),
    note: 'Трейдер не отримав оплату, очікується фото підтвердження',
  },
  {
    from: 'waitPhoto',
    action: 'proofPhoto',
    actor: 'payer',
    to: 'notApprove',
    guard: boundPayer,
    apply: (_s, i) => {
      const url = i.photoUrl;
      if (typeof url !== 'string' || url.length === 0 || url.length > 2048) {
        throw new AppError('VALIDATION_FAILED', 'approve_photo must be a URL of at most 2048 characters');
      }
      return { approvePhoto: url };
    },
    note: 'Фото підтвердження відправленно',
  },
  {
    from: 'notApprove',
    action: 'decide',
    actor: 'admin',
    to: decision,
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
];

const INDEX = new Map<string, TransitionRule>(TRANSITIONS.map((r) => [`${r.from}|${r.action}|${r.actor}`, r]));

export function findRule(from: Status, action: Action, actor: ActorType): TransitionRule | undefined {
  return INDEX.get(`${from}|${action}|${actor}`);
}

/** The specific refusal for a triple missing from the table, so clients get a useful message. */
function refusal(state: InvoiceState, action: Action, actor: Actor): AppError {
  if (action === 'accept' && actor.type === 'trader' && state.traderId !== null) {
    return new AppError('ALREADY_TAKEN');
  }
  if (action === 'remove' && actor.type === 'merchant' && !FINAL_STATUSES.has(state.status)) {
    return new AppError('ALREADY_PAID');
  }
  return new AppError('TRANSITION_REFUSED', `Cannot ${action} an invoice in status "${state.status}" as ${actor.type}`, {
    status: state.status,
    action,
  });
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
  const patch: InvoicePatch = rule.apply ? rule.apply(state, input, now, timeouts) : {};
  if (action === 'accept') {
    if (actor.id === null) throw new AppError('FORBIDDEN', 'A trader account is required');
    patch.traderId = actor.id;
  }
  const to = typeof rule.to === 'function' ? rule.to(input) : rule.to;
  return { from: state.status, to, action, actor, patch, note: rule.note };
}

/** The status an invoice starts in, and its first timer. */
export function initialState(now: number, timeouts: Timeouts): { status: Status; deadlineAt: number; note: string } {
  return { status: 'not approve exchange', deadlineAt: secondsFrom(now, timeouts.acceptSeconds), note: 'Инвойс создан' };
}
