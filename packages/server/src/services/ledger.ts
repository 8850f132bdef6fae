import {
  type Actor,
  AppError,
  accountCode,
  assertBalanced,
  cleanText,
  type ErrorCode,
  FINAL_STATUSES,
  type LedgerAccountKind,
  type LedgerEntryKind,
  LIMITS,
  mergeLines,
  OPEN_STATUS,
  PAYER_CURRENCY,
  parseAccountCode,
  parseBps,
  parseMoney,
  parseRate,
  type Status,
  splitSettlement,
} from '@nltrade/core';
import { type CompiledQuery, type Kysely, type QueryResult, sql, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
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
  readonly kind: 'rate' | 'merchant_fee' | 'trader_reward';
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
}

/** While an invoice is in one of these with a trader, its settlement value is held on that trader's deposit. */
const HELD_STATUSES: ReadonlySet<Status> = new Set<Status>(['wait card', 'send card', 'pay', 'waitPhoto', 'notApprove']);

const OWNER_RE = /^[1-9]\d{0,17}$/;

/** Stands for a parameter of a query compiled once (see LedgerService.#run). */
const MARK = '\u0000ledger:';
const marker = <T = unknown>(name: string): T => `${MARK}${name}` as T;

/**
 * The double-entry ledger: accounts with running balances, immutable entries whose lines sum
 * to zero, rate and fee settings with history. Invoice changes reach it through `hook`,
 * inside their own transaction, so a status change and its entry always commit together.
 */
export class LedgerService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #settings: LedgerSettings;
  readonly #compiled = new Map<string, CompiledQuery>();
  /** Account ids by currency and code: accounts are never deleted, so an id once committed stays right. */
  readonly #ids = new Map<string, number>();

  readonly #dialect: Dialect;

  constructor(db: Kysely<Database>, clock: Clock, settings: LedgerSettings, dialect: Dialect = 'sqlite') {
    this.#db = db;
    this.#dialect = dialect;
    this.#clock = clock;
    this.#settings = settings;
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
    const holds = change.action === 'accept' && change.from === OPEN_STATUS ? [] : await this.#holdsOf(trx, invoice.id);
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
    if (change.to === 'success' && traderId !== null) {
      kind = 'settle';
      const { feeBps, rewardBps } = await this.#fees(trx, invoice.merchantId, traderId);
      const split = splitSettlement(invoice.reciveMinor, feeBps, rewardBps);
      // The hold (released above) becomes the debit: the trader has the payer's UAH.
      lines.push({ account: accountCode('trader_deposit', traderId), amount: -invoice.reciveMinor });
      lines.push({ account: accountCode('merchant', invoice.merchantId), amount: split.merchant });
      lines.push({ account: accountCode('trader_rewards', traderId), amount: split.reward });
      lines.push({ account: 'platform', amount: split.platform });
    }
    await this.#post(trx, {
      kind,
      lines,
      floors,
      invoiceId: invoice.id,
      eventId: change.eventId,
      memo: memoOf(change),
      actor: change.actor,
    });
    if (kind === 'settle' && traderId !== null) {
      // The other side of the exchange, in the payer's currency: the UAH the payer sent
      // reached the trader's card (what the trader's deposit was debited for above).
      await this.#post(trx, {
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
  };

  /** What the invoice holds now, per trader (normally one trader, or none). */
  async #holdsOf(trx: Db, invoiceId: string): Promise<{ traderId: string; amount: number }[]> {
    const { rows } = await this.#run<{ owner_id: string | null; amount: number | string }>(
      trx,
      'holds',
      () =>
        trx
          .selectFrom('ledger_lines as l')
          .innerJoin('ledger_entries as e', 'e.id', 'l.entry_id')
          .innerJoin('ledger_accounts as a', 'a.id', 'l.account_id')
          .select(['a.owner_id', (eb) => eb.fn.sum<number | string>('l.amount').as('amount')])
          .where('e.invoice_id', '=', marker<number>('invoice'))
          .where('a.kind', '=', 'trader_held')
          .where('a.currency', '=', marker<string>('currency'))
          .groupBy('a.owner_id')
          .compile(),
      { invoice: Number(invoiceId), currency: this.#settings.currency },
    );
    return rows.map((r) => ({ traderId: String(r.owner_id), amount: Number(r.amount) })).filter((r) => r.amount !== 0);
  }

  /**
   * Runs a query compiled once per shape (`key`): Kysely builds and compiles a query in tens
   * of microseconds, more than the indexed statements of the ledger take to run, and the
   * ledger runs on every accept and every success. Parameters given as `marker(name)` when
   * building are replaced by `values[name]` on each run.
   */
  async #run<R>(db: Db, key: string, build: () => CompiledQuery, values: Record<string, unknown>): Promise<QueryResult<R>> {
    let compiled = this.#compiled.get(key);
    if (!compiled) {
      compiled = build();
      this.#compiled.set(key, compiled);
    }
    const parameters = compiled.parameters.map((p) => (typeof p === 'string' && p.startsWith(MARK) ? values[p.slice(MARK.length)] : p));
    return db.executeQuery<R>({ ...compiled, parameters } as CompiledQuery<R>);
  }

  /**
   * Writes one balanced entry and moves the running balances with it. Balances are updated in
   * account-id order, so two transactions touching the same accounts never wait on each other
   * in a cycle; a floored account is decremented with a conditional UPDATE, which PostgreSQL
   * re-checks after waiting for a concurrent writer's row lock, so no two can overdraw it.
   */
  async #post(trx: Transaction<Database>, input: PostInput): Promise<string | null> {
    const lines = mergeLines(input.lines);
    assertBalanced(lines);
    if (lines.length === 0) return null;
    const currency = input.currency ?? this.#settings.currency;
    const ids = await this.#accountIds(
      trx,
      lines.map((l) => l.account),
      currency,
    );
    const ordered = lines.map((l) => ({ ...l, id: ids.get(l.account) as number })).sort((a, b) => a.id - b.id);
    // One UPDATE for every balance: PostgreSQL locks the rows in index (id) order. A floored
    // account that would go below zero is left out by the WHERE, which PostgreSQL re-checks
    // after waiting for a concurrent writer's lock, so the count of updated rows tells.
    const floored = ordered.flatMap((l, i) => (l.amount < 0 && input.floors?.has(l.account) ? [i] : []));
    const values: Record<string, unknown> = {};
    ordered.forEach((l, i) => {
      values[`id${i}`] = l.id;
      values[`a${i}`] = l.amount;
    });
    const n = ordered.length;
    const update = () => {
      const delta = sql`case id ${sql.join(
        ordered.map((_l, i) => sql`when ${marker(`id${i}`)} then cast(${marker(`a${i}`)} as bigint)`),
        sql` `,
      )} end`;
      return trx
        .updateTable('ledger_accounts')
        .set({ balance: sql`balance + ${delta}` })
        .where(
          'id',
          'in',
          ordered.map((_l, i) => marker<number>(`id${i}`)),
        )
        .where((eb) =>
          eb.and(
            floored.map((i) =>
              eb.or([eb('id', '!=', marker<number>(`id${i}`)), eb(sql`balance + cast(${marker(`a${i}`)} as bigint)`, '>=', 0)]),
            ),
          ),
        );
    };
    Object.assign(values, {
      kind: input.kind,
      currency,
      invoice: input.invoiceId == null ? null : Number(input.invoiceId),
      event: input.eventId ?? null,
      memo: input.memo ?? null,
      actorType: input.actor.type,
      actorId: input.actor.id,
      at: this.#clock.now(),
      n,
    });
    const refuse = (): never => {
      const first = floored[0] === undefined ? undefined : ordered[floored[0]];
      const floor = first && input.floors?.get(first.account);
      throw new AppError(floor ?? 'INTERNAL', floor ? undefined : 'A ledger account vanished');
    };
    if (this.#dialect === 'postgres') {
      // Balances, the entry and its lines in one round trip; the entry is written only when
      // every balance moved (otherwise the refusal below rolls the transaction back anyway).
      const r = await this.#run<{ updated: number | string; id: number | null }>(
        trx,
        `pg-post:${n}:${floored.join(',')}`,
        () =>
          sql`
          with u as (${update().returning('id')}),
          e as (
            insert into ledger_entries (kind, currency, invoice_id, event_id, memo, actor_type, actor_id, at)
            select ${marker('kind')}, ${marker('currency')}, cast(${marker('invoice')} as bigint), cast(${marker('event')} as bigint),
              cast(${marker('memo')} as text), ${marker('actorType')}, cast(${marker('actorId')} as text), cast(${marker('at')} as bigint)
            where (select count(*) from u) = cast(${marker('n')} as bigint)
            returning id
          ), l as (
            insert into ledger_lines (entry_id, account_id, amount)
            select e.id, v.account_id, v.amount from e, (values ${sql.join(
              ordered.map((_l, i) => sql`(cast(${marker(`id${i}`)} as bigint), cast(${marker(`a${i}`)} as bigint))`),
            )}) as v(account_id, amount)
          )
          select (select count(*) from u) as updated, (select id from e) as id`.compile(trx),
        values,
      );
      const row = r.rows[0];
      if (!row || Number(row.updated) !== n || row.id === null) return refuse();
      return String(row.id);
    }
    const result = await this.#run(trx, `update:${n}:${floored.join(',')}`, () => update().compile(), values);
    if (Number(result.numAffectedRows ?? 0) !== n) refuse();
    const entryValues = sql`(${marker('kind')}, ${marker('currency')}, ${marker('invoice')}, ${marker('event')}, ${marker('memo')}, ${marker('actorType')}, ${marker('actorId')}, ${marker('at')})`;
    const inserted = await this.#run<{ id: number }>(
      trx,
      'entry',
      () =>
        sql`insert into ledger_entries (kind, currency, invoice_id, event_id, memo, actor_type, actor_id, at) values ${entryValues} returning id`.compile(
          trx,
        ),
      values,
    );
    const entryId = Number(inserted.rows[0]?.id);
    values.entry = entryId;
    await this.#run(
      trx,
      `lines:${n}`,
      () =>
        sql`insert into ledger_lines (entry_id, account_id, amount) values ${sql.join(
          ordered.map((_l, i) => sql`(${marker('entry')}, ${marker(`id${i}`)}, ${marker(`a${i}`)})`),
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
    const { rows } = await this.#run<{ value: string }>(
      db,
      'setting',
      () =>
        db
          .selectFrom('ledger_settings')
          .select('value')
          .where('kind', '=', marker<SettingChange['kind']>('kind'))
          .where('owner_id', 'in', [marker<string>('owner'), ''])
          // The owner's own value first ('' sorts before any id), then the newest.
          .orderBy('owner_id', 'desc')
          .orderBy('id', 'desc')
          .limit(1)
          .compile(),
      { kind, owner: ownerId },
    );
    return rows[0]?.value;
  }

  /** The merchant's fee and the trader's reward in one query: each its own setting, else the platform's, else the configured default. */
  async #fees(db: Db, merchantId: string, traderId: string): Promise<{ feeBps: number; rewardBps: number }> {
    const { rows } = await this.#run<{ kind: string; owner_id: string; value: string; id: number }>(
      db,
      'fees',
      () =>
        db
          .selectFrom('ledger_settings')
          .select(['kind', 'owner_id', 'value', 'id'])
          .where((eb) =>
            eb.or([
              eb.and([eb('kind', '=', 'merchant_fee'), eb('owner_id', 'in', [marker<string>('merchant'), ''])]),
              eb.and([eb('kind', '=', 'trader_reward'), eb('owner_id', 'in', [marker<string>('trader'), ''])]),
            ]),
          )
          .compile(),
      { merchant: merchantId, trader: traderId },
    );
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
    await this.#db
      .insertInto('ledger_settings')
      .values({ kind, owner_id: ownerId ?? '', value, actor_type: actor.type, actor_id: actor.id, at })
      .execute();
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
