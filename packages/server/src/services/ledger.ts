import {
  type Actor,
  AppError,
  accountCode,
  assertBalanced,
  cleanText,
  type ErrorCode,
  FINAL_STATUSES,
  HELD_STATUSES,
  type LedgerAccountKind,
  type LedgerEntryKind,
  type LedgerSettingKind,
  LIMITS,
  mergeLines,
  OPEN_STATUS,
  PAYER_CURRENCY,
  parseAccountCode,
  parseBps,
  parseMoney,
  parseRate,
  splitSettlement,
} from '@nltrade/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import { CompiledQueries, param } from '../storage/compiled.ts';
import type { Freshness, Memo } from '../storage/freshness.ts';
import type { Dialect } from '../storage/migrations.ts';
import type { Database } from '../storage/schema.ts';
import type { ChangeHook, CommittingChange } from './invoices.ts';

export interface LedgerSettings {
  /** SETTLEMENT_CURRENCY: every ledger amount is in it. */
  readonly currency: string;
  /** MERCHANT_FEE_BPS / TRADER_REWARD_BPS: the defaults when no setting was stored. */
  readonly merchantFeeBps: number;
  readonly traderRewardBps: number;
  /** REQUIRE_TRADER_DEPOSIT: accepting needs an available deposit covering the invoice. */
  readonly requireTraderDeposit: boolean;
  /** NLTRADE_RATE: the rate until one is stored. */
  readonly rate: string;
  /** Keeps the stored settings in memory while they are known unchanged; absent: read every time. */
  readonly freshness?: Freshness;
}

type Db = Kysely<Database> | Transaction<Database>;

interface PostLine {
  readonly account: string;
  readonly amount: number;
}

interface PostInput {
  readonly kind: LedgerEntryKind;
  /** The settlement currency unless said (a `payment` is in the payer's UAH). */
  readonly currency?: string;
  readonly lines: readonly PostLine[];
  /** Accounts that must not end below zero, and the error when one would. */
  readonly floors?: ReadonlyMap<string, ErrorCode>;
  readonly invoiceId?: string | null;
  readonly eventId?: number | null;
  readonly memo?: string | null;
  readonly actor: Actor;
}

/** An entry ready to write: its merged lines in account-id order, and which of them are floored. */
interface Plan {
  readonly input: PostInput;
  readonly ordered: readonly (PostLine & { id: number })[];
  readonly floored: readonly number[];
  readonly currency: string;
}

export interface LedgerLine {
  readonly account: string;
  readonly amount: number;
}

export interface LedgerEntry {
  readonly id: string;
  readonly kind: string;
  readonly currency: string;
  readonly invoiceId: string | null;
  readonly eventId: string | null;
  readonly memo: string | null;
  readonly actorType: string;
  readonly actorId: string | null;
  readonly at: number;
  readonly lines: readonly LedgerLine[];
}

export interface TraderBalance {
  readonly currency: string;
  /** All of it: available + held. */
  readonly deposit: number;
  readonly held: number;
  readonly available: number;
  readonly rewards: number;
}

export interface MerchantBalance {
  readonly currency: string;
  readonly available: number;
  /** Everything paid out to the merchant so far. */
  readonly paidOut: number;
}

export interface AccountBalance {
  readonly account: string;
  readonly kind: string;
  readonly ownerId: string | null;
  readonly currency: string;
  readonly balance: number;
}

export interface SettingChange {
  readonly kind: LedgerSettingKind;
  readonly ownerId: string | null;
  readonly value: string;
  readonly at: number;
  readonly actorType: string;
  readonly actorId: string | null;
}

export interface EntryQuery {
  /** Only entries with a line on this account code. */
  account?: string | undefined;
  /** Epoch ms: at or after `from`, before `to`. */
  from?: number | undefined;
  to?: number | undefined;
  /** Entries after this entry id (the previous page's `nextCursor`). */
  cursor?: string | undefined;
  limit?: number | undefined;
  /** Only entries of this kind. */
  kind?: LedgerEntryKind | undefined;
}

const OWNER_RE = /^[1-9]\d{0,17}$/;

/** Stands for a parameter of a query compiled once (see LedgerService.#run). */

/**
 * An invoice's holds per trader, from its own entries. On PostgreSQL the lines are read per
 * entry in a LATERAL subquery it cannot flatten: left free, the planner may start at the
 * trader's held account instead, whose lines grow by two with every invoice the trader takes
 * (a young table without statistics invites that plan, and it slows down with every invoice).
 * SQLite always starts from the invoice's index.
 */
export const HOLDS_SQL = (
  dialect: Dialect,
  invoice: unknown,
  currency: unknown,
) => sql`select 'hold' as kind, a.owner_id as owner_id, cast(sum(l.amount) as text) as value, 0 as id
  from ledger_entries e
  ${dialect === 'postgres' ? sql`cross join lateral (select account_id, amount from ledger_lines where entry_id = e.id offset 0) l` : sql`inner join ledger_lines l on l.entry_id = e.id`}
  inner join ledger_accounts a on a.id = l.account_id
  where e.invoice_id = ${invoice} and a.kind = 'trader_held' and a.currency = ${currency}
  group by a.owner_id`;

/**
 * The double-entry ledger: accounts with running balances, immutable entries whose lines sum
 * to zero, rate and fee settings with history. Invoice changes reach it through `hook`,
 * inside their own transaction, so a status change and its entry always commit together.
 */
export class LedgerService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #settings: LedgerSettings;
  readonly #queries = new CompiledQueries();
  /** Account ids by currency and code: accounts are never deleted, so an id once committed stays right. */
  readonly #ids = new Map<string, number>();

  readonly #dialect: Dialect;
  /** Stored settings by kind and owner: read on every invoice created, written a few times a year. */
  readonly #stored: Memo<string | undefined> | undefined;

  constructor(db: Kysely<Database>, clock: Clock, settings: LedgerSettings, dialect: Dialect = 'sqlite') {
    this.#db = db;
    this.#dialect = dialect;
    this.#clock = clock;
    this.#settings = settings;
    this.#stored = settings.freshness?.memo('ledger_settings');
  }

  get currency(): string {
    return this.#settings.currency;
  }

  get requireTraderDeposit(): boolean {
    return this.#settings.requireTraderDeposit;
  }

  /**
   * Runs inside every invoice change: holds the settlement value on accept, moves the hold on
   * an amount change, settles on `success`, releases on `canceled`, `rejected` and a return to
   * the queue. Sandbox invoices never touch the ledger. Throws INSUFFICIENT_DEPOSIT (rolling
   * the change back) when the gate is on and the trader's available deposit does not cover it.
   */
  readonly hook: ChangeHook = async (trx, change) => {
    const invoice = change.invoice;
    if (invoice.sandbox) return;
    const toFinal = FINAL_STATUSES.has(change.to);
    const requeued = change.to === OPEN_STATUS && change.from !== null && change.from !== OPEN_STATUS;
    if (change.action !== 'accept' && change.action !== 'changeAmount' && !toFinal && !requeued) return;
    // An invoice taken from the queue holds nothing yet; everything else asks the journal.
    const settling = change.to === 'success' && invoice.traderId !== null;
    // A settlement needs the holds and the fees: read together, one round trip.
    const read = settling
      ? await this.#holdsAndFees(trx, invoice.id, invoice.merchantId, invoice.traderId as string)
      : { holds: change.action === 'accept' && change.from === OPEN_STATUS ? [] : await this.#holdsOf(trx, invoice.id), fees: null };
    const holds = read.holds;
    const lines: PostLine[] = [];
    for (const h of holds) {
      lines.push({ account: accountCode('trader_held', h.traderId), amount: -h.amount });
      lines.push({ account: accountCode('trader_deposit', h.traderId), amount: h.amount });
    }
    const floors = new Map<string, ErrorCode>();
    const traderId = invoice.traderId;
    if (traderId !== null && HELD_STATUSES.has(change.to)) {
      const deposit = accountCode('trader_deposit', traderId);
      lines.push({ account: accountCode('trader_held', traderId), amount: invoice.reciveMinor });
      lines.push({ account: deposit, amount: -invoice.reciveMinor });
      if (this.#settings.requireTraderDeposit) floors.set(deposit, 'INSUFFICIENT_DEPOSIT');
    }
    let kind: LedgerEntryKind = 'hold';
    if (settling && traderId !== null && read.fees) {
      kind = 'settle';
      const { feeBps, rewardBps } = read.fees;
      const split = splitSettlement(invoice.reciveMinor, feeBps, rewardBps);
      // The hold (released above) becomes the debit: the trader has the payer's UAH.
      lines.push({ account: accountCode('trader_deposit', traderId), amount: -invoice.reciveMinor });
      lines.push({ account: accountCode('merchant', invoice.merchantId), amount: split.merchant });
      lines.push({ account: accountCode('trader_rewards', traderId), amount: split.reward });
      lines.push({ account: 'platform', amount: split.platform });
    }
    const entries: PostInput[] = [
      { kind, lines, floors, invoiceId: invoice.id, eventId: change.eventId, memo: memoOf(change), actor: change.actor },
    ];
    if (kind === 'settle' && traderId !== null) {
      // The other side of the exchange, in the payer's currency: the UAH the payer sent
      // reached the trader's card (what the trader's deposit was debited for above).
      entries.push({
        kind: 'payment',
        currency: PAYER_CURRENCY,
        lines: [
          { account: accountCode('trader_received', traderId), amount: invoice.sendMinor },
          { account: 'world', amount: -invoice.sendMinor },
        ],
        invoiceId: invoice.id,
        eventId: change.eventId,
        memo: memoOf(change),
        actor: change.actor,
      });
    }
    await this.#postAll(trx, entries);
  };

  /** What the invoice holds now, per trader (normally one trader, or none). */
  async #holdsOf(trx: Db, invoiceId: string): Promise<{ traderId: string; amount: number }[]> {
    const { rows } = await this.#queries.run<{ owner_id: string | null; value: number | string }>(
      trx,
      'holds',
      () => sql`${HOLDS_SQL(this.#dialect, param('invoice'), param('currency'))}`.compile(trx),
      { invoice: Number(invoiceId), currency: this.#settings.currency },
    );
    return rows.map((r) => ({ traderId: String(r.owner_id), amount: Number(r.value) })).filter((r) => r.amount !== 0);
  }

  /** Writes one balanced entry (see `#postAll`); its id, or null when it had no lines. */
  async #post(trx: Transaction<Database>, input: PostInput): Promise<string | null> {
    return (await this.#postAll(trx, [input]))[0] ?? null;
  }

  /**
   * Writes balanced entries and moves the running balances with them. Balances are updated in
   * account-id order, so two transactions touching the same accounts never wait on each other
   * in a cycle; a floored account is decremented with a conditional UPDATE, which PostgreSQL
   * re-checks after waiting for a concurrent writer's row lock, so no two can overdraw it.
   * On PostgreSQL the entries go in one statement (a settlement and its payment in the payer's
   * currency are one round trip, not two) when they touch no account twice: one statement
   * cannot update a row twice.
   */
  async #postAll(trx: Transaction<Database>, inputs: readonly PostInput[]): Promise<(string | null)[]> {
    const plans: Plan[] = [];
    for (const input of inputs) {
      const lines = mergeLines(input.lines);
      assertBalanced(lines);
      if (lines.length === 0) {
        plans.push({ input, ordered: [], floored: [], currency: '' });
        continue;
      }
      const currency = input.currency ?? this.#settings.currency;
      const ids = await this.#accountIds(
        trx,
        lines.map((l) => l.account),
        currency,
      );
      const ordered = lines.map((l) => ({ ...l, id: ids.get(l.account) as number })).sort((a, b) => a.id - b.id);
      const floored = ordered.flatMap((l, i) => (l.amount < 0 && input.floors?.has(l.account) ? [i] : []));
      plans.push({ input, ordered, floored, currency });
    }
    const live = plans.filter((p) => p.ordered.length > 0);
    const results = new Map<Plan, string>();
    if (this.#dialect === 'postgres') {
      const seen = new Set<number>();
      const disjoint = live.every((p) => p.ordered.every((l) => !seen.has(l.id) && seen.add(l.id)));
      const groups = disjoint ? [live] : live.map((p) => [p]);
      for (const group of groups) {
        if (group.length === 0) continue;
        const ids = await this.#postPg(trx, group);
        for (const [j, p] of group.entries()) results.set(p, ids[j] as string);
      }
    } else {
      for (const plan of live) results.set(plan, await this.#postSqlite(trx, plan));
    }
    return plans.map((p) => results.get(p) ?? null);
  }

  /** The markers' values of one entry, each name prefixed with `e<j>_`. */
  #values(plan: Plan, j: number, values: Record<string, unknown>): void {
    const { input, ordered, currency } = plan;
    ordered.forEach((l, i) => {
      values[`e${j}_id${i}`] = l.id;
      values[`e${j}_a${i}`] = l.amount;
    });
    Object.assign(values, {
      [`e${j}_kind`]: input.kind,
      [`e${j}_currency`]: currency,
      [`e${j}_invoice`]: input.invoiceId == null ? null : Number(input.invoiceId),
      [`e${j}_event`]: input.eventId ?? null,
      [`e${j}_memo`]: input.memo ?? null,
      [`e${j}_actorType`]: input.actor.type,
      [`e${j}_actorId`]: input.actor.id,
      [`e${j}_at`]: this.#clock.now(),
      [`e${j}_n`]: ordered.length,
    });
  }

  /**
   * One UPDATE for every balance of an entry: PostgreSQL locks the rows in index (id) order.
   * A floored account that would go below zero is left out by the WHERE, which PostgreSQL
   * re-checks after waiting for a concurrent writer's lock, so the count of updated rows tells.
   */
  #balanceUpdate(trx: Db, plan: Plan, j: number) {
    const m = (name: string) => param<number>(`e${j}_${name}`);
    const delta = sql`case id ${sql.join(
      plan.ordered.map((_l, i) => sql`when ${m(`id${i}`)} then cast(${m(`a${i}`)} as bigint)`),
      sql` `,
    )} end`;
    return trx
      .updateTable('ledger_accounts')
      .set({ balance: sql`balance + ${delta}` })
      .where(
        'id',
        'in',
        plan.ordered.map((_l, i) => m(`id${i}`)),
      )
      .where((eb) =>
        eb.and(plan.floored.map((i) => eb.or([eb('id', '!=', m(`id${i}`)), eb(sql`balance + cast(${m(`a${i}`)} as bigint)`, '>=', 0)]))),
      );
  }

  #refuse(plan: Plan): never {
    const first = plan.floored[0] === undefined ? undefined : plan.ordered[plan.floored[0]];
    const floor = first && plan.input.floors?.get(first.account);
    throw new AppError(floor ?? 'INTERNAL', floor ? undefined : 'A ledger account vanished');
  }

  /**
   * Balances, entries and lines of every plan in one round trip; an entry is written only
   * when every balance of its own moved (otherwise the refusal below rolls the transaction
   * back anyway).
   */
  async #postPg(trx: Transaction<Database>, group: readonly Plan[]): Promise<string[]> {
    const values: Record<string, unknown> = {};
    for (const [j, p] of group.entries()) this.#values(p, j, values);
    const shape = group.map((p) => `${p.ordered.length}:${p.floored.join(',')}`).join('|');
    const r = await this.#queries.run<Record<string, number | string | null>>(
      trx,
      `pg-post:${shape}`,
      () => {
        const parts = group.map((plan, j) => {
          const m = (name: string) => param(`e${j}_${name}`);
          const u = sql.raw(`u${j}`);
          const e = sql.raw(`e${j}`);
          return sql`${u} as (${this.#balanceUpdate(trx, plan, j).returning('id')}),
          ${e} as (
            insert into ledger_entries (kind, currency, invoice_id, event_id, memo, actor_type, actor_id, at)
            select ${m('kind')}, ${m('currency')}, cast(${m('invoice')} as bigint), cast(${m('event')} as bigint),
              cast(${m('memo')} as text), ${m('actorType')}, cast(${m('actorId')} as text), cast(${m('at')} as bigint)
            where (select count(*) from ${u}) = cast(${m('n')} as bigint)
            returning id
          ), ${sql.raw(`l${j}`)} as (
            insert into ledger_lines (entry_id, account_id, amount)
            select ${e}.id, v.account_id, v.amount from ${e}, (values ${sql.join(
              plan.ordered.map((_l, i) => sql`(cast(${m(`id${i}`)} as bigint), cast(${m(`a${i}`)} as bigint))`),
            )}) as v(account_id, amount)
          )`;
        });
        const picks = group.map(
          (_p, j) =>
            sql`(select count(*) from ${sql.raw(`u${j}`)}) as ${sql.raw(`updated${j}`)}, (select id from ${sql.raw(`e${j}`)}) as ${sql.raw(`id${j}`)}`,
        );
        return sql`with ${sql.join(parts, sql`, `)} select ${sql.join(picks, sql`, `)}`.compile(trx);
      },
      values,
    );
    const row = r.rows[0];
    return group.map((plan, j) => {
      const id = row?.[`id${j}`];
      if (!row || Number(row[`updated${j}`]) !== plan.ordered.length || id === null || id === undefined) return this.#refuse(plan);
      return String(id);
    });
  }

  async #postSqlite(trx: Transaction<Database>, plan: Plan): Promise<string> {
    const values: Record<string, unknown> = {};
    this.#values(plan, 0, values);
    const n = plan.ordered.length;
    const result = await this.#queries.run(
      trx,
      `update:${n}:${plan.floored.join(',')}`,
      () => this.#balanceUpdate(trx, plan, 0).compile(),
      values,
    );
    if (Number(result.numAffectedRows ?? 0) !== n) this.#refuse(plan);
    const m = (name: string) => param(`e0_${name}`);
    const entryValues = sql`(${m('kind')}, ${m('currency')}, ${m('invoice')}, ${m('event')}, ${m('memo')}, ${m('actorType')}, ${m('actorId')}, ${m('at')})`;
    const inserted = await this.#queries.run<{ id: number }>(
      trx,
      'entry',
      () =>
        sql`insert into ledger_entries (kind, currency, invoice_id, event_id, memo, actor_type, actor_id, at) values ${entryValues} returning id`.compile(
          trx,
        ),
      values,
    );
    const entryId = Number(inserted.rows[0]?.id);
    values.e0_entry = entryId;
    await this.#queries.run(
      trx,
      `lines:${n}`,
      () =>
        sql`insert into ledger_lines (entry_id, account_id, amount) values ${sql.join(
          plan.ordered.map((_l, i) => sql`(${m('entry')}, ${m(`id${i}`)}, ${m(`a${i}`)})`),
        )}`.compile(trx),
      values,
    );
    return String(entryId);
  }

  /** The ids of these accounts in `currency`, made on first use. */
  async #accountIds(trx: Db, codes: readonly string[], currency: string): Promise<Map<string, number>> {
    const find = async (wanted: readonly string[]) =>
      trx.selectFrom('ledger_accounts').select(['id', 'code']).where('currency', '=', currency).where('code', 'in', wanted).execute();
    const ids = new Map<string, number>();
    const unknown: string[] = [];
    for (const c of codes) {
      const id = this.#ids.get(`${currency}\u0000${c}`);
      if (id === undefined) unknown.push(c);
      else ids.set(c, id);
    }
    if (unknown.length === 0) return ids;
    // Found before this transaction wrote any account, so these rows are committed (ids of
    // rows inserted below are not kept: the transaction may still roll back).
    for (const r of await find(unknown)) {
      ids.set(r.code, Number(r.id));
      this.#ids.set(`${currency}\u0000${r.code}`, Number(r.id));
    }
    const missing = codes.filter((c) => !ids.has(c));
    if (missing.length > 0) {
      const now = this.#clock.now();
      await trx
        .insertInto('ledger_accounts')
        .values(
          missing.map((code) => {
            const { kind, ownerId } = parseAccountCode(code);
            return { code, kind, owner_id: ownerId, currency, balance: 0, created_at: now };
          }),
        )
        .onConflict((oc) => oc.columns(['code', 'currency']).doNothing())
        .execute();
      for (const r of await find(missing)) ids.set(r.code, Number(r.id));
    }
    return ids;
  }

  async #setting(db: Db, kind: SettingChange['kind'], ownerId: string): Promise<string | undefined> {
    const read = async () => {
      const { rows } = await this.#queries.run<{ value: string }>(
        db,
        'setting',
        () =>
          db
            .selectFrom('ledger_settings')
            .select('value')
            .where('kind', '=', param<SettingChange['kind']>('kind'))
            .where('owner_id', 'in', [param<string>('owner'), ''])
            // The owner's own value first ('' sorts before any id), then the newest.
            .orderBy('owner_id', 'desc')
            .orderBy('id', 'desc')
            .limit(1)
            .compile(),
        { kind, owner: ownerId },
      );
      return rows[0]?.value;
    };
    return this.#stored ? this.#stored.get(`${kind}\u0000${ownerId}`, read) : read();
  }

  /**
   * What a settlement reads, in one query: the invoice's holds per trader (as `#holdsOf`) and
   * the settings that decide the merchant's fee and the trader's reward.
   */
  async #holdsAndFees(
    db: Db,
    invoiceId: string,
    merchantId: string,
    traderId: string,
  ): Promise<{ holds: { traderId: string; amount: number }[]; fees: { feeBps: number; rewardBps: number } }> {
    const { rows } = await this.#queries.run<{ kind: string; owner_id: string | null; value: string; id: number | string }>(
      db,
      'holds-and-fees',
      () =>
        sql`${HOLDS_SQL(this.#dialect, param('invoice'), param('currency'))}
          union all
          select kind, owner_id, value, id from ledger_settings
          where (kind = 'merchant_fee' and owner_id in (${param('merchant')}, ''))
             or (kind = 'trader_reward' and owner_id in (${param('trader')}, ''))`.compile(db),
      { invoice: Number(invoiceId), currency: this.#settings.currency, merchant: merchantId, trader: traderId },
    );
    const holds = rows
      .filter((r) => r.kind === 'hold')
      .map((r) => ({ traderId: String(r.owner_id), amount: Number(r.value) }))
      .filter((r) => r.amount !== 0);
    const settings = rows.filter((r) => r.kind !== 'hold').map((r) => ({ ...r, owner_id: String(r.owner_id), id: Number(r.id) }));
    return { holds, fees: this.#pickFees(settings, merchantId, traderId) };
  }

  /** Each its own setting, else the platform's, else the configured default. */
  #pickFees(
    rows: readonly { kind: string; owner_id: string; value: string; id: number }[],
    merchantId: string,
    traderId: string,
  ): { feeBps: number; rewardBps: number } {
    const pick = (kind: string, owner: string): string | undefined => {
      let best: (typeof rows)[number] | undefined;
      for (const r of rows) {
        if (r.kind !== kind) continue;
        const better =
          best === undefined ||
          (r.owner_id === owner && best.owner_id !== owner) ||
          (r.owner_id === best.owner_id && Number(r.id) > Number(best.id));
        if (better) best = r;
      }
      return best?.value;
    };
    const fee = pick('merchant_fee', merchantId);
    const reward = pick('trader_reward', traderId);
    return {
      feeBps: fee === undefined ? this.#settings.merchantFeeBps : Number(fee),
      rewardBps: reward === undefined ? this.#settings.traderRewardBps : Number(reward),
    };
  }

  async #saveSetting(kind: SettingChange['kind'], ownerId: string | null, value: string, actor: Actor): Promise<SettingChange> {
    const at = this.#clock.now();
    const row = { kind, owner_id: ownerId ?? '', value, actor_type: actor.type, actor_id: actor.id, at };
    const freshness = this.#settings.freshness;
    if (freshness) await freshness.write(this.#db, 'ledger_settings', (trx) => trx.insertInto('ledger_settings').values(row).execute());
    else await this.#db.insertInto('ledger_settings').values(row).execute();
    return { kind, ownerId, value, at, actorType: actor.type, actorId: actor.id };
  }

  /** The rate a new invoice of this merchant gets: its own, else the platform's, else NLTRADE_RATE. */
  async rateFor(merchantId: string): Promise<string> {
    return (await this.#setting(this.#db, 'rate', merchantId)) ?? this.#settings.rate;
  }

  async merchantFeeBps(merchantId: string): Promise<number> {
    const v = await this.#setting(this.#db, 'merchant_fee', merchantId);
    return v === undefined ? this.#settings.merchantFeeBps : Number(v);
  }

  async traderRewardBps(traderId: string): Promise<number> {
    const v = await this.#setting(this.#db, 'trader_reward', traderId);
    return v === undefined ? this.#settings.traderRewardBps : Number(v);
  }

  /** Stores a new rate (UAH per unit of the settlement currency) for everyone, or for one merchant. */
  async setRate(rate: unknown, merchantId: string | null, actor: Actor): Promise<SettingChange> {
    if (typeof rate !== 'string')
      throw new AppError('VALIDATION_FAILED', 'rate must be a decimal string such as "41.50"', { param: 'rate' });
    const text = parseRate(rate).text;
    if (merchantId !== null) await this.#requireMerchant(merchantId);
    return this.#saveSetting('rate', merchantId, text, actor);
  }

  /** A merchant's fee (or, without a merchant, everyone's default) in basis points. */
  async setMerchantFee(merchantId: string | null, bps: unknown, actor: Actor): Promise<SettingChange> {
    const value = parseBps(bps);
    if (merchantId !== null) await this.#requireMerchant(merchantId);
    return this.#saveSetting('merchant_fee', merchantId, String(value), actor);
  }

  /** A trader's reward (or, without a trader, everyone's default) in basis points. */
  async setTraderReward(traderId: string | null, bps: unknown, actor: Actor): Promise<SettingChange> {
    const value = parseBps(bps);
    if (traderId !== null) await this.#requireTrader(traderId);
    return this.#saveSetting('trader_reward', traderId, String(value), actor);
  }

  /** Setting changes, newest first. */
  async settingsHistory(kind?: SettingChange['kind'], ownerId?: string, limit = 100): Promise<SettingChange[]> {
    let q = this.#db.selectFrom('ledger_settings').selectAll();
    if (kind) q = q.where('kind', '=', kind);
    if (ownerId !== undefined) q = q.where('owner_id', '=', ownerId);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(Math.min(Math.max(limit, 1), 1000))
      .execute();
    return rows.map((r) => ({
      kind: r.kind,
      ownerId: r.owner_id === '' ? null : r.owner_id,
      value: r.value,
      at: Number(r.at),
      actorType: r.actor_type,
      actorId: r.actor_id,
    }));
  }

  async #requireTrader(traderId: unknown): Promise<string> {
    const id = typeof traderId === 'string' ? traderId.trim() : '';
    const row = OWNER_RE.test(id)
      ? await this.#db.selectFrom('accounts').select('id').where('id', '=', Number(id)).where('role', '=', 'trader').executeTakeFirst()
      : undefined;
    if (!row) throw new AppError('NOT_FOUND', `No trader ${id.slice(0, 20)}`, { param: 'trader' });
    return id;
  }

  async #requireMerchant(merchantId: unknown): Promise<string> {
    const id = typeof merchantId === 'string' ? merchantId.trim() : '';
    const row = OWNER_RE.test(id)
      ? await this.#db.selectFrom('merchants').select('id').where('id', '=', Number(id)).executeTakeFirst()
      : undefined;
    if (!row) throw new AppError('NOT_FOUND', `No merchant ${id.slice(0, 20)}`, { param: 'merchant' });
    return id;
  }

  async #operation(input: Omit<PostInput, 'actor'> & { actor: Actor }): Promise<LedgerEntry> {
    const id = await this.#db.transaction().execute((trx) => this.#post(trx, input));
    const [entry] = await this.#entriesById(this.#db, [id as string]);
    return entry as LedgerEntry;
  }

  /** A trader's top-up of its deposit. */
  async deposit(traderId: unknown, amount: unknown, actor: Actor, memo?: unknown): Promise<LedgerEntry> {
    const id = await this.#requireTrader(traderId);
    const minor = parseMoney(amount);
    return this.#operation({
      kind: 'deposit',
      lines: [
        { account: accountCode('trader_deposit', id), amount: minor },
        { account: 'world', amount: -minor },
      ],
      memo: cleanMemo(memo),
      actor,
    });
  }

  /** Money paid back to a trader, from its available deposit (or its rewards); never below zero. */
  async withdraw(
    traderId: unknown,
    amount: unknown,
    actor: Actor,
    from: 'deposit' | 'rewards' = 'deposit',
    memo?: unknown,
  ): Promise<LedgerEntry> {
    const id = await this.#requireTrader(traderId);
    const minor = parseMoney(amount);
    const account = accountCode(from === 'rewards' ? 'trader_rewards' : 'trader_deposit', id);
    return this.#operation({
      kind: 'withdraw',
      lines: [
        { account, amount: -minor },
        { account: 'world', amount: minor },
      ],
      floors: new Map([[account, 'INSUFFICIENT_FUNDS']]),
      memo: cleanMemo(memo),
      actor,
    });
  }

  /** The merchant was paid out this much; never more than its balance. */
  async payout(merchantId: unknown, amount: unknown, actor: Actor, memo?: unknown): Promise<LedgerEntry> {
    const id = await this.#requireMerchant(merchantId);
    const minor = parseMoney(amount);
    const account = accountCode('merchant', id);
    return this.#operation({
      kind: 'payout',
      lines: [
        { account, amount: -minor },
        { account: 'world', amount: minor },
      ],
      floors: new Map([[account, 'INSUFFICIENT_FUNDS']]),
      memo: cleanMemo(memo),
      actor,
    });
  }

  /**
   * A manual correction of one account against the outside world, with a reason. Held
   * amounts belong to invoices and are never adjusted by hand; no account but the outside
   * world may end below zero.
   */
  async adjust(account: unknown, amount: unknown, reason: unknown, actor: Actor): Promise<LedgerEntry> {
    const { kind, ownerId, code } = parseAccountCode(account);
    if (kind === 'world')
      throw new AppError('VALIDATION_FAILED', 'Adjust another account: the outside world is the other side of every adjustment', {
        param: 'account',
      });
    if (kind === 'trader_held')
      throw new AppError('VALIDATION_FAILED', 'Held amounts follow their invoices and cannot be adjusted', { param: 'account' });
    if (kind === 'trader_received')
      throw new AppError('VALIDATION_FAILED', 'What payers sent follows the successful invoices and cannot be adjusted', {
        param: 'account',
      });
    const memo = cleanText(reason, { field: 'reason', max: LIMITS.reasonChars, required: true });
    if (kind === 'merchant') await this.#requireMerchant(ownerId);
    else if (kind !== 'platform') await this.#requireTrader(ownerId);
    const minor = parseMoney(amount, { signed: true });
    return this.#operation({
      kind: 'adjust',
      lines: [
        { account: code, amount: minor },
        { account: 'world', amount: -minor },
      ],
      floors: new Map([[code, 'INSUFFICIENT_FUNDS']]),
      memo,
      actor,
    });
  }

  async #balances(codes: readonly string[]): Promise<Map<string, number>> {
    const rows = await this.#db
      .selectFrom('ledger_accounts')
      .select(['code', 'balance'])
      .where('currency', '=', this.#settings.currency)
      .where('code', 'in', codes)
      .execute();
    return new Map(rows.map((r) => [r.code, Number(r.balance)]));
  }

  /** The trader's available deposit (what is free to hold), in minor units. */
  async available(traderId: string): Promise<number> {
    return (await this.#balances([accountCode('trader_deposit', traderId)])).get(accountCode('trader_deposit', traderId)) ?? 0;
  }

  async traderBalance(traderId: string): Promise<TraderBalance> {
    const codes = (['trader_deposit', 'trader_held', 'trader_rewards'] as const).map((k) => accountCode(k, traderId));
    const b = await this.#balances(codes);
    const available = b.get(codes[0] as string) ?? 0;
    const held = b.get(codes[1] as string) ?? 0;
    return { currency: this.#settings.currency, deposit: available + held, held, available, rewards: b.get(codes[2] as string) ?? 0 };
  }

  async merchantBalance(merchantId: string): Promise<MerchantBalance> {
    const code = accountCode('merchant', merchantId);
    const available = (await this.#balances([code])).get(code) ?? 0;
    const paid = await this.#db
      .selectFrom('ledger_lines as l')
      .innerJoin('ledger_entries as e', 'e.id', 'l.entry_id')
      .innerJoin('ledger_accounts as a', 'a.id', 'l.account_id')
      .select((eb) => eb.fn.sum<number | string>('l.amount').as('amount'))
      .where('a.code', '=', code)
      .where('a.currency', '=', this.#settings.currency)
      .where('e.kind', '=', 'payout')
      .executeTakeFirst();
    return { currency: this.#settings.currency, available, paidOut: 0 - Number(paid?.amount ?? 0) };
  }

  /** Every account with its running balance, optionally of one kind. */
  async balances(kind?: LedgerAccountKind): Promise<AccountBalance[]> {
    let q = this.#db.selectFrom('ledger_accounts').select(['code', 'kind', 'owner_id', 'currency', 'balance']);
    if (kind) q = q.where('kind', '=', kind);
    const rows = await q.orderBy('id', 'asc').execute();
    return rows.map((r) => ({ account: r.code, kind: r.kind, ownerId: r.owner_id, currency: r.currency, balance: Number(r.balance) }));
  }

  /** Journal entries oldest first, a page at a time (keyset on the entry id). */
  async entries(query: EntryQuery = {}): Promise<{ entries: LedgerEntry[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    let q = this.#db.selectFrom('ledger_entries').select('id');
    if (query.account !== undefined) {
      const { code } = parseAccountCode(query.account);
      q = q.where('id', 'in', (eb) =>
        eb
          .selectFrom('ledger_lines as l')
          .innerJoin('ledger_accounts as a', 'a.id', 'l.account_id')
          .select('l.entry_id')
          .where('a.code', '=', code),
      );
    }
    if (query.from !== undefined) q = q.where('at', '>=', query.from);
    if (query.to !== undefined) q = q.where('at', '<', query.to);
    if (query.kind !== undefined) q = q.where('kind', '=', query.kind);
    if (query.cursor !== undefined) {
      if (!OWNER_RE.test(query.cursor))
        throw new AppError('VALIDATION_FAILED', 'cursor must be a previous page’s next_cursor', { param: 'cursor' });
      q = q.where('id', '>', Number(query.cursor));
    }
    const ids = (
      await q
        .orderBy('id', 'asc')
        .limit(limit + 1)
        .execute()
    ).map((r) => String(r.id));
    const page = ids.slice(0, limit);
    const entries = await this.#entriesById(this.#db, page);
    return { entries, nextCursor: ids.length > limit ? (page[page.length - 1] ?? null) : null };
  }

  async #entriesById(db: Db, ids: readonly string[]): Promise<LedgerEntry[]> {
    if (ids.length === 0) return [];
    const numeric = ids.map(Number);
    const [entries, lines] = await Promise.all([
      db.selectFrom('ledger_entries').selectAll().where('id', 'in', numeric).orderBy('id', 'asc').execute(),
      db
        .selectFrom('ledger_lines as l')
        .innerJoin('ledger_accounts as a', 'a.id', 'l.account_id')
        .select(['l.entry_id', 'l.amount', 'a.code'])
        .where('l.entry_id', 'in', numeric)
        .orderBy('l.id', 'asc')
        .execute(),
    ]);
    const byEntry = new Map<number, LedgerLine[]>();
    for (const l of lines) {
      const list = byEntry.get(Number(l.entry_id)) ?? [];
      list.push({ account: l.code, amount: Number(l.amount) });
      byEntry.set(Number(l.entry_id), list);
    }
    return entries.map((e) => ({
      id: String(e.id),
      kind: e.kind,
      currency: e.currency,
      invoiceId: e.invoice_id === null ? null : String(e.invoice_id),
      eventId: e.event_id === null ? null : String(e.event_id),
      memo: e.memo,
      actorType: e.actor_type,
      actorId: e.actor_id,
      at: Number(e.at),
      lines: byEntry.get(Number(e.id)) ?? [],
    }));
  }

  /** Σ lines per account next to its running balance: they must be equal (tests, audits). */
  async audit(): Promise<{ account: string; currency: string; balance: number; sum: number }[]> {
    const rows = await sql<{ code: string; currency: string; balance: number | string; sum: number | string | null }>`
      select a.code, a.currency, a.balance, (select sum(l.amount) from ledger_lines l where l.account_id = a.id) as sum
      from ledger_accounts a order by a.id`.execute(this.#db);
    return rows.rows.map((r) => ({ account: r.code, currency: r.currency, balance: Number(r.balance), sum: Number(r.sum ?? 0) }));
  }
}

function memoOf(change: CommittingChange): string {
  return change.action === 'changeAmount' && change.previousSendMinor !== null
    ? `changeAmount ${change.from ?? ''} → ${change.to}`
    : `${change.action}: ${change.from ?? 'none'} → ${change.to}`;
}

function cleanMemo(memo: unknown): string | null {
  return memo === undefined || memo === null ? null : cleanText(memo, { field: 'reason', max: LIMITS.reasonChars });
}
