import { type CheckoutView, formatAmountFixed, type Locale, maskCard, parseAmount, STATUS_LABELS, type Status } from '@nltrade/core';
import type { Invoice } from './services/invoices.ts';

export type { CheckoutView };

/** What traders and administrators see. */
export interface StaffInvoiceView {
  uid: string;
  title: string;
  amount: string;
  reciveAmount: string;
  rate: string;
  currency: 'UAH';
  status: Status;
  statusLabel: Readonly<Record<Locale, string>>;
  /** Masked unless the viewer is the trader who set it. */
  card: string | null;
  traderId: string | null;
  merchantId: string;
  ip: string | null;
  version: number;
  createdAt: string;
  acceptedAt: string | null;
  paidAt: string | null;
  deadlineAt: string | null;
  previousAmount: string | null;
  approvePhoto: string | null;
  resolution: string | null;
}

// Statuses in which the payer may still need the card; after a cancellation or expiry
// showing it would only invite a payment nobody will check.
const CARD_VISIBLE: ReadonlySet<Status> = new Set<Status>(['send card', 'pay', 'waitPhoto', 'notApprove', 'success']);

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

function payerCard(invoice: Invoice, viewerIp: string | undefined): string | null {
  if (invoice.card === null || !CARD_VISIBLE.has(invoice.status)) return null;
  return viewerIp !== undefined && viewerIp === invoice.ip ? invoice.card : maskCard(invoice.card);
}

export function checkoutView(invoice: Invoice, now: number, viewerIp?: string): CheckoutView {
  const view: CheckoutView = {
    uid: invoice.uid,
    title: invoice.title,
    amount: formatAmountFixed(invoice.sendMinor),
    currency: 'UAH',
    status: invoice.status,
    statusLabel: STATUS_LABELS[invoice.status],
    card: payerCard(invoice, viewerIp),
    paymentTimeoutSeconds: invoice.paymentTimeout,
    deadlineAt: invoice.status === 'send card' ? iso(invoice.deadlineAt) : null,
    serverTime: new Date(now).toISOString(),
    version: invoice.version,
    previousAmount: fixedAmount(invoice.traderChangePrice),
    photoUploaded: invoice.approvePhoto !== null,
    returnUrl: invoice.returnUrl,
    resolution: invoice.resolution,
    ip: invoice.ip,
  };
  if (viewerIp !== undefined) view.viewerIp = viewerIp;
  return view;
}

export interface StaffViewer {
  role: 'trader' | 'admin';
  id: string;
}

export function staffInvoiceView(invoice: Invoice, viewer: StaffViewer): StaffInvoiceView {
  const ownTrader = viewer.role === 'trader' && invoice.traderId === viewer.id;
  return {
    uid: invoice.uid,
    title: invoice.title,
    amount: formatAmountFixed(invoice.sendMinor),
    reciveAmount: formatAmountFixed(invoice.reciveMinor),
    rate: invoice.rate,
    currency: 'UAH',
    status: invoice.status,
    statusLabel: STATUS_LABELS[invoice.status],
    card: invoice.card === null ? null : ownTrader ? invoice.card : maskCard(invoice.card),
    traderId: invoice.traderId,
    merchantId: invoice.merchantId,
    // The payer's IP is personal data a trader has no use for; administrators judge disputes with it.
    ip: viewer.role === 'admin' ? invoice.ip : null,
    version: invoice.version,
    createdAt: new Date(invoice.createdAt).toISOString(),
    acceptedAt: iso(invoice.acceptedAt),
    paidAt: iso(invoice.paidAt),
    deadlineAt: iso(invoice.deadlineAt),
    previousAmount: fixedAmount(invoice.traderChangePrice),
    approvePhoto: invoice.approvePhoto,
    resolution: invoice.resolution,
  };
}
