import {
  type Binding,
  CARD_GIVEN_STATUS,
  CARD_VISIBLE_STATUSES,
  type CheckoutView,
  formatAmountFixed,
  type MerchantInvoice,
  maskCard,
  parseAmount,
  STATUS_LABELS,
  type StaffInvoiceView,
  type WatchView,
} from '@nltrade/core';
import type { HistoryEntry, Invoice } from './services/invoices.ts';

export type { CheckoutView, StaffInvoiceView, WatchView };

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** trader_change_price is stored as the original sends it ("1500" or "1500.5"); show it like `amount`. */
function fixedAmount(text: string | null): string | null {
  if (text === null) return null;
  try {
    return formatAmountFixed(parseAmount(text));
  } catch {
    return text;
  }
}

function bindingFor(invoice: Invoice, viewerIp: string | undefined): Binding {
  if (invoice.ip === null) return 'nobody';
  return viewerIp !== undefined && viewerIp === invoice.ip ? 'you' : 'another';
}

export function checkoutView(invoice: Invoice, now: number, viewerIp?: string): CheckoutView {
  const boundTo = bindingFor(invoice, viewerIp);
  // After a cancellation or expiry showing the card would only invite a payment nobody checks.
  const showCard = invoice.card !== null && CARD_VISIBLE_STATUSES.has(invoice.status);
  const view: CheckoutView = {
    uid: invoice.uid,
    title: invoice.title,
    amount: formatAmountFixed(invoice.sendMinor),
    currency: 'UAH',
    status: invoice.status,
    statusLabel: STATUS_LABELS[invoice.status],
    card: showCard && invoice.card !== null ? (boundTo === 'you' ? invoice.card : maskCard(invoice.card)) : null,
    paymentTimeoutSeconds: invoice.paymentTimeout,
    deadlineAt: invoice.status === CARD_GIVEN_STATUS ? iso(invoice.deadlineAt) : null,
    serverTime: new Date(now).toISOString(),
    version: invoice.version,
    previousAmount: fixedAmount(invoice.traderChangePrice),
    photoUploaded: invoice.approvePhoto !== null,
    returnUrl: invoice.returnUrl,
    resolution: invoice.resolution,
    // Who holds an invoice is the holder's business: others learn only that someone does.
    ip: boundTo === 'you' ? invoice.ip : null,
    boundTo,
    sandbox: invoice.sandbox,
  };
  if (viewerIp !== undefined) view.viewerIp = viewerIp;
  return view;
}

export interface StaffViewer {
  role: 'trader' | 'admin';
  id: string;
}

/** `hostedPhoto`: whether approve_photo is a receipt photo this server stored for this invoice. */
export interface StaffViewOptions {
  /** The settlement currency's code (the ledger's). */
  readonly currency: string;
  /** The receipt photo is one this server stores for this invoice. */
  readonly hostedPhoto?: boolean;
  /** Given: the view carries the event log (administrators). */
  readonly history?: readonly HistoryEntry[];
}

export function staffInvoiceView(invoice: Invoice, viewer: StaffViewer, options: StaffViewOptions): StaffInvoiceView {
  const ownTrader = viewer.role === 'trader' && invoice.traderId === viewer.id;
  const admin = viewer.role === 'admin';
  const view: StaffInvoiceView = {
    id: invoice.id,
    uid: admin ? invoice.uid : null,
    title: invoice.title,
    amount: formatAmountFixed(invoice.sendMinor),
    receiveAmount: formatAmountFixed(invoice.reciveMinor),
    receiveCurrency: options.currency,
    rate: invoice.rate,
    currency: 'UAH',
    status: invoice.status,
    statusLabel: STATUS_LABELS[invoice.status],
    card: invoice.card === null ? null : ownTrader ? invoice.card : maskCard(invoice.card),
    traderId: invoice.traderId,
    merchantId: invoice.merchantId,
    // The payer's IP is personal data a trader has no use for; administrators judge disputes with it.
    ip: admin ? invoice.ip : null,
    version: invoice.version,
    createdAt: new Date(invoice.createdAt).toISOString(),
    acceptedAt: iso(invoice.acceptedAt),
    paidAt: iso(invoice.paidAt),
    deadlineAt: iso(invoice.deadlineAt),
    previousAmount: fixedAmount(invoice.traderChangePrice),
    approvePhoto: invoice.approvePhoto,
    approvePhotoHosted: options.hostedPhoto === true,
    resolution: invoice.resolution,
    sandbox: invoice.sandbox,
  };
  if (options.history) {
    view.history = options.history.map((h) => ({
      at: new Date(h.at).toISOString(),
      status: h.status,
      action: h.action,
      actor_type: h.actorType,
      actor_id: h.actorId,
      note: h.note,
      version: h.version,
    }));
  }
  return view;
}

/** The checkout page's address for an invoice: absolute when PUBLIC_URL is set. */
export function checkoutUrl(uid: string, publicUrl: string | undefined): string {
  return `${(publicUrl ?? '').replace(/\/+$/, '')}/pay/${uid}`;
}

/** The merchant's view (v1 API, webhooks); history only when given. */
export function merchantInvoiceView(invoice: Invoice, publicUrl: string | undefined, history?: readonly HistoryEntry[]): MerchantInvoice {
  const view: MerchantInvoice = {
    object: 'invoice',
    uid: invoice.uid,
    id: invoice.id,
    title: invoice.title,
    status: invoice.status,
    amount: formatAmountFixed(invoice.sendMinor),
    previous_amount: fixedAmount(invoice.traderChangePrice),
    currency: 'UAH',
    receive_amount: formatAmountFixed(invoice.reciveMinor),
    rate: invoice.rate,
    checkout_url: checkoutUrl(invoice.uid, publicUrl),
    return_url: invoice.returnUrl,
    payment_timeout: invoice.paymentTimeout,
    deadline_at: iso(invoice.deadlineAt),
    created_at: new Date(invoice.createdAt).toISOString(),
    updated_at: new Date(invoice.updatedAt).toISOString(),
    accepted_at: iso(invoice.acceptedAt),
    paid_at: iso(invoice.paidAt),
    payer_bound: invoice.ip !== null,
    approve_photo: invoice.approvePhoto,
    resolution: invoice.resolution,
    metadata: { ...invoice.metadata },
    sandbox: invoice.sandbox,
    version: invoice.version,
  };
  if (history) {
    view.history = history.map((h) => ({
      at: new Date(h.at).toISOString(),
      status: h.status,
      action: h.action,
      actor_type: h.actorType,
      note: h.note,
    }));
  }
  return view;
}

/** What watchers get; traders see no UID. */
export function watchView(invoice: Invoice, showUid: boolean): WatchView {
  return {
    id: invoice.id,
    uid: showUid ? invoice.uid : null,
    status: invoice.status,
    statusLabel: STATUS_LABELS[invoice.status],
    amount: formatAmountFixed(invoice.sendMinor),
    previousAmount: fixedAmount(invoice.traderChangePrice),
    version: invoice.version,
    updatedAt: new Date(invoice.updatedAt).toISOString(),
    payerBound: invoice.ip !== null,
    sandbox: invoice.sandbox,
  };
}
