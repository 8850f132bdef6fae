import type { Generated, Selectable } from 'kysely';

/** Epoch milliseconds. PostgreSQL BIGINTs are parsed to numbers when read (see db.ts). */
type Millis = number;

export interface MerchantsTable {
  id: Generated<number>;
  name: string;
  token_hash: string;
  created_at: Millis;
  sandbox: Generated<number>;
  disabled_at: Millis | null;
  /** A sandbox merchant made by a live merchant for itself: that merchant's id. */
  sandbox_for: number | null;
}

export interface MerchantKeysTable {
  id: Generated<number>;
  merchant_id: number;
  public_pem: string;
  /** AES-256-GCM under the master key: base64(iv | tag | ciphertext) of the PKCS#8 PEM. */
  private_key_enc: string;
  bits: number;
  state: 'current' | 'retired';
  created_at: Millis;
  retired_at: Millis | null;
}

export interface AccountsTable {
  id: Generated<number>;
  role: 'trader' | 'admin';
  name: string;
  token_hash: string;
  created_at: Millis;
  disabled_at: Millis | null;
}

export interface InvoicesTable {
  id: Generated<number>;
  uid: string;
  merchant_id: number;
  trader_id: number | null;
  title: string;
  send_minor: number;
  recive_minor: number;
  rate: string;
  card: string | null;
  status: string;
  version: number;
  ip: string | null;
  payment_timeout: number;
  created_at: Millis;
  updated_at: Millis;
  accepted_at: Millis | null;
  paid_at: Millis | null;
  deadline_at: Millis | null;
  approve_photo: string | null;
  trader_change_price: string | null;
  resolution: string | null;
  return_url: string | null;
  /** JSON object of the merchant's string pairs (v1 `metadata`). */
  metadata: string | null;
  sandbox: Generated<number>;
}

export interface InvoiceHistoryTable {
  id: Generated<number>;
  invoice_id: number;
  version: number;
  at: Millis;
  status: string;
  /** The status before this change; null for the creation. */
  from_status: string | null;
  note: string;
  action: string;
  actor_type: string;
  actor_id: string | null;
  /** The merchant's view of the invoice right after this change (JSON), for webhooks. */
  payload: string | null;
}

export interface PhotosTable {
  /** Random, unguessable; the file is DATA_DIR/photos/<id>.<ext>. */
  id: string;
  invoice_uid: string;
  mime: string;
  bytes: number;
  created_at: Millis;
}

/** Per-client limits shared by server processes (see limits/postgres.ts). */
export interface LimitCountsTable {
  /** What is counted and for whom, such as `auth:198.51.100.7` or `sockets:2001:db8:0:1::/64`. */
  key: string;
  /** '' for a fixed window; for something held open, the process holding this share. */
  holder: string;
  count: number;
  /** A window's end (the server clock), or when a process's share lapses unless renewed (the database clock). */
  expires_at: Millis;
}

export interface Database {
  merchants: MerchantsTable;
  merchant_keys: MerchantKeysTable;
  accounts: AccountsTable;
  invoices: InvoicesTable;
  invoice_history: InvoiceHistoryTable;
  photos: PhotosTable;
  limit_counts: LimitCountsTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  ledger_accounts: LedgerAccountsTable;
  ledger_entries: LedgerEntriesTable;
  ledger_lines: LedgerLinesTable;
  ledger_settings: LedgerSettingsTable;
  console_users: ConsoleUsersTable;
  trader_cards: TraderCardsTable;
  runtime_settings: RuntimeSettingsTable;
  console_sessions: ConsoleSessionsTable;
  console_login_failures: ConsoleLoginFailuresTable;
}

/** A web console login (migration 0008). */
export interface RuntimeSettingsTable {
  id: Generated<number>;
  key: string;
  value: string;
  actor_type: string;
  actor_id: string | null;
  at: Millis;
}

export interface TraderCardsTable {
  id: Generated<number>;
  trader_id: number;
  /** AES-256-GCM under the master key, as merchants' private keys are. */
  card_enc: string;
  masked: string;
  label: string | null;
  created_at: Millis;
  deleted_at: Millis | null;
}

export interface ConsoleUsersTable {
  id: Generated<number>;
  name: string;
  /** The name case-folded (NFKC, lower case): unique, what sign-in looks up. */
  name_key: string;
  /** Self-describing: `scrypt$ln=15,r=8,p=3$<salt>$<hash>` (see services/passwords.ts). */
  password_hash: string;
  role: 'trader' | 'admin' | 'merchant';
  /** The account a trader or administrator acts as. */
  account_id: number | null;
  /** The merchant a merchant user acts for. */
  merchant_id: number | null;
  disabled_at: Millis | null;
  created_at: Millis;
  password_changed_at: Millis;
}

export interface ConsoleSessionsTable {
  id: Generated<number>;
  /** SHA-256 (hex) of the cookie's token; the token itself is never stored. */
  token_hash: string;
  /** Sent back in X-CSRF-Token on every state-changing request made with the cookie. */
  csrf_token: string;
  user_id: number;
  ip: string;
  user_agent: string | null;
  created_at: Millis;
  /** Touched at most once a minute; the session ends 12 h after it (idle). */
  last_seen_at: Millis;
  /** The absolute end (7 days after sign-in). */
  expires_at: Millis;
  revoked_at: Millis | null;
}

/** Failed sign-ins of one name from one client (an IPv4 address or an IPv6 /64). */
export interface ConsoleLoginFailuresTable {
  name_key: string;
  ip_key: string;
  /** Attempts counted since the last success, each counted before its password is checked. */
  failures: number;
  last_failure_at: Millis;
  /** No attempt of this name from this client before then. */
  blocked_until: Millis;
}

/** One account of the double-entry ledger, in one currency. */
export interface LedgerAccountsTable {
  id: Generated<number>;
  /** `merchant:5`, `trader_deposit:3`, `platform`, `world` (see core's accountCode). */
  code: string;
  kind: string;
  owner_id: string | null;
  currency: string;
  /** Running sum of the account's lines (minor units), updated with each line. */
  balance: Generated<number>;
  created_at: Millis;
}

/** A journal entry: immutable, its lines sum to zero. */
export interface LedgerEntriesTable {
  id: Generated<number>;
  kind: string;
  currency: string;
  invoice_id: number | null;
  /** The invoice_history row (the status change) this entry commits with. */
  event_id: number | null;
  memo: string | null;
  actor_type: string;
  actor_id: string | null;
  at: Millis;
}

export interface LedgerLinesTable {
  id: Generated<number>;
  entry_id: number;
  account_id: number;
  /** Signed minor units. */
  amount: number;
}

/** Rate and fee settings with their history; the newest row of (kind, owner_id) applies. */
export interface LedgerSettingsTable {
  id: Generated<number>;
  kind: 'rate' | 'merchant_fee' | 'trader_reward';
  /** '' = platform-wide; otherwise the merchant's or trader's id. */
  owner_id: string;
  value: string;
  actor_type: string;
  actor_id: string | null;
  at: Millis;
}

export interface IdempotencyKeysTable {
  merchant_id: number;
  key: string;
  /** SHA-256 of the method, path and body: the same key with other parameters is refused. */
  request_hash: string;
  state: 'running' | 'done';
  response_status: number | null;
  response_body: string | null;
  created_at: Millis;
  expires_at: Millis;
}

export interface WebhookEndpointsTable {
  /** `we_…`, random. */
  id: string;
  merchant_id: number;
  url: string;
  /** JSON array of event types; null = every type. */
  events: string | null;
  secret_enc: string;
  previous_secret_enc: string | null;
  previous_secret_expires_at: Millis | null;
  status: 'enabled' | 'disabled';
  failing_since: Millis | null;
  created_at: Millis;
  deleted_at: Millis | null;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  endpoint_id: string;
  /** The invoice_history row: the event. */
  event_id: number;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: Millis;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Millis | null;
  created_at: Millis;
  /** Which process is sending it now (migration 0007), until `lease_until`. */
  lease_owner: string | null;
  lease_until: Millis | null;
}

export type InvoiceRow = Selectable<InvoicesTable>;
export type HistoryRow = Selectable<InvoiceHistoryTable>;
