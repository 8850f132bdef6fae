import { formatAmount, formatAmountFixed, formatCard, type LegacyInvoice, rot13 } from '@nltrade/core';
import type { HistoryEntry, Invoice } from '../services/invoices.ts';

/** The invoice record of the legacy `get`, field for field as the original sends it. */
export type LegacyRecord = LegacyInvoice;

/** What a record is made of: an Invoice has it, and so has the legacy `get`'s own read (reads.ts). */
export type RecordSource = Pick<
  Invoice,
  | 'id'
  | 'traderId'
  | 'title'
  | 'sendMinor'
  | 'reciveMinor'
  | 'rate'
  | 'card'
  | 'approvePhoto'
  | 'status'
  | 'createdAt'
  | 'paidAt'
  | 'uid'
  | 'ip'
  | 'paymentTimeout'
  | 'acceptedAt'
  | 'traderChangePrice'
>;
export type RecordHistory = readonly Pick<HistoryEntry, 'at' | 'note'>[];

const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** 'YYYY-MM-DD HH:MM:SS' in UTC, the original's date format. */
export function legacyDate(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

const legacyDateOrNull = (ms: number | null): string | null => (ms === null ? null : legacyDate(ms));

/**
 * `card_f_pay` is the full number: the legacy `get` is what the payer's page reads to know
 * where to send the money. Masking belongs to other audiences (other APIs).
 */
export function legacyRecord(invoice: RecordSource, history: RecordHistory): LegacyRecord {
  return {
    id: invoice.id,
    telegram_id: null,
    trader_id: invoice.traderId,
    name_ex: invoice.title,
    send_value: formatAmount(invoice.sendMinor),
    recive_value: formatAmountFixed(invoice.reciveMinor),
    currency: invoice.rate,
    card_f_pay: invoice.card === null ? null : formatCard(invoice.card),
    msg: null,
    approve_photo: invoice.approvePhoto,
    technical: null,
    status: invoice.status,
    date: legacyDate(invoice.createdAt),
    codeex: null,
    pay_info: null,
    trader_photo: null,
    pay_date: legacyDateOrNull(invoice.paidAt),
    uid_link: invoice.uid,
    ip: invoice.ip,
    payment_timeout: String(invoice.paymentTimeout),
    accept_date: legacyDateOrNull(invoice.acceptedAt),
    exchange_log: JSON.stringify(history.map((h) => ({ date: legacyDate(h.at), status: h.note }))),
    trader_change_price: invoice.traderChangePrice,
    exchange_type: 'invoice',
    user_id: null,
  };
}

/** The key endpoint's `result`: base64(rot13(PEM)). */
export { rot13 };

export function encodePublicKey(pem: string): string {
  return Buffer.from(rot13(pem), 'latin1').toString('base64');
}
