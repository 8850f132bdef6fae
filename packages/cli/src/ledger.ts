import fs from 'node:fs';
import { type Actor, formatMoney } from '@nltrade/core';
import type { System } from '@nltrade/server';

/** The options the ledger commands read (declared in main.ts's OPTIONS). */
export interface LedgerValues {
  json?: boolean | undefined;
  trader?: string | undefined;
  merchant?: string | undefined;
  account?: string | undefined;
  amount?: string | undefined;
  bps?: string | undefined;
  reason?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  format?: string | undefined;
  out?: string | undefined;
}

export interface LedgerContext {
  /** Runs `fn` on a System over the configured database, closing it after. */
  withSystem<T>(fn: (system: System) => Promise<T>): Promise<T>;
  /** A usage error (main prints the usage and exits 2). */
  usage(message: string): Error;
}

export const LEDGER_COMMANDS = [
  'deposit',
  'withdraw',
  'payout',
  'adjust',
  'set-fee',
  'set-reward',
  'set-rate',
  'balances',
  'export-ledger',
] as const;

export const LEDGER_USAGE = `  admin deposit --trader ID --amount 1000.00 [--reason TEXT] [--json]   top up a trader's deposit
  admin withdraw --trader ID --amount A [--account deposit|rewards] [--json]   pay a trader back (never below zero)
  admin payout --merchant ID --amount A [--json]   the merchant was paid out (never more than its balance)
  admin adjust --account CODE --amount [-]A --reason TEXT [--json]   a manual correction against the outside world;
      CODE: merchant:ID, trader_deposit:ID, trader_rewards:ID or platform
  admin set-fee [--merchant ID] --bps N        a merchant's fee (without --merchant: everyone's default)
  admin set-reward [--trader ID] --bps N       a trader's reward (without --trader: everyone's default)
  admin set-rate RATE [--merchant ID]          the rate new invoices get (UAH per unit of the settlement currency)
  admin balances [--json]                      every ledger account and its balance
  admin export-ledger [--from T] [--to T] [--format csv|json] [--out FILE]   the journal for the accountant
      (T: an ISO 8601 date or time; --to is exclusive; one CSV row per line of each entry)`;

const ADMIN: Actor = { type: 'admin', id: null };

function required(value: string | undefined, flag: string, ctx: LedgerContext): string {
  if (value === undefined || value === '') throw ctx.usage(`${flag} is required`);
  return value;
}

function time(value: string | undefined, flag: string, ctx: LedgerContext): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw ctx.usage(`${flag} must be an ISO 8601 date or time, such as 2026-03-01 (got "${value}")`);
  return ms;
}

/** RFC 4180: quote a field when it holds a comma, a quote or a line break. */
function csvField(value: string | number | null): string {
  const text = value === null ? '' : String(value);
  // A leading = + - @ would make a spreadsheet run the cell as a formula.
  const safe = /^[=+\-@]/.test(text) && !/^-?\d/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function print(values: LedgerValues, json: unknown, text: string): void {
  console.log(values.json ? JSON.stringify(json) : text);
}

/** Runs one ledger admin command; returns the exit code. Catalog errors reach main's handler. */
export async function ledgerAdmin(sub: string, args: string[], values: LedgerValues, ctx: LedgerContext): Promise<number> {
  switch (sub) {
    case 'deposit':
    case 'withdraw':
    case 'payout': {
      const amount = required(values.amount, '--amount', ctx);
      const entry = await ctx.withSystem(async (s) => {
        if (sub === 'payout') return s.ledger.payout(required(values.merchant, '--merchant', ctx), amount, ADMIN, values.reason);
        const trader = required(values.trader, '--trader', ctx);
        if (sub === 'deposit') return s.ledger.deposit(trader, amount, ADMIN, values.reason);
        const from = values.account ?? 'deposit';
        if (from !== 'deposit' && from !== 'rewards') throw ctx.usage('--account must be deposit or rewards for withdraw');
        return s.ledger.withdraw(trader, amount, ADMIN, from, values.reason);
      });
      const lines = entry.lines.map((l) => `  ${l.account.padEnd(24)} ${formatMoney(l.amount).padStart(16)} ${entry.currency}`);
      print(
        values,
        { ...entry, lines: entry.lines.map((l) => ({ account: l.account, amount: formatMoney(l.amount) })) },
        [`Entry ${entry.id} (${entry.kind}):`, ...lines].join('\n'),
      );
      return 0;
    }
    case 'adjust': {
      const account = required(values.account, '--account', ctx);
      const amount = required(values.amount, '--amount', ctx);
      const reason = required(values.reason, '--reason', ctx);
      const entry = await ctx.withSystem((s) => s.ledger.adjust(account, amount, reason, ADMIN));
      print(
        values,
        { ...entry, lines: entry.lines.map((l) => ({ account: l.account, amount: formatMoney(l.amount) })) },
        `Entry ${entry.id}: ${account} ${formatMoney(entry.lines.find((l) => l.account === account)?.amount ?? 0)} ${entry.currency} (${reason})`,
      );
      return 0;
    }
    case 'set-fee':
    case 'set-reward': {
      const bps = required(values.bps, '--bps', ctx);
      const change = await ctx.withSystem((s) =>
        sub === 'set-fee'
          ? s.ledger.setMerchantFee(values.merchant ?? null, bps, ADMIN)
          : s.ledger.setTraderReward(values.trader ?? null, bps, ADMIN),
      );
      const who = change.ownerId === null ? 'everyone without their own' : `${sub === 'set-fee' ? 'merchant' : 'trader'} ${change.ownerId}`;
      print(values, change, `${sub === 'set-fee' ? 'Fee' : 'Reward'} for ${who}: ${change.value} bps.`);
      return 0;
    }
    case 'set-rate': {
      const [rate] = args;
      if (!rate) throw ctx.usage('usage: nltrade admin set-rate RATE [--merchant ID]');
      const change = await ctx.withSystem((s) => s.ledger.setRate(rate, values.merchant ?? null, ADMIN));
      print(
        values,
        change,
        `New invoices${change.ownerId === null ? '' : ` of merchant ${change.ownerId}`} get the rate ${change.value}; existing ones keep theirs.`,
      );
      return 0;
    }
    case 'balances': {
      const accounts = await ctx.withSystem((s) => s.ledger.balances());
      print(
        values,
        { accounts: accounts.map((a) => ({ ...a, balance: formatMoney(a.balance) })) },
        accounts.length === 0
          ? 'No ledger accounts yet.'
          : accounts.map((a) => `${a.account.padEnd(24)} ${formatMoney(a.balance).padStart(16)} ${a.currency}`).join('\n'),
      );
      return 0;
    }
    case 'export-ledger': {
      const format = values.format ?? 'csv';
      if (format !== 'csv' && format !== 'json') throw ctx.usage('--format must be csv or json');
      const from = time(values.from, '--from', ctx);
      const to = time(values.to, '--to', ctx);
      // A new file only (never overwrites), owner-only: the journal names every party and amount.
      const out = values.out ? fs.openSync(values.out, 'wx', 0o600) : undefined;
      const write = (text: string) => (out === undefined ? process.stdout.write(text) : fs.writeSync(out, text));
      let rows = 0;
      try {
        if (format === 'csv') write('entry_id,at,kind,invoice_id,event_id,account,currency,amount,memo,actor_type,actor_id\n');
        await ctx.withSystem(async (s) => {
          let cursor: string | undefined;
          for (;;) {
            const page = await s.ledger.entries({ from, to, cursor, limit: 500 });
            let chunk = '';
            for (const e of page.entries) {
              if (format === 'json') {
                chunk += `${JSON.stringify({ ...e, at: new Date(e.at).toISOString(), lines: e.lines.map((l) => ({ account: l.account, amount: formatMoney(l.amount) })) })}\n`;
                rows++;
                continue;
              }
              for (const l of e.lines) {
                chunk += `${[e.id, new Date(e.at).toISOString(), e.kind, e.invoiceId, e.eventId, l.account, e.currency, formatMoney(l.amount), e.memo, e.actorType, e.actorId].map(csvField).join(',')}\n`;
                rows++;
              }
            }
            if (chunk) write(chunk);
            if (!page.nextCursor) break;
            cursor = page.nextCursor;
          }
        });
      } finally {
        if (out !== undefined) fs.closeSync(out);
      }
      if (values.out) console.error(`Wrote ${rows} ${format === 'csv' ? 'lines' : 'entries'} to ${values.out}.`);
      return 0;
    }
    default:
      throw ctx.usage(`unknown admin command "${sub}"`);
  }
}
