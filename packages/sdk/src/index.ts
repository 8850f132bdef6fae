/**
 * Typed client for the NL-Trade v1 API (traders, administrators, the payer's checkout).
 *
 * @example
 * ```ts
 * import { NlTradeClient } from '@nltrade/sdk';
 * const trader = new NlTradeClient({ baseUrl: 'http://127.0.0.1:8080', token: process.env.TRADER_TOKEN });
 * const open = await trader.traderInvoices({ status: 'not approve exchange' });
 * ```
 */
import { NlTradeError } from './errors.ts';

export { NlTradeError } from './errors.ts';

export interface ClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** A trader's, administrator's or merchant's API token, sent as `Authorization: Bearer`. */
  token?: string | undefined;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
  /** Request timeout in ms (default 15000). */
  timeoutMs?: number;
}

/** An invoice as a trader or administrator sees it (card masked unless it is the trader's own). */
export interface InvoiceView {
  uid: string;
  title: string;
  status: string;
  amount: string;
  version: number;
  [field: string]: unknown;
}

export class NlTradeClient {
  readonly #baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: ClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  /**
   * Sends one request and unwraps the JSON answer; throws NlTradeError on a non-2xx answer.
   *
   * @example
   * ```ts
   * const view = await client.request<InvoiceView>('GET', `/v1/checkout/${uid}`);
   * ```
   */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.#fetch(this.#baseUrl + path, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new NlTradeError('NETWORK', 0, `Cannot reach ${this.#baseUrl}: ${(err as Error).message}`);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new NlTradeError('BAD_RESPONSE', response.status, `The server answered ${response.status} with a non-JSON body`);
    }
    if (!response.ok) {
      const err = json as { code?: string; message?: string };
      throw new NlTradeError(err.code ?? 'HTTP_ERROR', response.status, err.message ?? `HTTP ${response.status}`);
    }
    return json as T;
  }

  /**
   * Invoices open to take plus the trader's own.
   *
   * @example
   * ```ts
   * const { invoices } = await trader.traderInvoices({ status: 'pay' });
   * ```
   */
  traderInvoices(filter: { status?: string } = {}): Promise<{ invoices: InvoiceView[] }> {
    const q = filter.status ? `?status=${encodeURIComponent(filter.status)}` : '';
    return this.request('GET', `/v1/trader/invoices${q}`);
  }

  /**
   * Takes an invoice (first trader wins; the others get ALREADY_TAKEN).
   *
   * @example
   * ```ts
   * await trader.accept(uid);
   * ```
   */
  accept(uid: string): Promise<InvoiceView> {
    return this.#traderAction(uid, 'accept');
  }

  /**
   * Gives the payer the card to pay to; starts the payment deadline.
   *
   * @example
   * ```ts
   * await trader.setCard(uid, '4441 1144 4111 4442');
   * ```
   */
  setCard(uid: string, card: string): Promise<InvoiceView> {
    return this.#traderAction(uid, 'card', { card });
  }

  /**
   * Confirms the money arrived: the invoice becomes `success`.
   *
   * @example
   * ```ts
   * await trader.confirm(uid);
   * ```
   */
  confirm(uid: string): Promise<InvoiceView> {
    return this.#traderAction(uid, 'confirm');
  }

  /**
   * Disputes the payment: the payer is asked for a receipt photo.
   *
   * @example
   * ```ts
   * await trader.dispute(uid, 'Nothing arrived');
   * ```
   */
  dispute(uid: string, reason?: string): Promise<InvoiceView> {
    return this.#traderAction(uid, 'dispute', reason === undefined ? {} : { reason });
  }

  /**
   * Changes the amount while checking the payment (the payer sent a different sum).
   *
   * @example
   * ```ts
   * await trader.changeAmount(uid, '950.00');
   * ```
   */
  changeAmount(uid: string, amount: string): Promise<InvoiceView> {
    return this.#traderAction(uid, 'amount', { amount });
  }

  /**
   * Invoices for administrators, by status (default: disputes awaiting a decision).
   *
   * @example
   * ```ts
   * const { invoices } = await admin.adminInvoices({ status: 'notApprove' });
   * ```
   */
  adminInvoices(filter: { status?: string } = {}): Promise<{ invoices: InvoiceView[] }> {
    const q = filter.status ? `?status=${encodeURIComponent(filter.status)}` : '';
    return this.request('GET', `/v1/admin/invoices${q}`);
  }

  /**
   * Decides a disputed invoice.
   *
   * @example
   * ```ts
   * await admin.decide(uid, 'success', 'Receipt matches the transfer');
   * ```
   */
  decide(uid: string, decision: 'success' | 'canceled', reason: string): Promise<InvoiceView> {
    return this.request('POST', `/v1/admin/invoices/${encodeURIComponent(uid)}/decide`, { decision, reason });
  }

  /**
   * Cancels any invoice that is not final yet.
   *
   * @example
   * ```ts
   * await admin.cancel(uid, 'Fraud suspected');
   * ```
   */
  cancel(uid: string, reason?: string): Promise<InvoiceView> {
    return this.request('POST', `/v1/admin/invoices/${encodeURIComponent(uid)}/cancel`, reason === undefined ? {} : { reason });
  }

  #traderAction(uid: string, action: string, body: Record<string, unknown> = {}): Promise<InvoiceView> {
    return this.request('POST', `/v1/trader/invoices/${encodeURIComponent(uid)}/${action}`, body);
  }
}

export { historyOf, type LegacyInvoice, RemoteInvoiceClient, type RemoteInvoiceClientOptions } from './legacy.ts';
export { type InvoiceUpdate, type InvoiceWatch, type WatchHandlers, watchInvoice } from './realtime.ts';
