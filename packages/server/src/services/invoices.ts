import {
  type Action,
  type ActionInput,
  type Actor,
  AppError,
  assertUid,
  cleanHttpUrl,
  cleanMetadata,
  cleanText,
  convertAtRate,
  EXPIRING_STATUSES,
  type InvoiceEvent,
  type InvoiceState,
  initialState,
  isInvoiceId,
  isStatus,
  isUid,
  LIMITS,
  OPEN_STATUS,
  parseAmount,
  permitted,
  type Status,
  type Timeouts,
  transition,
} from '@nltrade/core';
import type { Insertable, Kysely, RawBuilder, Transaction, Updateable } from 'kysely';
import type { Clock } from '../clock.ts';
import type { EventLog } from '../event-log.ts';
import type { EventBus } from '../events.ts';
import { CompiledQueries, param, paramsOf } from '../storage/compiled.ts';
import type { Database, HistoryRow, InvoiceHistoryTable, InvoiceRow, InvoicesTable } from '../storage/schema.ts';
import { merchantInvoiceView } from '../views.ts';
import type { TimeoutSettings } from './runtime-settings.ts';
import { newUid } from './tokens.ts';

export interface Invoice {
  readonly id: string;
  readonly uid: string;
  readonly merchantId: string;
  readonly traderId: string | null;
  readonly title: string;
  readonly sendMinor: number;
  readonly reciveMinor: number;
  readonly rate: string;
  readonly card: string | null;
  readonly status: Status;
  readonly version: number;
  readonly ip: string | null;
  readonly paymentTimeout: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly acceptedAt: number | null;
  readonly paidAt: number | null;
  readonly deadlineAt: number | null;
  readonly approvePhoto: string | null;
  readonly traderChangePrice: string | null;
  readonly resolution: string | null;
  readonly returnUrl: string | null;
  /** The merchant's own key/value pairs (v1 `metadata`). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Made by a sandbox merchant: the simulated trader serves it, real traders never see it. */
  readonly sandbox: boolean;
}

/**
 * Runs inside the transaction of every change, after its history row (the event) is
 * written: what must commit together with the change (webhook deliveries) goes here.
 */
export type ChangeHook = (trx: Transaction<Database>, change: CommittingChange) => Promise<void>;

export interface CommittingChange {
  /** The history row's id: the event. */
  readonly eventId: number;
  readonly invoice: Invoice;
  readonly action: Action | 'create';
  readonly from: Status | null;
  readonly to: Status;
  readonly actor: Actor;
  /** What changed the amount, if this change did. */
  readonly previousSendMinor: number | null;
}

export interface HistoryEntry {
  readonly at: number;
  readonly version: number;
  readonly status: Status;
  readonly note: string;
  readonly action: string;
  readonly actorType: string;
  readonly actorId: string | null;
}

export interface InvoiceSettings {
  /** NLTRADE_RATE: the rate when `rateOf` is not given. */
  readonly rate: string;
  /** The stored rate for a new invoice of this merchant (the ledger's rate setting). */
  readonly rateOf?: ((merchantId: string) => Promise<string>) | undefined;
  readonly paymentTimeoutSeconds: number;
  readonly acceptTimeoutSeconds: number;
  readonly traderCheckTimeoutSeconds: number;
  readonly cardTimeoutSeconds: number;
  readonly photoTimeoutSeconds: number;
  /** The timeouts in force now, when an administrator may change them at run time; else the ones above. */
  readonly timeoutsOf?: (() => Promise<TimeoutSettings>) | undefined;
  /** PUBLIC_URL, for the checkout links in merchants' views. */
  readonly publicUrl?: string | undefined;
}

export interface CreateInvoiceInput {
  title: unknown;
  price: unknown;
  returnUrl?: unknown;
  metadata?: unknown;
  /** Seconds the payer has to pay once the card is shown; the PAYMENT_TIMEOUT setting by default. */
  paymentTimeout?: unknown;
  /** A sandbox merchant's invoice (the caller knows the merchant). */
  sandbox?: boolean;
}

export interface CreateOptions {
  /**
   * Runs last inside the creating transaction, with the new invoice and its first history
   * line: what must commit with the invoice or not at all (an Idempotency-Key's answer).
   */
  inTransaction?: (trx: Transaction<Database>, invoice: Invoice, created: HistoryEntry) => Promise<void>;
}

export interface LookupOptions {
  /** Restricts the invoice to this merchant's (others' look like they do not exist). */
  merchantId?: string | undefined;
  /** Accept an invoice number as well as a UID (staff routes only). */
  numbers?: boolean;
}

export interface ActOptions extends LookupOptions {
  /** A history line supplied by the caller (the legacy `log` field) instead of the default. */
  note?: string;
}

export interface ListFilter {
  status?: Status;
  merchantId?: string;
  traderId?: string;
  /** Invoices open to take (`not approve exchange`) or owned by this trader. */
  openOrTrader?: string;
  /**
   * With `openOrTrader`: open invoices worth more than this (settlement minor units, the
   * trader's available deposit) are left out, in the query, so a page is still full.
   */
  openUpToReciveMinor?: number;
  limit?: number;
  /** Return invoices with id lower than this (keyset pagination, newest first). */
  before?: string;
  /** Created at or after / before these epoch ms. */
  createdGte?: number;
  createdLt?: number;
  /** Only sandbox invoices (true) or only real ones (false); both when unset. */
  sandbox?: boolean;
}

const MAX_CAS_ATTEMPTS = 5;

function toInvoice(row: InvoiceRow): Invoice {
  if (!isStatus(row.status)) throw new AppError('INTERNAL', `Invoice ${row.id} has an unknown status`);
  return {
    id: String(row.id),
    uid: row.uid,
    merchantId: String(row.merchant_id),
    traderId: row.trader_id === null ? null : String(row.trader_id),
    title: row.title,
    sendMinor: Number(row.send_minor),
    reciveMinor: Number(row.recive_minor),
    rate: row.rate,
    card: row.card,
    status: row.status,
    version: row.version,
    ip: row.ip,
    paymentTimeout: row.payment_timeout,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    acceptedAt: row.accepted_at === null ? null : Number(row.accepted_at),
    paidAt: row.paid_at === null ? null : Number(row.paid_at),
    deadlineAt: row.deadline_at === null ? null : Number(row.deadline_at),
    approvePhoto: row.approve_photo,
    traderChangePrice: row.trader_change_price,
    resolution: row.resolution,
    returnUrl: row.return_url,
    metadata: parseMetadata(row.metadata),
    sandbox: Number(row.sandbox) === 1,
  };
}

function parseMetadata(text: string | null): Record<string, string> {
  if (!text) return {};
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

function cleanPaymentTimeout(value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 30 || value > 86_400) {
    throw new AppError('VALIDATION_FAILED', 'payment_timeout must be a whole number of seconds from 30 to 86400', {
      param: 'payment_timeout',
    });
  }
  return value;
}

function toHistory(row: HistoryRow): HistoryEntry {
  return {
    at: Number(row.at),
    version: row.version,
    status: row.status as Status,
    note: row.note,
    action: row.action,
    actorType: row.actor_type,
    actorId: row.actor_id,
  };
}

function cleanReturnUrl(value: unknown): string | null {
  const text = cleanHttpUrl(value, { field: 'return_url', max: LIMITS.returnUrlChars });
  return text === null ? null : new URL(text).toString();
}

/**
 * A UID, or (only where the caller allows numbers: staff routes) an invoice number. The
 * payer's side never accepts numbers: they are sequential, and would open every invoice.
 */
function assertKey(key: unknown, numbers: boolean | undefined): string {
  if (numbers && isInvoiceId(key)) return key;
  return assertUid(key);
}

/** An invoice row with one of its history rows (`getWithHistory`). */
type HistoryJoinRow = InvoiceRow & {
  h_at: HistoryRow['at'];
  h_version: HistoryRow['version'];
  h_status: HistoryRow['status'];
  h_note: HistoryRow['note'];
  h_action: HistoryRow['action'];
  h_actor_type: HistoryRow['actor_type'];
  h_actor_id: HistoryRow['actor_id'];
};

/**
 * Invoices: load, apply a transition from core, save with a compare-and-set on `version`
 * together with the history entry, then publish exactly one event.
 */
export class InvoiceService {
  readonly #db: Kysely<Database>;
  readonly #queries = new CompiledQueries();
  readonly #bus: EventBus;
  readonly #clock: Clock;
  readonly #settings: InvoiceSettings;
  readonly #log: EventLog;
  readonly #hooks: ChangeHook[] = [];

  constructor(db: Kysely<Database>, bus: EventBus, log: EventLog, clock: Clock, settings: InvoiceSettings) {
    this.#db = db;
    this.#bus = bus;
    this.#log = log;
    this.#clock = clock;
    this.#settings = settings;
  }

  get settings(): InvoiceSettings {
    return this.#settings;
  }

  /** Adds work that commits together with every change (see ChangeHook). */
  onChange(hook: ChangeHook): void {
    this.#hooks.push(hook);
  }

  /** The merchant's view after a change, kept with its history row for webhooks. */
  #payload(invoice: Invoice): string {
    return JSON.stringify(merchantInvoiceView(invoice, this.#settings.publicUrl));
  }

  async #runHooks(trx: Transaction<Database>, change: CommittingChange): Promise<void> {
    for (const hook of this.#hooks) await hook(trx, change);
  }

  #current(): Promise<TimeoutSettings> | TimeoutSettings {
    return this.#settings.timeoutsOf ? this.#settings.timeoutsOf() : this.#settings;
  }

  #timeouts(invoice: { paymentTimeout: number }, now: TimeoutSettings): Timeouts {
    return {
      paymentSeconds: invoice.paymentTimeout,
      acceptSeconds: now.acceptTimeoutSeconds,
      traderCheckSeconds: now.traderCheckTimeoutSeconds,
      cardSeconds: now.cardTimeoutSeconds,
      photoSeconds: now.photoTimeoutSeconds,
    };
  }

  async create(
    merchantId: string,
    input: CreateInvoiceInput,
    actor: Actor = { type: 'merchant', id: merchantId },
    options: CreateOptions = {},
  ): Promise<Invoice> {
    const title = cleanText(input.title, { field: 'title', max: LIMITS.titleChars, required: true });
    const sendMinor = parseAmount(input.price);
    const returnUrl = cleanReturnUrl(input.returnUrl);
    const metadata = cleanMetadata(input.metadata);
    const now = this.#clock.now();
    const timeouts = await this.#current();
    const paymentTimeout = cleanPaymentTimeout(input.paymentTimeout, timeouts.paymentTimeoutSeconds);
    const start = initialState(now, this.#timeouts({ paymentTimeout }, timeouts));
    const uid = newUid();
    const rate = this.#settings.rateOf ? await this.#settings.rateOf(merchantId) : this.#settings.rate;
    const row = await this.#db.transaction().execute(async (trx) => {
      const values: Insertable<InvoicesTable> = {
        uid,
        merchant_id: Number(merchantId),
        trader_id: null,
        title,
        send_minor: sendMinor,
        recive_minor: convertAtRate(sendMinor, rate),
        rate,
        card: null,
        status: start.status,
        version: 1,
        ip: null,
        payment_timeout: paymentTimeout,
        created_at: now,
        updated_at: now,
        accepted_at: null,
        paid_at: null,
        deadline_at: start.deadlineAt,
        approve_photo: null,
        trader_change_price: null,
        resolution: null,
        return_url: returnUrl,
        metadata: Object.keys(metadata).length > 0 ? JSON.stringify(metadata) : null,
        sandbox: input.sandbox ? 1 : 0,
      };
      const { rows: insertedRows } = await this.#queries.run<InvoiceRow>(
        trx,
        'create',
        () => trx.insertInto('invoices').values(paramsOf(values)).returningAll().compile(),
        values,
      );
      const inserted = insertedRows[0];
      if (!inserted) throw new Error('The new invoice was not returned');
      const created = toInvoice(inserted);
      const history: Insertable<InvoiceHistoryTable> = {
        invoice_id: inserted.id,
        version: 1,
        at: now,
        status: start.status,
        from_status: null,
        note: start.note,
        action: 'create',
        actor_type: actor.type,
        actor_id: actor.id,
        payload: this.#payload(created),
      };
      const event = await this.#insertHistory(trx, history);
      this.#log.claim(Number(event.id));
      await this.#runHooks(trx, {
        eventId: Number(event.id),
        invoice: created,
        action: 'create',
        from: null,
        to: created.status,
        actor,
        previousSendMinor: null,
      });
      await options.inTransaction?.(trx, created, {
        at: now,
        version: 1,
        status: start.status,
        note: start.note,
        action: 'create',
        actorType: actor.type,
        actorId: actor.id,
      });
      return { ...inserted, eventId: Number(event.id) };
    });
    const invoice = toInvoice(row);
    this.#publish({
      id: String(row.eventId),
      type: 'invoice.created',
      invoiceId: invoice.id,
      uid: invoice.uid,
      merchantId: invoice.merchantId,
      action: 'create',
      actor,
      from: null,
      to: invoice.status,
      version: invoice.version,
      at: now,
      note: start.note,
    });
    return invoice;
  }

  async findByUid(uid: string): Promise<Invoice | undefined> {
    if (!isUid(uid)) return undefined;
    const row = await this.#db.selectFrom('invoices').selectAll().where('uid', '=', uid).executeTakeFirst();
    return row ? toInvoice(row) : undefined;
  }

  /** By UID or by number; undefined for anything else. */
  async find(key: string): Promise<Invoice | undefined> {
    if (isInvoiceId(key)) {
      const row = await this.#db.selectFrom('invoices').selectAll().where('id', '=', Number(key)).executeTakeFirst();
      return row ? toInvoice(row) : undefined;
    }
    return this.findByUid(key);
  }

  /** The invoice, or INVOICE_NOT_FOUND (also when it belongs to another merchant). */
  async get(key: unknown, options: LookupOptions = {}): Promise<Invoice> {
    const invoice = await this.find(assertKey(key, options.numbers));
    const { merchantId } = options;
    if (!invoice || (merchantId !== undefined && invoice.merchantId !== merchantId)) throw new AppError('INVOICE_NOT_FOUND');
    return invoice;
  }

  /** The invoice with its history in one query (the legacy `get` hot path). */
  async getWithHistory(uid: unknown, merchantId?: string): Promise<{ invoice: Invoice; history: HistoryEntry[] }> {
    assertUid(uid);
    const { rows } = await this.#queries.run<HistoryJoinRow>(
      this.#db,
      'with-history',
      () =>
        this.#db
          .selectFrom('invoices')
          .innerJoin('invoice_history as h', 'h.invoice_id', 'invoices.id')
          .selectAll('invoices')
          .select([
            'h.at as h_at',
            'h.version as h_version',
            'h.status as h_status',
            'h.note as h_note',
            'h.action as h_action',
            'h.actor_type as h_actor_type',
            'h.actor_id as h_actor_id',
          ])
          .where('invoices.uid', '=', param<string>('uid'))
          .orderBy('h.version', 'asc')
          .compile(),
      { uid },
    );
    const first = rows[0];
    if (!first || (merchantId !== undefined && String(first.merchant_id) !== merchantId)) throw new AppError('INVOICE_NOT_FOUND');
    return {
      invoice: toInvoice(first),
      history: rows.map((r) =>
        toHistory({
          id: 0,
          invoice_id: first.id,
          at: r.h_at,
          version: r.h_version,
          status: r.h_status,
          from_status: null,
          payload: null,
          note: r.h_note,
          action: r.h_action,
          actor_type: r.h_actor_type,
          actor_id: r.h_actor_id,
        }),
      ),
    };
  }

  async history(invoiceId: string): Promise<HistoryEntry[]> {
    const rows = await this.#db
      .selectFrom('invoice_history')
      .selectAll()
      .where('invoice_id', '=', Number(invoiceId))
      .orderBy('version', 'asc')
      .execute();
    return rows.map(toHistory);
  }

  async list(filter: ListFilter = {}): Promise<Invoice[]> {
    let q = this.#db.selectFrom('invoices').selectAll();
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.merchantId) q = q.where('merchant_id', '=', Number(filter.merchantId));
    if (filter.traderId) q = q.where('trader_id', '=', Number(filter.traderId));
    if (filter.openOrTrader) {
      const traderId = Number(filter.openOrTrader);
      const cap = filter.openUpToReciveMinor;
      q = q.where((eb) =>
        eb.or([
          cap === undefined ? eb('status', '=', OPEN_STATUS) : eb.and([eb('status', '=', OPEN_STATUS), eb('recive_minor', '<=', cap)]),
          eb('trader_id', '=', traderId),
        ]),
      );
    }
    if (filter.before) q = q.where('id', '<', Number(filter.before));
    if (filter.createdGte !== undefined) q = q.where('created_at', '>=', filter.createdGte);
    if (filter.createdLt !== undefined) q = q.where('created_at', '<', filter.createdLt);
    if (filter.sandbox !== undefined) q = q.where('sandbox', '=', filter.sandbox ? 1 : 0);
    const limit = Math.min(Math.max(filter.limit ?? 50, 1), 200);
    const rows = await q.orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toInvoice);
  }

  /**
   * Binds the invoice to the first IP that opens it. Atomic: the UPDATE only matches while
   * `ip` is still NULL, so of two first joins exactly one is recorded.
   */
  async bindIp(uid: string, ip: string): Promise<Invoice> {
    assertUid(uid);
    await this.#db.updateTable('invoices').set({ ip }).where('uid', '=', uid).where('ip', 'is', null).execute();
    const invoice = await this.findByUid(uid);
    if (!invoice) throw new AppError('INVOICE_NOT_FOUND');
    return invoice;
  }

  /** Refuses what the state machine would refuse, without input or saving: before expensive work (an upload). */
  precheck(invoice: Invoice, action: Action, actor: Actor): void {
    permitted(stateOf(invoice), action, actor, this.#clock.now());
  }

  /** Applies one action with compare-and-set, retrying when another writer got in first. */
  async act(key: unknown, action: Action, actor: Actor, input: ActionInput = {}, options: ActOptions = {}): Promise<Invoice> {
    assertKey(key, options.numbers);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const invoice = await this.get(key, options);
      const now = this.#clock.now();
      const result = transition(stateOf(invoice), action, actor, input, now, this.#timeouts(invoice, await this.#current()));
      const p = result.patch;
      const nextVersion = invoice.version + 1;
      const note = options.note ?? result.note;
      const saved = await this.#db.transaction().execute(async (trx) => {
        const set: Updateable<InvoicesTable> = {
          status: result.to,
          version: nextVersion,
          updated_at: now,
          ...(p.traderId !== undefined && { trader_id: p.traderId === null ? null : Number(p.traderId) }),
          ...(p.acceptedAt !== undefined && { accepted_at: p.acceptedAt }),
          ...(p.card !== undefined && { card: p.card }),
          ...(p.paidAt !== undefined && { paid_at: p.paidAt }),
          ...(p.sendMinor !== undefined && { send_minor: p.sendMinor }),
          ...(p.reciveMinor !== undefined && { recive_minor: p.reciveMinor }),
          ...(p.traderChangePrice !== undefined && { trader_change_price: p.traderChangePrice }),
          ...(p.approvePhoto !== undefined && { approve_photo: p.approvePhoto }),
          ...(p.deadlineAt !== undefined && { deadline_at: p.deadlineAt }),
          ...(p.resolution !== undefined && { resolution: p.resolution }),
        };
        // Compare-and-set on the version: a change that lost a race updates nothing.
        const { rows: updatedRows } = await this.#queries.run<InvoiceRow>(
          trx,
          `act:${Object.keys(set).join(',')}`,
          () =>
            trx
              .updateTable('invoices')
              .set(paramsOf(set))
              .where('id', '=', param<number>('where_id'))
              .where('version', '=', param<number>('where_version'))
              .returningAll()
              .compile(),
          { ...set, where_id: Number(invoice.id), where_version: invoice.version },
        );
        const updated = updatedRows[0];
        if (!updated) return undefined;
        const changed = toInvoice(updated);
        const history: Insertable<InvoiceHistoryTable> = {
          invoice_id: Number(invoice.id),
          version: nextVersion,
          at: now,
          status: result.to,
          from_status: result.from,
          note,
          action,
          actor_type: actor.type,
          actor_id: actor.id,
          payload: this.#payload(changed),
        };
        const event = await this.#insertHistory(trx, history);
        this.#log.claim(Number(event.id));
        await this.#runHooks(trx, {
          eventId: Number(event.id),
          invoice: changed,
          action,
          from: result.from,
          to: result.to,
          actor,
          previousSendMinor: p.sendMinor !== undefined ? invoice.sendMinor : null,
        });
        return { row: updated, eventId: Number(event.id) };
      });
      if (!saved) continue;
      const fresh = toInvoice(saved.row);
      this.#publish({
        id: String(saved.eventId),
        type: 'invoice.changed',
        invoiceId: fresh.id,
        uid: fresh.uid,
        merchantId: fresh.merchantId,
        action,
        actor,
        from: result.from,
        to: result.to,
        version: fresh.version,
        at: now,
        note,
      });
      return fresh;
    }
    throw new AppError('CONCURRENT_UPDATE');
  }

  /** Invoices whose timer has run out, oldest deadline first. */
  async due(now: number, limit = 100): Promise<Invoice[]> {
    const rows = await this.#db
      .selectFrom('invoices')
      .selectAll()
      .where('deadline_at', 'is not', null)
      .where('deadline_at', '<=', now)
      .where('status', 'in', [...EXPIRING_STATUSES])
      .orderBy('deadline_at', 'asc')
      .limit(limit)
      .execute();
    return rows.map(toInvoice);
  }

  /** Writes the change's row of the durable event log, which wakes the other processes' readers at commit. */
  async #insertHistory(trx: Transaction<Database>, history: Insertable<InvoiceHistoryTable>): Promise<{ id: number | string }> {
    const { rows } = await this.#queries.run<{ id: number | string }>(
      trx,
      'history',
      () => {
        const wake = this.#log.wake();
        return trx
          .insertInto('invoice_history')
          .values(paramsOf(history))
          .returning('id')
          .$if(wake !== undefined, (q) => q.returning((wake as RawBuilder<boolean>).as('woke')))
          .compile();
      },
      history,
    );
    const event = rows[0];
    if (!event) throw new Error('The history row was not returned');
    return event;
  }

  #publish(event: InvoiceEvent): void {
    this.#bus.publish(event);
  }
}

export function stateOf(invoice: Invoice): InvoiceState {
  return {
    status: invoice.status,
    version: invoice.version,
    merchantId: invoice.merchantId,
    traderId: invoice.traderId,
    sendMinor: invoice.sendMinor,
    rate: invoice.rate,
    deadlineAt: invoice.deadlineAt,
    ip: invoice.ip,
    createdAt: invoice.createdAt,
  };
}
