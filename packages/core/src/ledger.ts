import { AppError } from './errors.ts';
import { MAX_AMOUNT_MINOR } from './money.ts';

/**
 * Pure money math of the double-entry ledger. Amounts are integer minor units (cents of the
 * settlement currency); a line's amount is signed, and the lines of one entry sum to zero.
 */

/** Basis points: 10 000 = 100 %. */
export const MAX_BPS = 10_000;

/**
 * Account kinds, one set per party. A trader has three in the settlement currency (what is
 * free, what is held, what it earned) and one in UAH: what payers sent to its cards.
 */
export const LEDGER_ACCOUNT_KINDS = [
  'merchant',
  'trader_deposit',
  'trader_held',
  'trader_rewards',
  'trader_received',
  'platform',
  'world',
] as const;
export type LedgerAccountKind = (typeof LEDGER_ACCOUNT_KINDS)[number];

/** What a journal entry records. */
export const LEDGER_ENTRY_KINDS = ['hold', 'settle', 'payment', 'deposit', 'withdraw', 'payout', 'adjust'] as const;

/**
 * The currency payers send (invoice amounts). A successful invoice's `payment` entry, in it,
 * records the payer's money reaching the trader's card; everything else is in the settlement
 * currency.
 */
export const PAYER_CURRENCY = 'UAH';
export type LedgerEntryKind = (typeof LEDGER_ENTRY_KINDS)[number];

/**
 * An account's code, as the API and the CLI name it: `merchant:5`, `trader_deposit:3`,
 * `platform`, `world`. Owner ids are invoice-style numbers.
 */
export function accountCode(kind: LedgerAccountKind, ownerId?: string | null): string {
  if (kind === 'platform' || kind === 'world') return kind;
  if (ownerId === undefined || ownerId === null || !/^[1-9]\d{0,17}$/.test(ownerId)) {
    throw new AppError('VALIDATION_FAILED', `A ${kind} account needs an owner id`);
  }
  return `${kind}:${ownerId}`;
}

/** The kind and owner of an account code; VALIDATION_FAILED for anything that is not one. */
export function parseAccountCode(code: unknown): { kind: LedgerAccountKind; ownerId: string | null; code: string } {
  if (typeof code !== 'string')
    throw new AppError('VALIDATION_FAILED', 'account must be an account code such as merchant:5', { param: 'account' });
  if (code === 'platform' || code === 'world') return { kind: code, ownerId: null, code };
  const m = /^(merchant|trader_deposit|trader_held|trader_rewards|trader_received):([1-9]\d{0,17})$/.exec(code);
  if (!m) {
    throw new AppError(
      'VALIDATION_FAILED',
      `"${code.slice(0, 40)}" is not an account: use merchant:ID, trader_deposit:ID, trader_held:ID, trader_rewards:ID, trader_received:ID, platform or world`,
      { param: 'account' },
    );
  }
  return { kind: m[1] as LedgerAccountKind, ownerId: m[2] as string, code };
}

/** A basis-point setting: an integer from 0 to 10 000. */
export function parseBps(input: unknown): number {
  const n = typeof input === 'string' && /^\d{1,5}$/.test(input.trim()) ? Number(input.trim()) : input;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_BPS) {
    throw new AppError('VALIDATION_FAILED', 'bps must be a whole number of basis points from 0 to 10000', { param: 'bps' });
  }
  return n;
}

/** `part` of `value` in basis points, rounded half up (values are never negative here). */
function bpsOf(value: number, bps: number, round: 'half-up' | 'down'): number {
  const numerator = BigInt(value) * BigInt(bps);
  const q = numerator / BigInt(MAX_BPS);
  const r = numerator % BigInt(MAX_BPS);
  return Number(round === 'half-up' && r * 2n >= BigInt(MAX_BPS) ? q + 1n : q);
}

export interface Settlement {
  /** Credited to the merchant: the value minus its fee. */
  readonly merchant: number;
  /** The merchant's fee (value − merchant). */
  readonly fee: number;
  /** Credited to the trader's rewards. */
  readonly reward: number;
  /** The platform's share: fee − reward (negative when a reward exceeds the fee). */
  readonly platform: number;
}

/**
 * Splits a successful invoice's settlement value. The fee is rounded half up (the money
 * rule everywhere), the reward down, and the platform takes what is left, so the parts always
 * add up to exactly `value` whatever the rounding did.
 *
 * @example splitSettlement(1001, 150, 50) // { merchant: 986, fee: 15, reward: 5, platform: 10 }
 */
export function splitSettlement(value: number, merchantFeeBps: number, traderRewardBps: number): Settlement {
  if (!Number.isSafeInteger(value) || value < 0) throw new AppError('INTERNAL', 'A settlement value must be a non-negative integer');
  const fee = bpsOf(value, parseBps(merchantFeeBps), 'half-up');
  const reward = bpsOf(value, parseBps(traderRewardBps), 'down');
  const merchant = value - fee;
  return { merchant, fee, reward, platform: value - merchant - reward };
}

export interface LedgerLineInput {
  readonly account: string;
  readonly amount: number;
}

/** Lines on the same account merged, zero lines dropped, in a stable order (by account code). */
export function mergeLines(lines: readonly LedgerLineInput[]): LedgerLineInput[] {
  const sums = new Map<string, number>();
  for (const l of lines) sums.set(l.account, (sums.get(l.account) ?? 0) + l.amount);
  return [...sums]
    .filter(([, amount]) => amount !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([account, amount]) => ({ account, amount }));
}

/** Throws INTERNAL unless the lines are safe integers summing to exactly zero: an unbalanced entry is a bug, never data. */
export function assertBalanced(lines: readonly LedgerLineInput[]): void {
  let sum = 0;
  for (const l of lines) {
    if (!Number.isSafeInteger(l.amount)) throw new AppError('INTERNAL', `Ledger line on ${l.account} is not an integer amount`);
    sum += l.amount;
  }
  if (sum !== 0) throw new AppError('INTERNAL', `Ledger entry does not balance (off by ${sum})`);
}

const MONEY_RE = /^([+-]?)(0|[1-9]\d{0,12})(?:\.(\d{1,2}))?$/;

/**
 * A settlement-currency amount ("1000", "1000.5", "-12.30") in minor units. Positive unless
 * `signed`; at most two decimals; never zero; capped like invoice amounts.
 *
 * @example parseMoney('1000.00') // 100000
 */
export function parseMoney(input: unknown, options: { signed?: boolean; param?: string } = {}): number {
  const param = options.param ?? 'amount';
  const text = typeof input === 'string' ? input.trim() : typeof input === 'number' && Number.isFinite(input) ? String(input) : null;
  const m = text === null ? null : MONEY_RE.exec(text);
  if (!m || text === null) {
    throw new AppError('INVALID_AMOUNT', `${param} must be a decimal string with at most two decimals, such as "1000.00"`, { param });
  }
  if (m[1] === '-' && !options.signed) throw new AppError('INVALID_AMOUNT', `${param} must be positive`, { param });
  const minor = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  if (minor === 0) throw new AppError('INVALID_AMOUNT', `${param} must not be zero`, { param });
  if (minor > MAX_AMOUNT_MINOR) throw new AppError('INVALID_AMOUNT', `${param} is too large`, { param });
  return m[1] === '-' ? -minor : minor;
}

/**
 * Minor units as a decimal string with two decimals, signed when negative.
 *
 * @example formatMoney(-1230) // "-12.30"
 */
export function formatMoney(minor: number): string {
  const abs = Math.abs(minor);
  const text = `${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
  return minor < 0 ? `-${text}` : text;
}

/** What a ledger setting sets: the rate new invoices get, a merchant's fee, a trader's reward. */
export const LEDGER_SETTING_KINDS = ['rate', 'merchant_fee', 'trader_reward'] as const;
export type LedgerSettingKind = (typeof LEDGER_SETTING_KINDS)[number];

// Type aliases, not interfaces: the routes' schema-inferred answer types are index-signed.
/** One journal entry as the admin ledger endpoints answer it; its lines sum to zero. */
export type LedgerEntryView = {
  id: string;
  kind: string;
  currency: string;
  /** The invoice number, for entries an invoice change made. */
  invoice_id: string | null;
  /** The invoice history row (status change) it committed with. */
  event_id: string | null;
  memo: string | null;
  actor_type: string;
  actor_id: string | null;
  /** ISO 8601, UTC. */
  at: string;
  /** Signed decimal amounts: + credits the account, − debits it. */
  lines: { account: string; amount: string }[];
};

/** `GET /v1/admin/ledger`: entries oldest first, a page at a time. */
export type LedgerPageView = {
  entries: LedgerEntryView[];
  /** Pass as `cursor` for the next page; null on the last. */
  next_cursor: string | null;
};

/** One ledger account with its balance (`GET /v1/admin/balances`). */
export type AccountBalanceView = {
  /** The account code: `merchant:5`, `platform`, … */
  account: string;
  kind: string;
  owner_id: string | null;
  currency: string;
  /** Signed decimal, two decimals. */
  balance: string;
};

/** One change of the rate, a fee or a reward. */
export type LedgerSettingView = {
  kind: LedgerSettingKind;
  /** The merchant or trader; null for the platform-wide value. */
  owner_id: string | null;
  /** A rate (UAH per unit of the settlement currency) or basis points. */
  value: string;
  /** ISO 8601, UTC. */
  at: string;
};

/** `GET /v1/admin/rates`: the platform-wide rate in force, and every change, newest first. */
export type RatesView = {
  rate: string;
  history: LedgerSettingView[];
};

/** `GET /v1/admin/ledger/fees`: the platform-wide fee and reward in force, and every change, newest first. */
export type LedgerFeesView = {
  merchant_fee_bps: number;
  trader_reward_bps: number;
  history: LedgerSettingView[];
};

/** One payout to a merchant, as `GET /v1/balance/payouts` lists it. */
export type PayoutView = {
  id: string;
  /** What was paid out: a positive decimal of the settlement currency. */
  amount: string;
  currency: string;
  /** The administrator's note. */
  memo: string | null;
  /** ISO 8601, UTC. */
  at: string;
};

/** `GET /v1/balance/payouts`: oldest first, a page at a time. */
export type PayoutPageView = {
  data: PayoutView[];
  /** Pass as `cursor` for the next page; null on the last. */
  next_cursor: string | null;
};
