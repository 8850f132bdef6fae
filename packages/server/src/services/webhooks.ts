import { randomBytes } from 'node:crypto';
import dns from 'node:dns';
import {
  type ActorType,
  AppError,
  hasControlCharacters,
  isStatus,
  isWebhookEventType,
  LIMITS,
  type MerchantInvoice,
  parseWebhookEventId,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_SECRET_PREFIX,
  type WebhookDeliveryView,
  type WebhookEndpointView,
  type WebhookEvent,
  type WebhookEventType,
  webhookEventId,
  webhookEventTypeOf,
} from '@nltrade/core';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { MasterKey } from '../crypto/master-key.ts';
import type { Freshness, Memo } from '../storage/freshness.ts';
import type { Database, InvoiceHistoryTable, WebhookDeliveriesTable, WebhookEndpointsTable } from '../storage/schema.ts';
import { type LookupAll, refuseUrl, resolvePublic, WebhookRefused } from '../workers/webhook-http.ts';
import type { ChangeHook, CommittingChange } from './invoices.ts';

/** During a rotation the previous secret keeps signing this long, so receivers can switch over. */
export const PREVIOUS_SECRET_MS = 24 * 60 * 60 * 1000;
/** Endpoints one merchant may have (Stripe allows 16). */
export const MAX_ENDPOINTS_PER_MERCHANT = 16;
const URL_MAX_CHARS = LIMITS.webhookUrlChars;
/** How long the registration-time DNS check may take; delivery checks again anyway. */
const REGISTRATION_LOOKUP_MS = 3000;

export interface WebhookSettings {
  readonly allowPrivate: boolean;
  /** Keeps each merchant's enabled endpoints in memory while they are known unchanged; absent: read on every change. */
  readonly freshness?: Freshness;
}

/** What an invoice change needs to know of an endpoint to queue a delivery. */
type Subscriber = { id: string; events: string | null };

type EndpointRow = Selectable<WebhookEndpointsTable>;
type DeliveryRow = Selectable<WebhookDeliveriesTable>;

/** A history row with what a webhook event needs from its invoice. */
export type EventRow = Pick<
  Selectable<InvoiceHistoryTable>,
  'id' | 'invoice_id' | 'version' | 'at' | 'status' | 'from_status' | 'action' | 'actor_type' | 'payload'
> & { merchant_id: number };

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

function parseEvents(text: string | null): WebhookEventType[] | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value.filter(isWebhookEventType) : null;
  } catch {
    return null;
  }
}

/** Whether an endpoint (its stored `events`) wants this type. */
export function subscribes(events: string | null, type: WebhookEventType): boolean {
  const list = parseEvents(events);
  return list === null || list.includes(type);
}

export function endpointView(row: EndpointRow, now: number, secret?: string): WebhookEndpointView {
  const previousLive = row.previous_secret_expires_at !== null && Number(row.previous_secret_expires_at) > now;
  const view: WebhookEndpointView = {
    object: 'webhook_endpoint',
    id: row.id,
    url: row.url,
    events: parseEvents(row.events),
    status: row.status,
    created_at: new Date(Number(row.created_at)).toISOString(),
    failing_since: iso(row.failing_since),
    previous_secret_expires_at: previousLive ? iso(row.previous_secret_expires_at) : null,
  };
  if (secret !== undefined) view.secret = secret;
  return view;
}

/** The event a history row is, as webhooks carry it. */
export function webhookEventOf(row: EventRow): WebhookEvent {
  const invoice = JSON.parse(row.payload ?? 'null') as MerchantInvoice | null;
  if (!invoice) throw new Error(`History row ${row.id} has no payload`);
  if (!isStatus(row.status)) throw new Error(`History row ${row.id} has an unknown status`);
  const type = webhookEventTypeOf(row.action);
  const event: WebhookEvent = {
    id: webhookEventId(row.id),
    object: 'event',
    type,
    created: Math.floor(Number(row.at) / 1000),
    sequence: row.version,
    data: {
      invoice,
      from: row.from_status !== null && isStatus(row.from_status) ? row.from_status : null,
      to: row.status,
      action: row.action,
      actor_type: row.actor_type as ActorType,
    },
  };
  if (type === 'invoice.amount_changed' && invoice.previous_amount !== null) event.data.previous_amount = invoice.previous_amount;
  return event;
}

function deliveryView(row: DeliveryRow & { action: string; invoice_id: number; version: number }): WebhookDeliveryView {
  return {
    object: 'webhook_delivery',
    id: String(row.id),
    event_id: webhookEventId(row.event_id),
    event_type: webhookEventTypeOf(row.action),
    invoice_id: String(row.invoice_id),
    sequence: row.version,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.status === 'pending' ? iso(row.next_attempt_at) : null,
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    delivered_at: iso(row.delivered_at),
    created_at: new Date(Number(row.created_at)).toISOString(),
  };
}

const QUEUED_MARKS_MAX = 10_000;
const QUEUED_MARK_MS = 60_000;

function newEndpointId(): string {
  return `we_${randomBytes(12).toString('base64url')}`;
}

/** What newEndpointId makes; anything else names no endpoint and never reaches a query. */
const ENDPOINT_ID_RE = /^we_[A-Za-z0-9_-]{16}$/;

function newSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

const secretContext = (endpointId: string) => `webhook-secret:${endpointId}`;

/**
 * Merchants' webhook endpoints and the delivery rows of their events. Delivery rows are
 * written by `hook`, inside the transaction of every invoice change, so a committed change
 * always has them and a rolled-back one never does; the deliverer (workers/) sends them.
 */
export class WebhookService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #masterKey: MasterKey;
  readonly #settings: WebhookSettings;
  readonly #subscribers: Memo<Subscriber[]> | undefined;
  readonly #onQueued = new Set<() => void>();
  /** Event ids whose change queued deliveries here, and when (see takeQueued). */
  readonly #queuedEvents = new Map<number, number>();
  #lookup: LookupAll | undefined;

  constructor(db: Kysely<Database>, clock: Clock, masterKey: MasterKey, settings: WebhookSettings) {
    this.#db = db;
    this.#clock = clock;
    this.#masterKey = masterKey;
    this.#settings = settings;
    this.#subscribers = settings.freshness?.memo('webhook_endpoints');
  }

  /**
   * Runs a write that adds an endpoint, removes one or changes its status or events, in a
   * transaction after which every process forgets the merchants' endpoints it kept.
   */
  changeEndpoints<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const freshness = this.#settings.freshness;
    return freshness ? freshness.write(this.#db, 'webhook_endpoints', work) : this.#db.transaction().execute(work);
  }

  /** A merchant's enabled endpoints (their ids and wanted events), as every invoice change asks. */
  async #enabledEndpoints(db: Kysely<Database> | Transaction<Database>, merchantId: string): Promise<Subscriber[]> {
    const read = (): Promise<Subscriber[]> =>
      db
        .selectFrom('webhook_endpoints')
        .select(['id', 'events'])
        .where('merchant_id', '=', Number(merchantId))
        .where('status', '=', 'enabled')
        .where('deleted_at', 'is', null)
        .execute();
    return this.#subscribers ? this.#subscribers.get(merchantId, read) : read();
  }

  get allowPrivate(): boolean {
    return this.#settings.allowPrivate;
  }

  /**
   * Replaces the system's DNS resolver for registration checks and deliveries (tests make
   * names resolve to private addresses with it); undefined restores the system's.
   */
  useResolver(lookup: LookupAll | undefined): void {
    this.#lookup = lookup;
  }

  /** What webhook hosts are resolved with. */
  readonly lookup: LookupAll = (hostname) =>
    this.#lookup ? this.#lookup(hostname) : dns.promises.lookup(hostname, { all: true, verbatim: true });

  /** Inserts the deliveries of one change for the merchant's enabled endpoints that want its type. */
  readonly hook: ChangeHook = async (trx: Transaction<Database>, change: CommittingChange) => {
    // The same rule the event's body is built with (an amount change is `changeAmount`).
    const type = webhookEventTypeOf(change.action);
    const endpoints = await this.#enabledEndpoints(trx, change.invoice.merchantId);
    const wanted = endpoints.filter((e) => subscribes(e.events, type));
    if (wanted.length === 0) return;
    this.#markQueued(change.eventId);
    const now = this.#clock.now();
    await trx
      .insertInto('webhook_deliveries')
      .values(
        wanted.map((e) => ({
          endpoint_id: e.id,
          event_id: change.eventId,
          status: 'pending' as const,
          attempts: 0,
          next_attempt_at: now,
          last_status_code: null,
          last_error: null,
          delivered_at: null,
          created_at: now,
        })),
      )
      .execute();
  };

  /**
   * Whether this process's change with this event id queued deliveries (once: the mark is
   * taken). The deliverer reads the queue after such a commit only: most merchants' changes
   * queue nothing, and a read for each would cost every invoice change a query. A mark whose
   * transaction rolled back is never taken; marks older than a minute are dropped.
   */
  takeQueued(eventId: string | number): boolean {
    return this.#queuedEvents.delete(Number(eventId));
  }

  #markQueued(eventId: number): void {
    const now = this.#clock.now();
    if (this.#queuedEvents.size >= QUEUED_MARKS_MAX) {
      for (const [id, at] of this.#queuedEvents) if (now - at > QUEUED_MARK_MS) this.#queuedEvents.delete(id);
      // Still full: the oldest go; the deliverer's poll finds what they stood for.
      for (const id of this.#queuedEvents.keys()) {
        if (this.#queuedEvents.size < QUEUED_MARKS_MAX) break;
        this.#queuedEvents.delete(id);
      }
    }
    this.#queuedEvents.set(eventId, now);
  }

  /** Called when deliveries were queued outside an invoice change (a redelivery): wakes the deliverer. */
  onQueued(listener: () => void): () => void {
    this.#onQueued.add(listener);
    return () => this.#onQueued.delete(listener);
  }

  async create(merchantId: string, input: { url: unknown; events?: unknown }): Promise<WebhookEndpointView> {
    const url = await this.#cleanUrl(input.url);
    const events = cleanEvents(input.events);
    const count = await this.#db
      .selectFrom('webhook_endpoints')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('merchant_id', '=', Number(merchantId))
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (Number(count?.n ?? 0) >= MAX_ENDPOINTS_PER_MERCHANT) {
      throw new AppError('VALIDATION_FAILED', `A merchant may have at most ${MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints`, {
        param: 'url',
      });
    }
    const id = newEndpointId();
    const secret = newSecret();
    const now = this.#clock.now();
    const row = await this.changeEndpoints((trx) =>
      trx
        .insertInto('webhook_endpoints')
        .values({
          id,
          merchant_id: Number(merchantId),
          url,
          events: events === null ? null : JSON.stringify(events),
          secret_enc: this.#masterKey.encrypt(secret, secretContext(id)),
          previous_secret_enc: null,
          previous_secret_expires_at: null,
          status: 'enabled',
          failing_since: null,
          created_at: now,
          deleted_at: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return endpointView(row, now, secret);
  }

  async list(merchantId: string): Promise<WebhookEndpointView[]> {
    const rows = await this.#db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('merchant_id', '=', Number(merchantId))
      .where('deleted_at', 'is', null)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    const now = this.#clock.now();
    return rows.map((r) => endpointView(r, now));
  }

  /** The merchant's endpoint, or NOT_FOUND (another merchant's looks missing too). */
  async #own(merchantId: string, id: string): Promise<EndpointRow> {
    if (!ENDPOINT_ID_RE.test(id)) throw new AppError('NOT_FOUND', 'No such webhook endpoint');
    const row = await this.#db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .where('merchant_id', '=', Number(merchantId))
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row) throw new AppError('NOT_FOUND', 'No such webhook endpoint');
    return row;
  }

  async get(merchantId: string, id: string): Promise<WebhookEndpointView> {
    return endpointView(await this.#own(merchantId, id), this.#clock.now());
  }

  /**
   * Deletes an endpoint: nothing more is sent to it. The row stays (its delivery log refers
   * to it), marked deleted; what was still pending is marked failed.
   */
  async delete(merchantId: string, id: string): Promise<void> {
    await this.#own(merchantId, id);
    const now = this.#clock.now();
    await this.changeEndpoints(async (trx) => {
      await trx.updateTable('webhook_endpoints').set({ deleted_at: now, status: 'disabled' }).where('id', '=', id).execute();
      await trx
        .updateTable('webhook_deliveries')
        .set({ status: 'failed', last_error: 'the endpoint was deleted' })
        .where('endpoint_id', '=', id)
        .where('status', '=', 'pending')
        .execute();
    });
  }

  /**
   * Turns a disabled endpoint back on (the receiver was fixed): new events go there again,
   * and its failure clock starts afresh. What failed while it was off stays failed; the
   * merchant resends what it needs with `redeliver`.
   */
  async enable(merchantId: string, id: string): Promise<WebhookEndpointView> {
    await this.#own(merchantId, id);
    const updated = await this.changeEndpoints((trx) =>
      trx
        .updateTable('webhook_endpoints')
        .set({ status: 'enabled', failing_since: null })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return endpointView(updated, this.#clock.now());
  }

  /** A new secret; the previous one keeps signing (as a second `v1=`) for 24 hours. */
  async rotateSecret(merchantId: string, id: string): Promise<WebhookEndpointView> {
    const row = await this.#own(merchantId, id);
    const secret = newSecret();
    const now = this.#clock.now();
    const updated = await this.#db
      .updateTable('webhook_endpoints')
      .set({
        secret_enc: this.#masterKey.encrypt(secret, secretContext(id)),
        previous_secret_enc: row.secret_enc,
        previous_secret_expires_at: now + PREVIOUS_SECRET_MS,
      })
      .where('id', '=', id)
      // Two rotations at once: one wins, the other is told to try again (its secret was never stored).
      .where('secret_enc', '=', row.secret_enc)
      .returningAll()
      .executeTakeFirst();
    if (!updated) throw new AppError('CONCURRENT_UPDATE', 'The endpoint changed at the same time; try again');
    return endpointView(updated, now, secret);
  }

  /** The secrets that sign deliveries to this endpoint now: the current one, then the previous during a rotation. */
  secretsOf(row: Pick<EndpointRow, 'id' | 'secret_enc' | 'previous_secret_enc' | 'previous_secret_expires_at'>): string[] {
    const secrets = [this.#masterKey.decrypt(row.secret_enc, secretContext(row.id))];
    if (row.previous_secret_enc !== null && Number(row.previous_secret_expires_at ?? 0) > this.#clock.now()) {
      secrets.push(this.#masterKey.decrypt(row.previous_secret_enc, secretContext(row.id)));
    }
    return secrets;
  }

  /** The endpoint's delivery log, newest event first; `before` a delivery id for the next page. */
  async deliveries(
    merchantId: string,
    endpointId: string,
    options: { limit?: number; before?: string } = {},
  ): Promise<WebhookDeliveryView[]> {
    await this.#own(merchantId, endpointId);
    let q = this.#db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('invoice_history as h', 'h.id', 'd.event_id')
      .selectAll('d')
      .select(['h.action', 'h.invoice_id', 'h.version'])
      .where('d.endpoint_id', '=', endpointId);
    if (options.before !== undefined) q = q.where('d.id', '<', Number(options.before));
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 200);
    const rows = await q.orderBy('d.id', 'desc').limit(limit).execute();
    return rows.map(deliveryView);
  }

  /** The event (`evt_12` or `12`) if it is this merchant's; NOT_FOUND otherwise. */
  async event(merchantId: string, id: unknown): Promise<{ row: EventRow; event: WebhookEvent }> {
    const historyId = parseWebhookEventId(id);
    const row = historyId === null ? undefined : await this.eventRow(historyId);
    if (!row || String(row.merchant_id) !== merchantId || row.payload === null) throw new AppError('NOT_FOUND', 'No such event');
    return { row, event: webhookEventOf(row) };
  }

  /** Several events at once (the deliverer's batch), in no particular order. */
  async eventRows(historyIds: readonly number[]): Promise<EventRow[]> {
    if (historyIds.length === 0) return [];
    return this.#db
      .selectFrom('invoice_history as h')
      .innerJoin('invoices as i', 'i.id', 'h.invoice_id')
      .select([
        'h.id',
        'h.invoice_id',
        'h.version',
        'h.at',
        'h.status',
        'h.from_status',
        'h.action',
        'h.actor_type',
        'h.payload',
        'i.merchant_id',
      ])
      .where('h.id', 'in', [...historyIds])
      .execute();
  }

  async eventRow(historyId: number): Promise<EventRow | undefined> {
    return (await this.eventRows([historyId]))[0];
  }

  /**
   * Sends the event again to each of the merchant's enabled endpoints that wants its type:
   * a delivery row that exists (delivered or failed) goes back to pending; one that does not
   * is made (an endpoint created after the event).
   */
  async redeliver(merchantId: string, id: unknown): Promise<{ event: WebhookEvent; endpoints: string[] }> {
    const { row, event } = await this.event(merchantId, id);
    const now = this.#clock.now();
    const endpoints = (
      await this.#db
        .selectFrom('webhook_endpoints')
        .select(['id', 'events'])
        .where('merchant_id', '=', Number(merchantId))
        .where('status', '=', 'enabled')
        .where('deleted_at', 'is', null)
        .orderBy('id')
        .execute()
    ).filter((e) => subscribes(e.events, event.type));
    for (const endpoint of endpoints) {
      await this.#db
        .insertInto('webhook_deliveries')
        .values({
          endpoint_id: endpoint.id,
          event_id: Number(row.id),
          status: 'pending',
          attempts: 0,
          next_attempt_at: now,
          last_status_code: null,
          last_error: null,
          delivered_at: null,
          created_at: now,
        })
        .onConflict((oc) =>
          // A fresh retry period from now: `created_at` is when this delivery was (re)queued.
          oc
            .columns(['endpoint_id', 'event_id'])
            .doUpdateSet({ status: 'pending', attempts: 0, next_attempt_at: now, delivered_at: null, last_error: null, created_at: now }),
        )
        .execute();
    }
    for (const listener of this.#onQueued) listener();
    return { event, endpoints: endpoints.map((e) => e.id) };
  }

  /** Pending deliveries (all, and those due now): the queue gauge. */
  async queueStats(): Promise<{ pending: number; due: number }> {
    const now = this.#clock.now();
    const row = await this.#db
      .selectFrom('webhook_deliveries')
      .select((eb) => [
        eb.fn.countAll<number | string | bigint>().as('pending'),
        eb.fn.sum<number | string | bigint | null>(eb.case().when('next_attempt_at', '<=', now).then(1).else(0).end()).as('due'),
      ])
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return { pending: Number(row?.pending ?? 0), due: Number(row?.due ?? 0) };
  }

  async #cleanUrl(value: unknown): Promise<string> {
    if (typeof value !== 'string' || value.length === 0) throw new AppError('VALIDATION_FAILED', 'url is required', { param: 'url' });
    if (value.length > URL_MAX_CHARS || hasControlCharacters(value)) {
      throw new AppError('VALIDATION_FAILED', `url must be a URL of at most ${URL_MAX_CHARS} characters`, { param: 'url' });
    }
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new AppError('VALIDATION_FAILED', 'url must be an absolute https URL', { param: 'url' });
    }
    const refused = refuseUrl(url, this.#settings.allowPrivate);
    if (refused) throw new AppError('VALIDATION_FAILED', `url ${refused}`, { param: 'url' });
    if (!this.#settings.allowPrivate) {
      // A name that resolves to a private address now is refused now; one that cannot be
      // resolved yet is accepted (the deliverer checks every attempt on the connected socket).
      try {
        await withTimeout(resolvePublic(url.hostname, { allowPrivate: false, lookup: this.lookup }), REGISTRATION_LOOKUP_MS);
      } catch (err) {
        if (err instanceof WebhookRefused) throw new AppError('VALIDATION_FAILED', `url ${err.message}`, { param: 'url' });
      }
    }
    return url.toString();
  }
}

function cleanEvents(value: unknown): WebhookEventType[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || value.length === 0 || !value.every(isWebhookEventType)) {
    throw new AppError('VALIDATION_FAILED', `events must be a non-empty list of: ${WEBHOOK_EVENT_TYPES.join(', ')}`, { param: 'events' });
  }
  return [...new Set(value)].sort((a, b) => WEBHOOK_EVENT_TYPES.indexOf(a) - WEBHOOK_EVENT_TYPES.indexOf(b));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}
