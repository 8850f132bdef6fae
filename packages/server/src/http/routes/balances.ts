import {
  type AccountBalanceView,
  type Actor,
  AppError,
  accountCode,
  formatMoney,
  LEDGER_ACCOUNT_KINDS,
  LEDGER_SETTING_KINDS,
  type LedgerEntryView,
  type LedgerFeesView,
  type LedgerPageView,
  type LedgerSettingView,
  LIMITS,
  type MerchantBalanceView,
  type PayoutPageView,
  type RatesView,
  type TraderBalanceView,
} from '@nltrade/core';
import type { FastifyInstance } from 'fastify';
import type { LedgerEntry, SettingChange } from '../../services/ledger.ts';
import { accountOf, guardMerchant, guardRole, merchantOf } from '../auth.ts';
import { type RouteOptions, typed } from '../schemas.ts';

/** Amounts in and out of these routes are decimal strings of the settlement currency, never numbers. */
const MONEY = {
  type: 'string',
  pattern: '^-?[0-9]+\\.[0-9]{2}$',
  description: 'A decimal amount of the settlement currency, two decimals',
} as const;
const MONEY_IN = {
  type: 'string',
  minLength: 1,
  maxLength: 20,
  description: 'A positive decimal amount of the settlement currency with at most two decimals, such as "1000.00"',
} as const;
const ID = { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } as const;
const REASON = { type: 'string', maxLength: LIMITS.reasonChars, description: 'Why; kept with the journal entry' } as const;
const CURRENCY = { type: 'string', description: 'The settlement currency (SETTLEMENT_CURRENCY), e.g. USDT' } as const;
const ACCOUNT = {
  type: 'string',
  maxLength: 40,
  description: 'An account code: merchant:ID, trader_deposit:ID, trader_held:ID, trader_rewards:ID, platform or world',
} as const;

const TRADER_BALANCE = {
  type: 'object',
  description: "The trader's deposit in the settlement currency",
  required: ['currency', 'deposit', 'held', 'available', 'rewards'],
  properties: {
    currency: CURRENCY,
    deposit: { ...MONEY, description: 'The whole deposit: available + held' },
    held: { ...MONEY, description: 'Held for the invoices the trader holds now' },
    available: { ...MONEY, description: 'What new invoices can be accepted against' },
    rewards: { ...MONEY, description: 'Rewards earned on successful invoices, not yet paid out' },
  },
} as const;

const MERCHANT_BALANCE = {
  type: 'object',
  description: "The merchant's balance in the settlement currency",
  required: ['currency', 'available', 'paid_out'],
  properties: {
    currency: CURRENCY,
    available: { ...MONEY, description: 'Owed to the merchant: Σ(settlement − fee) of successful invoices − payouts' },
    paid_out: { ...MONEY, description: 'Paid out to the merchant so far' },
  },
} as const;

const ENTRY = {
  type: 'object',
  description: 'An immutable journal entry; its lines sum to zero',
  required: ['id', 'kind', 'currency', 'invoice_id', 'event_id', 'memo', 'actor_type', 'actor_id', 'at', 'lines'],
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', description: 'hold, settle, deposit, withdraw, payout or adjust' },
    currency: CURRENCY,
    invoice_id: { type: ['string', 'null'], description: 'The invoice number, for entries an invoice change made' },
    event_id: { type: ['string', 'null'], description: 'The invoice history row (status change) it committed with' },
    memo: { type: ['string', 'null'] },
    actor_type: { type: 'string' },
    actor_id: { type: ['string', 'null'] },
    at: { type: 'string', description: 'ISO 8601, UTC' },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        required: ['account', 'amount'],
        properties: { account: ACCOUNT, amount: { ...MONEY, description: 'Signed: + credits the account, − debits it' } },
      },
    },
  },
} as const;

const SETTING = {
  type: 'object',
  required: ['kind', 'owner_id', 'value', 'at'],
  properties: {
    kind: { type: 'string', enum: LEDGER_SETTING_KINDS },
    owner_id: { type: ['string', 'null'], description: 'The merchant or trader; null for the platform-wide value' },
    value: { type: 'string', description: 'A rate (UAH per unit of the settlement currency) or basis points' },
    at: { type: 'string', description: 'ISO 8601, UTC' },
  },
} as const;

const LEDGER_QUERY = {
  type: 'object',
  properties: {
    account: ACCOUNT,
    from: { type: 'string', maxLength: 40, description: 'Entries at or after this time (ISO 8601 or epoch ms)' },
    to: { type: 'string', maxLength: 40, description: 'Entries before this time (ISO 8601 or epoch ms)' },
    cursor: { type: 'string', maxLength: 20, description: 'The previous page’s next_cursor' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, description: 'Entries per page (100)' },
  },
  additionalProperties: false,
} as const;

const DEPOSIT_BODY = {
  type: 'object',
  description: "A top-up of a trader's deposit",
  required: ['trader', 'amount'],
  properties: { trader: ID, amount: MONEY_IN, reason: REASON },
  additionalProperties: false,
} as const;
const WITHDRAW_BODY = {
  type: 'object',
  description: 'Money paid back to a trader; never more than is available',
  required: ['trader', 'amount'],
  properties: {
    trader: ID,
    amount: MONEY_IN,
    from: { type: 'string', enum: ['deposit', 'rewards'], description: 'Which of the trader’s accounts pays (deposit)' },
    reason: REASON,
  },
  additionalProperties: false,
} as const;
const PAYOUT_BODY = {
  type: 'object',
  description: 'The merchant was paid out this much; never more than its balance',
  required: ['merchant', 'amount'],
  properties: { merchant: ID, amount: MONEY_IN, reason: REASON },
  additionalProperties: false,
} as const;
const ADJUST_BODY = {
  type: 'object',
  description: 'A manual correction against the outside world; a reason is required',
  required: ['account', 'amount', 'reason'],
  properties: {
    account: ACCOUNT,
    amount: { ...MONEY_IN, description: 'Signed decimal: + credits the account, − debits it' },
    reason: { ...REASON, minLength: 1 },
  },
  additionalProperties: false,
} as const;
const BPS = { type: 'integer', minimum: 0, maximum: 10_000, description: 'Basis points of the settlement value' } as const;
const FEE_BODY = {
  type: 'object',
  description: "A merchant's fee; without merchant, the platform-wide default",
  required: ['bps'],
  properties: { merchant: ID, bps: BPS },
  additionalProperties: false,
} as const;
const REWARD_BODY = {
  type: 'object',
  description: "A trader's reward; without trader, the platform-wide default",
  required: ['bps'],
  properties: { trader: ID, bps: BPS },
  additionalProperties: false,
} as const;
const RATE_BODY = {
  type: 'object',
  description: 'The rate new invoices get; with merchant, that merchant’s own',
  required: ['rate'],
  properties: {
    rate: { type: 'string', maxLength: 20, description: 'UAH per unit of the settlement currency, e.g. "41.50"' },
    merchant: ID,
  },
  additionalProperties: false,
} as const;

const iso = (ms: number) => new Date(ms).toISOString();

function entryView(e: LedgerEntry): LedgerEntryView {
  return {
    id: e.id,
    kind: e.kind,
    currency: e.currency,
    invoice_id: e.invoiceId,
    event_id: e.eventId,
    memo: e.memo,
    actor_type: e.actorType,
    actor_id: e.actorId,
    at: iso(e.at),
    lines: e.lines.map((l) => ({ account: l.account, amount: formatMoney(l.amount) })),
  };
}

function settingView(s: SettingChange): LedgerSettingView {
  return { kind: s.kind, owner_id: s.ownerId, value: s.value, at: iso(s.at) };
}

/** A query time: epoch milliseconds or an ISO 8601 date. */
function parseTime(value: string | undefined, param: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{1,15}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new AppError('VALIDATION_FAILED', `${param} must be an ISO 8601 time or epoch milliseconds`, { param });
  return ms;
}

/** Balances and the ledger: traders and merchants read their own, administrators everything and the operations. */
export async function balancesRoutes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const ledger = system.ledger;

  await instance.register(async (scope) => {
    const app = typed(scope);
    guardRole(app, system, 'trader');
    app.get(
      '/v1/trader/balance',
      { schema: { description: "The calling trader's deposit, held amounts and rewards", response: { 200: TRADER_BALANCE } } },
      async (request): Promise<TraderBalanceView> => {
        const b = await ledger.traderBalance(accountOf(request).id);
        return {
          currency: b.currency,
          deposit: formatMoney(b.deposit),
          held: formatMoney(b.held),
          available: formatMoney(b.available),
          rewards: formatMoney(b.rewards),
        };
      },
    );
  });

  await instance.register(async (scope) => {
    const app = typed(scope);
    guardMerchant(app, system);
    app.get(
      '/v1/balance',
      { schema: { description: "The calling merchant's balance (Bearer access token)", response: { 200: MERCHANT_BALANCE } } },
      async (request): Promise<MerchantBalanceView> => {
        const b = await ledger.merchantBalance(merchantOf(request).id);
        return { currency: b.currency, available: formatMoney(b.available), paid_out: formatMoney(b.paidOut) };
      },
    );
    app.get(
      '/v1/balance/payouts',
      {
        schema: {
          description:
            "The calling merchant's payouts, oldest first, a page at a time: what it was paid out, when, with the administrator's note",
          querystring: {
            type: 'object',
            properties: {
              cursor: { type: 'string', maxLength: 20, description: 'The previous page’s next_cursor' },
              limit: { type: 'integer', minimum: 1, maximum: 200 },
            },
            additionalProperties: false,
          },
        },
      },
      async (request): Promise<PayoutPageView> => {
        const account = accountCode('merchant', merchantOf(request).id);
        const page = await ledger.entries({ account, kind: 'payout', cursor: request.query.cursor, limit: request.query.limit ?? 50 });
        return {
          data: page.entries.map((e) => ({
            id: e.id,
            // The merchant's line is the debit of its balance; a payout reads as what was paid.
            amount: formatMoney(-(e.lines.find((l) => l.account === account)?.amount ?? 0)),
            currency: e.currency,
            memo: e.memo,
            at: iso(e.at),
          })),
          next_cursor: page.nextCursor,
        };
      },
    );
  });

  await instance.register(async (scope) => {
    const app = typed(scope);
    guardRole(app, system, 'admin');
    const admin = (request: Parameters<typeof accountOf>[0]): Actor => ({ type: 'admin', id: accountOf(request).id });

    app.get(
      '/v1/admin/balances',
      {
        schema: {
          description: 'Every ledger account with its balance',
          querystring: {
            type: 'object',
            properties: { kind: { type: 'string', enum: [...LEDGER_ACCOUNT_KINDS], description: 'Only accounts of this kind' } },
            additionalProperties: false,
          },
        },
      },
      async (request): Promise<{ accounts: AccountBalanceView[] }> => ({
        accounts: (await ledger.balances(request.query.kind)).map((a) => ({
          account: a.account,
          kind: a.kind,
          owner_id: a.ownerId,
          currency: a.currency,
          balance: formatMoney(a.balance),
        })),
      }),
    );

    app.get(
      '/v1/admin/ledger',
      {
        schema: {
          description: 'Journal entries oldest first, a page at a time',
          querystring: LEDGER_QUERY,
          response: {
            200: {
              type: 'object',
              required: ['entries', 'next_cursor'],
              properties: {
                entries: { type: 'array', items: ENTRY },
                next_cursor: { type: ['string', 'null'], description: 'Pass as cursor for the next page; null on the last' },
              },
            },
          },
        },
      },
      async (request): Promise<LedgerPageView> => {
        const q = request.query;
        const page = await ledger.entries({
          account: q.account,
          from: parseTime(q.from, 'from'),
          to: parseTime(q.to, 'to'),
          cursor: q.cursor,
          limit: q.limit,
        });
        return { entries: page.entries.map(entryView), next_cursor: page.nextCursor };
      },
    );

    const entryReply = { 200: ENTRY } as const;
    app.post('/v1/admin/ledger/deposit', { schema: { body: DEPOSIT_BODY, response: entryReply } }, async (request) =>
      entryView(await ledger.deposit(request.body.trader, request.body.amount, admin(request), request.body.reason)),
    );
    app.post('/v1/admin/ledger/withdraw', { schema: { body: WITHDRAW_BODY, response: entryReply } }, async (request) =>
      entryView(
        await ledger.withdraw(
          request.body.trader,
          request.body.amount,
          admin(request),
          request.body.from ?? 'deposit',
          request.body.reason,
        ),
      ),
    );
    app.post('/v1/admin/ledger/payout', { schema: { body: PAYOUT_BODY, response: entryReply } }, async (request) =>
      entryView(await ledger.payout(request.body.merchant, request.body.amount, admin(request), request.body.reason)),
    );
    app.post('/v1/admin/ledger/adjust', { schema: { body: ADJUST_BODY, response: entryReply } }, async (request) =>
      entryView(await ledger.adjust(request.body.account, request.body.amount, request.body.reason, admin(request))),
    );
    app.post('/v1/admin/ledger/fee', { schema: { body: FEE_BODY, response: { 200: SETTING } } }, async (request) =>
      settingView(await ledger.setMerchantFee(request.body.merchant ?? null, request.body.bps, admin(request))),
    );
    app.post('/v1/admin/ledger/reward', { schema: { body: REWARD_BODY, response: { 200: SETTING } } }, async (request) =>
      settingView(await ledger.setTraderReward(request.body.trader ?? null, request.body.bps, admin(request))),
    );
    app.get(
      '/v1/admin/rates',
      {
        schema: {
          description: 'The platform-wide rate new invoices get now, and every rate change, newest first',
          response: {
            200: {
              type: 'object',
              required: ['rate', 'history'],
              properties: { rate: { type: 'string' }, history: { type: 'array', items: SETTING } },
            },
          },
        },
      },
      async (): Promise<RatesView> => ({
        rate: (await ledger.settingsHistory('rate', ''))[0]?.value ?? system.config.rate,
        history: (await ledger.settingsHistory('rate')).map(settingView),
      }),
    );
    app.get(
      '/v1/admin/ledger/fees',
      {
        schema: {
          description:
            'The platform-wide merchant fee and trader reward in force (basis points; a merchant’s or trader’s own value overrides them), and every change of either, newest first',
          response: {
            200: {
              type: 'object',
              required: ['merchant_fee_bps', 'trader_reward_bps', 'history'],
              properties: {
                merchant_fee_bps: { type: 'integer' },
                trader_reward_bps: { type: 'integer' },
                history: { type: 'array', items: SETTING },
              },
            },
          },
        },
      },
      async (): Promise<LedgerFeesView> => {
        const [fee, reward, fees, rewards] = await Promise.all([
          ledger.merchantFeeBps(''),
          ledger.traderRewardBps(''),
          ledger.settingsHistory('merchant_fee'),
          ledger.settingsHistory('trader_reward'),
        ]);
        const history = [...fees, ...rewards].sort((a, b) => b.at - a.at).map(settingView);
        return { merchant_fee_bps: fee, trader_reward_bps: reward, history };
      },
    );
    app.post('/v1/admin/rates', { schema: { body: RATE_BODY, response: { 200: SETTING } } }, async (request) =>
      settingView(await ledger.setRate(request.body.rate, request.body.merchant ?? null, admin(request))),
    );
  });
}
