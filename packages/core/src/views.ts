import type { ErrorCode } from './errors.ts';
import type { Locale, Status } from './statuses.ts';
import type { WebhookEvent, WebhookEventType } from './webhooks.ts';

/** Who the invoice is bound to, as the viewer may know it (the IP itself only for its owner). */
export type Binding = 'nobody' | 'you' | 'another';

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
  /** The requester's own IP, so the page can compare it with `ip:send` without another service. */
  viewerIp?: string;
  /** The bound IP, shown only to that IP itself; null for everyone else. */
  ip: string | null;
  /** Whether a payer has opened the invoice, and whether it is the viewer. */
  boundTo: Binding;
  /** A sandbox merchant's test invoice: a simulated trader, a test card, no real money. */
  sandbox: boolean;
}

/**
 * An invoice as traders and administrators see it. Traders never see the UID: it is the
 * payer's secret (the checkout link), and whoever opens it first becomes the payer. They
 * address invoices by `id`.
 */
export interface StaffInvoiceView {
  /** The invoice's number: how traders name an invoice (accept, card, confirm…). */
  id: string;
  /** Administrators only; null for traders. */
  uid: string | null;
  title: string;
  amount: string;
  /** What the merchant receives, in the settlement currency (the legacy record's `recive_value`). */
  receiveAmount: string;
  /** The settlement currency's code (`USDT` by default): what `receiveAmount` is in. */
  receiveCurrency: string;
  rate: string;
  currency: 'UAH';
  status: Status;
  statusLabel: Readonly<Record<Locale, string>>;
  /** Masked unless the viewer is the trader who set it. */
  card: string | null;
  traderId: string | null;
  merchantId: string;
  /** The payer's IP: administrators only. */
  ip: string | null;
  version: number;
  createdAt: string;
  acceptedAt: string | null;
  paidAt: string | null;
  deadlineAt: string | null;
  previousAmount: string | null;
  approvePhoto: string | null;
  /** True when `approvePhoto` is a receipt photo stored by this server for this invoice. */
  approvePhotoHosted: boolean;
  resolution: string | null;
  /** A sandbox merchant's test invoice, served by the simulated trader (only administrators ever see one). */
  sandbox: boolean;
  /** The invoice's event log, oldest first: one invoice read by an administrator. */
  history?: StaffHistoryLine[];
}

/** `GET /v1/trader/invoices`, `GET /v1/admin/invoices`: newest first; the next page is `before` the last `id`. */
export interface StaffInvoiceList {
  invoices: StaffInvoiceView[];
}

/** One line of an invoice's history as staff see it: who acted too. */
export interface StaffHistoryLine {
  at: string;
  status: Status;
  action: string;
  actor_type: string;
  actor_id: string | null;
  note: string;
  version: number;
}

/**
 * What a watcher (a merchant's server, a trader, an administrator) receives over the
 * realtime channel with `invoice:status`. Watching never binds the invoice.
 */
export interface WatchView {
  id: string;
  /** Null for traders, who address invoices by `id`. */
  uid: string | null;
  status: Status;
  statusLabel: Readonly<Record<Locale, string>>;
  amount: string;
  previousAmount: string | null;
  version: number;
  updatedAt: string;
  /** Whether a payer has opened the invoice (its IP is bound). */
  payerBound: boolean;
  /** A sandbox merchant's test invoice, served by the simulated trader. */
  sandbox: boolean;
}

/** One line of an invoice's history, as the v1 API shows it. */
export interface InvoiceHistoryLine {
  at: string;
  status: Status;
  /** What happened: `create`, `accept`, `setCard`, `paid`, … (the transition table's actions). */
  action: string;
  actor_type: string;
  note: string;
}

/**
 * An invoice as its merchant sees it in the v1 API and in webhooks (snake_case, as merchants'
 * JSON usually is). The same invoices as the legacy API's, both ways.
 */
export interface MerchantInvoice {
  object: 'invoice';
  uid: string;
  /** The invoice's number (what traders call it). */
  id: string;
  title: string;
  status: Status;
  /** What the payer sends, UAH, two decimals ("1500.00"). */
  amount: string;
  /** The amount before the trader changed it, or null. */
  previous_amount: string | null;
  currency: 'UAH';
  /** What the merchant receives in the settlement currency, at `rate`. */
  receive_amount: string;
  rate: string;
  /** The payer's page: absolute when PUBLIC_URL is set, else a path. */
  checkout_url: string;
  return_url: string | null;
  /** Seconds the payer has to pay once the card is shown. */
  payment_timeout: number;
  /** When the current status's timer runs out, or null. */
  deadline_at: string | null;
  created_at: string;
  updated_at: string;
  accepted_at: string | null;
  paid_at: string | null;
  /** Whether a payer has opened the invoice (its IP is bound). */
  payer_bound: boolean;
  /** The payer's receipt photo, when one was sent. */
  approve_photo: string | null;
  /** The administrator's or trader's reason, when there is one. */
  resolution: string | null;
  metadata: Record<string, string>;
  /** Made by a sandbox merchant: served by the simulated trader, no real money. */
  sandbox: boolean;
  /** Grows by one with every change: the `sequence` of webhook events. */
  version: number;
  /** Oldest first; left out of webhook payloads. */
  history?: InvoiceHistoryLine[];
}

/** `GET /v1/invoices`: one page of the merchant's invoices, newest first. */
export interface MerchantInvoiceList {
  object: 'list';
  data: MerchantInvoice[];
  has_more: boolean;
  /** The last invoice's `uid`, to pass as `starting_after` for the next page; null on the last page. */
  next_cursor: string | null;
}

/** Limits on an invoice's `metadata`, as Stripe's. */
export const METADATA_LIMITS = { keys: 50, keyChars: 40, valueChars: 500 } as const;

/** What `invoice:error` carries. */
export interface RealtimeError {
  code: ErrorCode;
  message: string;
}

/** `invoice:watch` names the invoice by UID (merchants, administrators) or by id (traders). */
export type WatchTarget = { uid: string } | { id: string };

/**
 * The socket.io events, in both directions. `invoice:join`, `ip:send` and `invoce:refetch`
 * (spelled so) are the original protocol's; the rest are ours.
 */
export interface ClientToServerEvents {
  /** Opens the invoice as its payer: the first IP to join is bound to it. Untrusted input. */
  'invoice:join': (uid: unknown) => void;
  /**
   * Follows an invoice without binding it, authenticated by the token given in the
   * handshake (`auth: { token }`): a merchant its own invoices, a trader those it holds, an
   * administrator any.
   */
  'invoice:watch': (target: unknown) => void;
  /**
   * Streams the merchant's webhook events to this socket (`nltrade webhooks listen`),
   * authenticated by a merchant token in the handshake; `{events?: [...]}` filters them.
   */
  'webhooks:listen': (options: unknown) => void;
  /**
   * The consoles' live updates: authenticated by the console's session cookie (or a token in
   * the handshake), the socket is then told of every change to an invoice its owner may see.
   */
  'console:listen': () => void;
}

/**
 * A hint that an invoice the console's user may see changed; the console refetches it over
 * HTTP (where the roles are enforced). `uid` goes to merchants and administrators only: for a
 * trader the UID is the payer's secret.
 */
export interface ConsoleChange {
  readonly id: string;
  readonly uid?: string;
  readonly status: Status;
  readonly version: number;
}

export interface ServerToClientEvents {
  'ip:send': (ip: string) => void;
  'invoce:refetch': () => void;
  /** To the payer's room: the checkout view, after every change. */
  'invoice:update': (view: CheckoutView) => void;
  /** To watchers: the watch view, right after `invoice:watch` and after every change. */
  'invoice:status': (view: WatchView) => void;
  'invoice:error': (error: RealtimeError) => void;
  /** After `webhooks:listen`: the stream is on, with these event types (null = all). */
  'webhooks:listening': (info: { events: WebhookEventType[] | null }) => void;
  /** Each of the merchant's events, as a webhook would carry it (unsigned: the listener signs). */
  'webhooks:event': (event: WebhookEvent) => void;
  'webhooks:error': (error: RealtimeError) => void;
  /** After `console:listen`: the hints are on. */
  'console:listening': (info: { role: 'merchant' | 'trader' | 'admin' }) => void;
  'console:changed': (change: ConsoleChange) => void;
  'console:error': (error: RealtimeError) => void;
}

export const REALTIME_PATH = '/socket.io';

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

/** The legacy `create` answer's data: the new invoice's UID, which is its checkout link. */
export type LegacyCreated = { yourLink: string };

/** The legacy `get` answer's data: the invoice, alone in a list as the original sends it. */
export type LegacyInvoiceList = { invoice: LegacyInvoice[] };

// Type aliases, not interfaces: the routes' schema-inferred answer types are index-signed.
/** A trader's deposit (`GET /v1/trader/balance`): decimal strings of the settlement currency. */
export type TraderBalanceView = {
  currency: string;
  /** available + held */
  deposit: string;
  /** Held for the invoices the trader holds now. */
  held: string;
  /** What the trader may still take invoices for. */
  available: string;
  rewards: string;
};

/** A trader's saved card (`GET /v1/trader/cards`): never the whole number. */
export type TraderCardView = {
  id: string;
  /** First six and last four digits, as `maskCard` shows them. */
  masked: string;
  label: string | null;
  created_at: string;
};

/** A merchant's balance (`GET /v1/balance`): decimal strings of the settlement currency. */
export type MerchantBalanceView = {
  currency: string;
  available: string;
  paid_out: string;
};
