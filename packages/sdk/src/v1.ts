/**
 * Client of the merchant REST API v1 (`/v1/invoices`): Bearer token, JSON, catalog errors,
 * `Idempotency-Key` on POSTs.
 *
 * @example
 * ```ts
 * import { MerchantClient } from '@nltrade/sdk';
 * const api = new MerchantClient({ baseUrl: 'http://127.0.0.1:8080', token: process.env.NLTRADE_TOKEN! });
 * const invoice = await api.createInvoice({ title: 'Order #42', amount: '1500.00' }, { idempotencyKey: 'order-42' });
 * console.log(invoice.checkout_url);
 * ```
 */
import { type ErrorCode, isErrorCode, type MerchantInvoice, type MerchantInvoiceList, type Status } from '@nltrade/core';
import { type ClientErrorCode, NlTradeError } from './errors.ts';
import { sendJson, type Transport } from './transport.ts';

export type { InvoiceHistoryLine, MerchantInvoice } from '@nltrade/core';

export interface MerchantClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The merchant's access token (the same as the Remote Invoice API's), sent as `Authorization: Bearer`. */
  token: string;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
  /** Request timeout in ms (default 15000). */
  timeoutMs?: number;
}

export interface CreateInvoiceInput {
  /** What the payer is paying for. */
  title: string;
  /** UAH as a decimal string with at most two decimals: `"1500.00"`. */
  amount: string;
  /** Seconds the payer has to pay once the card is shown (30–86400); the server's default when left out. */
  paymentTimeout?: number;
  /** An http(s) URL offered to the payer once the invoice has ended. */
  returnUrl?: string;
  /** Your own key/value pairs, returned with the invoice and in webhooks. */
  metadata?: Record<string, string>;
}

/** A time bound of a list: a Date, unix seconds, or an ISO 8601 string. */
export type TimeBound = Date | number | string;

export interface InvoiceListFilter {
  status?: Status;
  /** Created at or after. */
  createdGte?: TimeBound;
  /** Created before. */
  createdLt?: TimeBound;
  /** Page size, 1 to 100 (server default 20). */
  limit?: number;
  /** The `next_cursor` of the previous page. */
  startingAfter?: string;
}

/** One page of invoices, newest first; pass `next_cursor` as `startingAfter` for the next (null on the last). */
export type InvoiceList = MerchantInvoiceList;

export interface PostOptions {
  /**
   * Makes the call safe to retry: the server runs the first request with this key and replays
   * its answer (status and body) for later ones with the same key, per merchant, for 24 h.
   */
  idempotencyKey?: string;
}

/**
 * What a failed v1 call throws: the SDK's NlTradeError with the HTTP status, the field the
 * error is about (`param`) and the server's `Request-Id`.
 *
 * @example
 * ```ts
 * try { await api.createInvoice({ title: 'x', amount: 'abc' }); }
 * catch (e) { if (e instanceof MerchantApiError) console.error(e.code, e.param, e.requestId); }
 * ```
 */
export class MerchantApiError extends NlTradeError {
  /** The HTTP status (0 when the server was not reached); the same as `httpStatus`. */
  readonly status: number;
  /** The request field or header the error is about, when the server named one. */
  readonly param: string | undefined;
  /** The server's `Request-Id` for this request, to quote in a support request. */
  readonly requestId: string | undefined;

  constructor(
    code: ErrorCode | ClientErrorCode,
    status: number,
    message: string,
    extra: { param?: string | undefined; requestId?: string | undefined } = {},
  ) {
    super(code, status, message);
    this.name = 'MerchantApiError';
    this.status = status;
    this.param = extra.param;
    this.requestId = extra.requestId;
  }
}

function timeParam(value: TimeBound): string {
  if (value instanceof Date) return String(Math.floor(value.getTime() / 1000));
  return String(value);
}

function listQuery(filter: InvoiceListFilter): string {
  const params = new URLSearchParams();
  if (filter.status !== undefined) params.set('status', filter.status);
  if (filter.createdGte !== undefined) params.set('created_gte', timeParam(filter.createdGte));
  if (filter.createdLt !== undefined) params.set('created_lt', timeParam(filter.createdLt));
  if (filter.limit !== undefined) params.set('limit', String(filter.limit));
  if (filter.startingAfter !== undefined) params.set('starting_after', filter.startingAfter);
  const q = params.toString();
  return q ? `?${q}` : '';
}

export class MerchantClient {
  readonly #transport: Transport;

  /**
   * @example
   * ```ts
   * const api = new MerchantClient({ baseUrl: 'https://gateway.example', token: process.env.NLTRADE_TOKEN! });
   * ```
   */
  constructor(options: MerchantClientOptions) {
    this.#transport = {
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      token: options.token,
      fetch: options.fetch ?? fetch,
      timeoutMs: options.timeoutMs ?? 15_000,
    };
  }

  /**
   * Creates an invoice; send the payer to its `checkout_url`. With an `idempotencyKey` a retry
   * after a lost answer returns the same invoice instead of making a second one.
   *
   * @example
   * ```ts
   * const invoice = await api.createInvoice(
   *   { title: 'Order #42', amount: '1500.00', metadata: { order_id: '42' } },
   *   { idempotencyKey: 'order-42' },
   * );
   * ```
   */
  createInvoice(input: CreateInvoiceInput, options: PostOptions = {}): Promise<MerchantInvoice> {
    const body: Record<string, unknown> = { title: input.title, amount: input.amount };
    if (input.paymentTimeout !== undefined) body.payment_timeout = input.paymentTimeout;
    if (input.returnUrl !== undefined) body.return_url = input.returnUrl;
    if (input.metadata !== undefined) body.metadata = input.metadata;
    return this.request('POST', '/v1/invoices', body, options.idempotencyKey);
  }

  /**
   * One of your invoices, with its history; INVOICE_NOT_FOUND (404) for an unknown UID.
   *
   * @example
   * ```ts
   * const { status, history } = await api.getInvoice(uid);
   * ```
   */
  getInvoice(uid: string): Promise<MerchantInvoice> {
    return this.request('GET', `/v1/invoices/${encodeURIComponent(uid)}`);
  }

  /**
   * One page of your invoices, newest first.
   *
   * @example
   * ```ts
   * const page = await api.listInvoices({ status: 'success', limit: 50 });
   * const next = page.has_more ? await api.listInvoices({ status: 'success', limit: 50, startingAfter: page.next_cursor! }) : null;
   * ```
   */
  listInvoices(filter: InvoiceListFilter = {}): Promise<InvoiceList> {
    return this.request('GET', `/v1/invoices${listQuery(filter)}`);
  }

  /**
   * Every invoice matching the filter, newest first, fetching the pages one by one as you
   * iterate (`limit` is the page size).
   *
   * @example
   * ```ts
   * for await (const invoice of api.listAllInvoices({ createdGte: new Date('2026-01-01') })) {
   *   console.log(invoice.uid, invoice.status);
   * }
   * ```
   */
  async *listAllInvoices(filter: InvoiceListFilter = {}): AsyncGenerator<MerchantInvoice, void, undefined> {
    let startingAfter = filter.startingAfter;
    for (;;) {
      const page = await this.listInvoices({ ...filter, startingAfter });
      yield* page.data;
      if (!page.has_more || page.next_cursor === null) return;
      startingAfter = page.next_cursor;
    }
  }

  /**
   * Cancels an invoice the payer has not paid yet (ALREADY_PAID otherwise); returns it.
   *
   * @example
   * ```ts
   * const canceled = await api.cancelInvoice(uid, { idempotencyKey: `cancel-${uid}` });
   * ```
   */
  cancelInvoice(uid: string, options: PostOptions = {}): Promise<MerchantInvoice> {
    return this.request('POST', `/v1/invoices/${encodeURIComponent(uid)}/cancel`, {}, options.idempotencyKey);
  }

  /**
   * Sends one request and returns the parsed JSON answer; throws MerchantApiError otherwise.
   *
   * @example
   * ```ts
   * const invoice = await api.request<MerchantInvoice>('GET', `/v1/invoices/${uid}`);
   * ```
   */
  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
    const { ok, status, json, requestId } = await sendJson(
      this.#transport,
      method,
      path,
      body,
      idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey },
      (code, httpStatus, message, id) => new MerchantApiError(code, httpStatus, message, { requestId: id }),
    );
    if (!ok) {
      const b = (json ?? {}) as { code?: unknown; message?: unknown; param?: unknown };
      throw new MerchantApiError(
        isErrorCode(b.code) ? b.code : 'HTTP_ERROR',
        status,
        typeof b.message === 'string' ? b.message : `HTTP ${status}`,
        { param: typeof b.param === 'string' ? b.param : undefined, requestId },
      );
    }
    return json as T;
  }
}
