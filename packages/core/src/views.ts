import type { Locale, Status } from './statuses.ts';

/**
 * The public view of an invoice the payer's page reads: from `GET /v1/checkout/:uid` and in
 * every `invoice:update`. One definition for the server that sends it and the page that
 * reads it. No account ids; the full card only for the invoice's bound IP.
 */
export interface CheckoutView {
  uid: string;
  title: string;
  /** send_value, always two decimals ("1500.50"). */
  amount: string;
  currency: 'UAH';
  status: Status;
  statusLabel: Readonly<Record<Locale, string>>;
  /**
   * The card to pay to, digits only, for the payer (the bound IP); masked for anyone else who
   * knows the UID; null before the trader has set it and after cancellation.
   */
  card: string | null;
  /** Seconds the payer has to pay once the card is shown (the invoice's payment_timeout). */
  paymentTimeoutSeconds: number;
  /** ISO time the payer must pay by; only while `send card`. */
  deadlineAt: string | null;
  serverTime: string;
  version: number;
  /** The amount before the trader changed it (trader_change_price). */
  previousAmount: string | null;
  photoUploaded: boolean;
  returnUrl: string | null;
  resolution: string | null;
  /** The requester's own IP, so the page can compare it with `ip` without another service. */
  viewerIp?: string;
  ip: string | null;
}

/**
 * One invoice as the Remote Invoice API's `get` returns it (protocol §4.2): the original's 25
 * field names, every value a string or null. The server builds it; the SDK reads it.
 */
export interface LegacyInvoice {
  id: string;
  telegram_id: string | null;
  trader_id: string | null;
  name_ex: string;
  send_value: string;
  recive_value: string;
  currency: string;
  card_f_pay: string | null;
  msg: string | null;
  approve_photo: string | null;
  technical: string | null;
  status: string;
  date: string;
  codeex: string | null;
  pay_info: string | null;
  trader_photo: string | null;
  pay_date: string | null;
  uid_link: string;
  ip: string | null;
  payment_timeout: string;
  accept_date: string | null;
  /** A JSON string of `[{date, status}]`. */
  exchange_log: string;
  trader_change_price: string | null;
  exchange_type: string;
  user_id: string | null;
}
