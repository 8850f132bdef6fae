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
import type { StaffInvoiceList, StaffInvoiceView, Status, TraderBalanceView, TraderCardView } from '@nltrade/core';
import { errorFromBody, NlTradeError } from './errors.ts';
import { sendJson, type Transport } from './transport.ts';

export type {
  CheckoutView,
  ErrorCode,
  StaffInvoiceList,
  StaffInvoiceView,
  Status,
  TraderBalanceView,
  TraderCardView,
  WatchView,
} from '@nltrade/core';
export { type ClientErrorCode, NlTradeError } from './errors.ts';

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

/**
 * An invoice as a trader or administrator sees it (card masked unless it is the trader's
 * own; `uid` only for administrators — traders name invoices by `id`).
 */
export type InvoiceView = StaffInvoiceView;

/** An invoice number (`id`) as the trader API lists it, or for administrators a UID too. */
export type InvoiceRef = string;

/** Filters of the invoice lists: newest first, `before` an id for the next page. */
export interface ListFilter {
  status?: Status;
  /** 1 to 200 (default 50). */
  limit?: number;
  before?: string;
}

function query(filter: ListFilter): string {
  const params = new URLSearchParams();
  if (filter.status !== undefined) params.set('status', filter.status);
  if (filter.limit !== undefined) params.set('limit', String(filter.limit));
  if (filter.before !== undefined) params.set('before', filter.before);
  const q = params.toString();
  return q ? `?${q}` : '';
}

export class NlTradeClient {
  readonly #transport: Transport;

  constructor(options: ClientOptions) {
    this.#transport = {
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      token: options.token,
      fetch: options.fetch ?? fetch,
      timeoutMs: options.timeoutMs ?? 15_000,
    };
  }

  /**
   * Sends one request and unwraps the JSON answer; throws NlTradeError on a non-2xx answer.
   *
   * @example
   * ```ts
   * const view = await client.request<InvoiceView>('GET', `/v1/checkout/${uid}`);
   * ```
   */
  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const answer = await sendJson(
      this.#transport,
      method,
      path,
      body,
      {},
      (code, status, message) => new NlTradeError(code, status, message),
    );
    if (!answer.ok) throw errorFromBody(answer.status, answer.json);
    return answer.json as T;
  }

  /**
   * Invoices open to take plus the trader's own.
   *
   * @example
   * ```ts
   * const { invoices } = await trader.traderInvoices({ status: 'pay' });
   * ```
   */
  traderInvoices(filter: ListFilter = {}): Promise<StaffInvoiceList> {
    return this.request('GET', `/v1/trader/invoices${query(filter)}`);
  }

  /**
   * The trader's deposit: what it may still take invoices for (`available`), what its
   * invoices hold, and its rewards. With the deposit gate on, open invoices above `available`
   * are neither listed nor accepted (INSUFFICIENT_DEPOSIT).
   *
   * @example
   * ```ts
   * const { available, currency } = await trader.traderBalance();
   * ```
   */
  traderBalance(): Promise<TraderBalanceView> {
    return this.request('GET', '/v1/trader/balance');
  }

  /**
   * One invoice open to take, or one of the trader's own.
   *
   * @example
   * ```ts
   * const invoice = await trader.traderInvoice('42');
   * ```
   */
  traderInvoice(id: InvoiceRef): Promise<InvoiceView> {
    return this.request('GET', `/v1/trader/invoices/${encodeURIComponent(id)}`);
  }

  /**
   * Takes an invoice from the open queue by its number (first trader wins; the others get
   * ALREADY_TAKEN).
   *
   * @example
   * ```ts
   * const { invoices } = await trader.traderInvoices({ status: 'not approve exchange' });
   * await trader.accept(invoices[0].id);
   * ```
   */
  accept(id: InvoiceRef): Promise<InvoiceView> {
    return this.#traderAction(id, 'accept');
  }

  /**
   * Gives the payer the card to pay to; starts the payment deadline.
   *
   * @example
   * ```ts
   * await trader.setCard(invoice.id, '4441 1144 4111 4442');
   * ```
   */
  setCard(id: InvoiceRef, card: string): Promise<InvoiceView> {
    return this.#traderAction(id, 'card', { card });
  }

  /**
   * Gives the payer one of the trader's saved cards (see `saveCard`).
   *
   * @example
   * ```ts
   * const { data } = await trader.savedCards();
   * await trader.setSavedCard(invoice.id, data[0].id);
   * ```
   */
  setSavedCard(id: InvoiceRef, cardId: string): Promise<InvoiceView> {
    return this.#traderAction(id, 'card', { card_id: cardId });
  }

  /**
   * The trader's saved cards, masked (the whole number never comes back).
   *
   * @example
   * ```ts
   * for (const c of (await trader.savedCards()).data) console.log(c.id, c.masked, c.label);
   * ```
   */
  savedCards(): Promise<{ data: TraderCardView[] }> {
    return this.request('GET', '/v1/trader/cards');
  }

  /**
   * Saves a card to give payers later; stored encrypted on the server, listed masked.
   *
   * @example
   * ```ts
   * const card = await trader.saveCard('4441 1144 4111 4442', 'mono black');
   * ```
   */
  saveCard(card: string, label?: string): Promise<TraderCardView> {
    return this.request('POST', '/v1/trader/cards', label === undefined ? { card } : { card, label });
  }

  /**
   * Forgets a saved card.
   *
   * @example
   * ```ts
   * await trader.removeCard(card.id);
   * ```
   */
  async removeCard(cardId: string): Promise<void> {
    await this.request('DELETE', `/v1/trader/cards/${encodeURIComponent(cardId)}`);
  }

  /**
   * Confirms the money arrived: the invoice becomes `success`.
   *
   * @example
   * ```ts
   * await trader.confirm(invoice.id);
   * ```
   */
  confirm(id: InvoiceRef): Promise<InvoiceView> {
    return this.#traderAction(id, 'confirm');
  }

  /**
   * Disputes the payment: the payer is asked for a receipt photo.
   *
   * @example
   * ```ts
   * await trader.dispute(invoice.id, 'Nothing arrived');
   * ```
   */
  dispute(id: InvoiceRef, reason?: string): Promise<InvoiceView> {
    return this.#traderAction(id, 'dispute', reason === undefined ? {} : { reason });
  }

  /**
   * Changes the amount while checking the payment (the payer sent a different sum).
   *
   * @example
   * ```ts
   * await trader.changeAmount(invoice.id, '950.00', 'The payer sent 950.00');
   * ```
   */
  changeAmount(id: InvoiceRef, amount: string, reason?: string): Promise<InvoiceView> {
    return this.#traderAction(id, 'amount', reason === undefined ? { amount } : { amount, reason });
  }

  /**
   * Invoices for administrators, by status (default: disputes awaiting a decision).
   *
   * @example
   * ```ts
   * const { invoices } = await admin.adminInvoices({ status: 'notApprove' });
   * ```
   */
  adminInvoices(filter: ListFilter = {}): Promise<StaffInvoiceList> {
    return this.request('GET', `/v1/admin/invoices${query(filter)}`);
  }

  /**
   * Any invoice, by UID or number, with the payer's IP and whether its receipt photo is stored here.
   *
   * @example
   * ```ts
   * const invoice = await admin.adminInvoice(uid);
   * ```
   */
  adminInvoice(ref: InvoiceRef): Promise<InvoiceView> {
    return this.request('GET', `/v1/admin/invoices/${encodeURIComponent(ref)}`);
  }

  /**
   * Decides a disputed invoice.
   *
   * @example
   * ```ts
   * await admin.decide(uid, 'success', 'Receipt matches the transfer');
   * ```
   */
  decide(ref: InvoiceRef, decision: 'success' | 'canceled', reason: string): Promise<InvoiceView> {
    return this.request('POST', `/v1/admin/invoices/${encodeURIComponent(ref)}/decide`, { decision, reason });
  }

  /**
   * Cancels any invoice that is not final yet.
   *
   * @example
   * ```ts
   * await admin.cancel(uid, 'Fraud suspected');
   * ```
   */
  cancel(ref: InvoiceRef, reason?: string): Promise<InvoiceView> {
    return this.request('POST', `/v1/admin/invoices/${encodeURIComponent(ref)}/cancel`, reason === undefined ? {} : { reason });
  }

  #traderAction(id: InvoiceRef, action: string, body: Record<string, unknown> = {}): Promise<InvoiceView> {
    return this.request('POST', `/v1/trader/invoices/${encodeURIComponent(id)}/${action}`, body);
  }
}
