import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/**
 * Forward-only migrations, the same list for both databases. Each is written with Kysely's
 * schema builder so one definition yields each dialect's SQL; only the auto-increment key
 * differs. Never edit a migration that has shipped: add the next one. Each migration holds
 * everything it uses, so changing a helper for a new migration can never change what an
 * old one does on a new install.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
type AnyDb = Kysely<any>;

export function migrationsFor(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: AnyDb) {
        const idColumn = (t: ReturnType<AnyDb['schema']['createTable']>) =>
          dialect === 'postgres'
            ? t.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());

        await idColumn(db.schema.createTable('merchants'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();

        await idColumn(db.schema.createTable('merchant_keys'))
          .addColumn('merchant_id', 'bigint', (c) => c.notNull().references('merchants.id'))
          .addColumn('public_pem', 'text', (c) => c.notNull())
          .addColumn('private_key_enc', 'text', (c) => c.notNull())
          .addColumn('bits', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('retired_at', 'bigint')
          .execute();
        await db.schema.createIndex('merchant_keys_by_merchant').on('merchant_keys').columns(['merchant_id', 'state']).execute();

        await idColumn(db.schema.createTable('accounts'))
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();

        await idColumn(db.schema.createTable('invoices'))
          .addColumn('uid', 'text', (c) => c.notNull().unique())
          .addColumn('merchant_id', 'bigint', (c) => c.notNull().references('merchants.id'))
          .addColumn('trader_id', 'bigint', (c) => c.references('accounts.id'))
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('send_minor', 'bigint', (c) => c.notNull())
          .addColumn('recive_minor', 'bigint', (c) => c.notNull())
          .addColumn('rate', 'text', (c) => c.notNull())
          .addColumn('card', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('ip', 'text')
          .addColumn('payment_timeout', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('accepted_at', 'bigint')
          .addColumn('paid_at', 'bigint')
          .addColumn('deadline_at', 'bigint')
          .addColumn('approve_photo', 'text')
          .addColumn('trader_change_price', 'text')
          .addColumn('resolution', 'text')
          .addColumn('return_url', 'text')
          .execute();
        await db.schema.createIndex('invoices_by_merchant').on('invoices').columns(['merchant_id', 'id']).execute();
        await db.schema.createIndex('invoices_by_trader').on('invoices').columns(['trader_id', 'status']).execute();
        await db.schema.createIndex('invoices_by_status').on('invoices').columns(['status', 'id']).execute();
        await db.schema.createIndex('invoices_by_deadline').on('invoices').columns(['deadline_at']).execute();

        await idColumn(db.schema.createTable('invoice_history'))
          .addColumn('invoice_id', 'bigint', (c) => c.notNull().references('invoices.id'))
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('note', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('actor_type', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text')
          .execute();
        await db.schema
          .createIndex('invoice_history_by_invoice')
          .on('invoice_history')
          .columns(['invoice_id', 'version'])
          .unique()
          .execute();
      },
    },
    '0002_photos': {
      async up(db: AnyDb) {
        // Proof photos live on disk under DATA_DIR/photos; this maps their unguessable id to
        // the invoice so only its trader, the admins and its merchant may open them.
        await db.schema
          .createTable('photos')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('invoice_uid', 'text', (c) => c.notNull().references('invoices.uid'))
          .addColumn('mime', 'text', (c) => c.notNull())
          .addColumn('bytes', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('photos_by_invoice').on('photos').columns(['invoice_uid']).execute();
      },
    },
    '0003_event_log_and_timers': {
      async up(db: AnyDb) {
        // The history is also the durable event log that every server process reads; the
        // status a change came from makes each row a whole event.
        await db.schema.alterTable('invoice_history').addColumn('from_status', 'text').execute();
        await sql`update invoice_history set from_status = (
            select p.status from invoice_history p
            where p.invoice_id = invoice_history.invoice_id and p.version = invoice_history.version - 1)
          where version > 1`.execute(db);
        // `wait card` and `waitPhoto` had no timer before; give invoices already waiting
        // there the default one (CARD_TIMEOUT 300 s, PHOTO_TIMEOUT 1800 s) from their last change.
        await sql`update invoices set deadline_at = updated_at + 300000 where status = 'wait card' and deadline_at is null`.execute(db);
        await sql`update invoices set deadline_at = updated_at + 1800000 where status = 'waitPhoto' and deadline_at is null`.execute(db);
      },
    },
    '0004_limit_counts': {
      async up(db: AnyDb) {
        // Per-client limits shared by several server processes on PostgreSQL (rate limits,
        // lockouts, sockets per IP). A fixed window is one row with holder ''; something held
        // open has one row per process (holder), which that process keeps renewing, so the
        // rows of a process that died expire. Made on SQLite too, to keep one schema.
        await db.schema
          .createTable('limit_counts')
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('count', 'integer', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('limit_counts_pkey', ['key', 'holder'])
          .execute();
        await db.schema.createIndex('limit_counts_by_holder').on('limit_counts').columns(['holder']).execute();
      },
    },
    '0005_developer_platform': {
      async up(db: AnyDb) {
        const idColumn = (t: ReturnType<AnyDb['schema']['createTable']>) =>
          dialect === 'postgres'
            ? t.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());

        // Merchants' own key/value pairs on an invoice (the v1 API), as a JSON object.
        await db.schema.alterTable('invoices').addColumn('metadata', 'text').execute();
        // Sandbox merchants' invoices are served by a simulated trader and never reach real ones.
        await db.schema
          .alterTable('merchants')
          .addColumn('sandbox', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .alterTable('invoices')
          .addColumn('sandbox', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.createIndex('invoices_by_sandbox_status').on('invoices').columns(['sandbox', 'status', 'id']).execute();
        // The merchant's view of the invoice right after the change, written with the history
        // row (the event): webhooks send the invoice as it was at that event, not as it is later.
        await db.schema.alterTable('invoice_history').addColumn('payload', 'text').execute();

        // Stripe-style idempotency: the first answer to a key is kept and replayed.
        await db.schema
          .createTable('idempotency_keys')
          .addColumn('merchant_id', 'bigint', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('request_hash', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('response_status', 'integer')
          .addColumn('response_body', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('idempotency_keys_pkey', ['merchant_id', 'key'])
          .execute();
        await db.schema.createIndex('idempotency_keys_by_expiry').on('idempotency_keys').columns(['expires_at']).execute();

        await db.schema
          .createTable('webhook_endpoints')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('merchant_id', 'bigint', (c) => c.notNull().references('merchants.id'))
          .addColumn('url', 'text', (c) => c.notNull())
          /** JSON array of event types, or null for all. */
          .addColumn('events', 'text')
          /** AES-256-GCM under the master key, like merchants' private keys. */
          .addColumn('secret_enc', 'text', (c) => c.notNull())
          .addColumn('previous_secret_enc', 'text')
          .addColumn('previous_secret_expires_at', 'bigint')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('failing_since', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('deleted_at', 'bigint')
          .execute();
        await db.schema.createIndex('webhook_endpoints_by_merchant').on('webhook_endpoints').columns(['merchant_id', 'status']).execute();

        // One row per (endpoint, event), written in the same transaction as the change.
        await idColumn(db.schema.createTable('webhook_deliveries'))
          .addColumn('endpoint_id', 'text', (c) => c.notNull().references('webhook_endpoints.id'))
          .addColumn('event_id', 'bigint', (c) => c.notNull().references('invoice_history.id'))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
          .addColumn('last_status_code', 'integer')
          .addColumn('last_error', 'text')
          .addColumn('delivered_at', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('webhook_deliveries_by_endpoint_event')
          .on('webhook_deliveries')
          .columns(['endpoint_id', 'event_id'])
          .unique()
          .execute();
        await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
      },
    },
    '0006_ledger': {
      async up(db: AnyDb) {
        const idColumn = (t: ReturnType<AnyDb['schema']['createTable']>) =>
          dialect === 'postgres'
            ? t.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());

        // Double-entry ledger. `balance` is the running sum of the account's lines, kept in
        // the same transaction as each line; the lines are the truth it is checked against.
        await idColumn(db.schema.createTable('ledger_accounts'))
          .addColumn('code', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('owner_id', 'text')
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('balance', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('ledger_accounts_by_code').on('ledger_accounts').columns(['code', 'currency']).unique().execute();

        // Immutable: entries and lines are only ever inserted.
        await idColumn(db.schema.createTable('ledger_entries'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('invoice_id', 'bigint', (c) => c.references('invoices.id'))
          .addColumn('event_id', 'bigint', (c) => c.references('invoice_history.id'))
          .addColumn('memo', 'text')
          .addColumn('actor_type', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('ledger_entries_by_invoice').on('ledger_entries').columns(['invoice_id']).execute();
        await db.schema.createIndex('ledger_entries_by_at').on('ledger_entries').columns(['at', 'id']).execute();

        await idColumn(db.schema.createTable('ledger_lines'))
          .addColumn('entry_id', 'bigint', (c) => c.notNull().references('ledger_entries.id'))
          .addColumn('account_id', 'bigint', (c) => c.notNull().references('ledger_accounts.id'))
          .addColumn('amount', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('ledger_lines_by_entry').on('ledger_lines').columns(['entry_id']).execute();
        await db.schema.createIndex('ledger_lines_by_account').on('ledger_lines').columns(['account_id', 'entry_id']).execute();

        // Rates and fees as settings with history: the newest row of (kind, owner) applies;
        // owner '' is the platform-wide value, otherwise a merchant's or a trader's id.
        await idColumn(db.schema.createTable('ledger_settings'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('owner_id', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('actor_type', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('ledger_settings_current').on('ledger_settings').columns(['kind', 'owner_id', 'id']).execute();
      },
    },
    '0007_webhook_delivery_lease': {
      async up(db: AnyDb) {
        // A delivery being sent is leased to one process until `lease_until`: several servers
        // deliver without sending the same event twice, and a process that died mid-delivery
        // leaves a lease that simply runs out.
        await db.schema.alterTable('webhook_deliveries').addColumn('lease_owner', 'text').execute();
        await db.schema.alterTable('webhook_deliveries').addColumn('lease_until', 'bigint').execute();
        // The head of each endpoint's queue: its oldest pending event.
        await db.schema
          .createIndex('webhook_deliveries_queue')
          .on('webhook_deliveries')
          .columns(['status', 'endpoint_id', 'event_id'])
          .execute();
      },
    },
    '0008_console': {
      async up(db: AnyDb) {
        const idColumn = (t: ReturnType<AnyDb['schema']['createTable']>) =>
          dialect === 'postgres'
            ? t.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());

        // People who sign in to the web console with a name and a password. Traders and
        // administrators act as their account, merchant users as their merchant; `name_key`
        // (the name case-folded) makes "Anna" and "anna" one login.
        await idColumn(db.schema.createTable('console_users'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('name_key', 'text', (c) => c.notNull().unique())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('account_id', 'bigint', (c) => c.references('accounts.id'))
          .addColumn('merchant_id', 'bigint', (c) => c.references('merchants.id'))
          .addColumn('disabled_at', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('password_changed_at', 'bigint', (c) => c.notNull())
          .execute();

        // Only the SHA-256 of a session's cookie is kept: a copy of the database signs nobody in.
        await idColumn(db.schema.createTable('console_sessions'))
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('user_id', 'bigint', (c) => c.notNull().references('console_users.id'))
          .addColumn('ip', 'text', (c) => c.notNull())
          .addColumn('user_agent', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema.createIndex('console_sessions_by_user').on('console_sessions').columns(['user_id', 'id']).execute();
        await db.schema.createIndex('console_sessions_by_expiry').on('console_sessions').columns(['expires_at']).execute();

        // Failed sign-ins per (name, client address), in the database so every process sees
        // them: a name is slowed and then locked only for the address that keeps failing.
        await db.schema
          .createTable('console_login_failures')
          .addColumn('name_key', 'text', (c) => c.notNull())
          .addColumn('ip_key', 'text', (c) => c.notNull())
          .addColumn('failures', 'integer', (c) => c.notNull())
          .addColumn('last_failure_at', 'bigint', (c) => c.notNull())
          .addColumn('blocked_until', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('console_login_failures_pkey', ['name_key', 'ip_key'])
          .execute();
        await db.schema.createIndex('console_login_failures_by_time').on('console_login_failures').columns(['last_failure_at']).execute();
      },
    },
    '0009_trader_cards': {
      async up(db: AnyDb) {
        const idColumn = (t: ReturnType<AnyDb['schema']['createTable']>) =>
          dialect === 'postgres'
            ? t.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
        // A trader's saved cards. The number is encrypted under the master key (a copy of the
        // database does not hold card numbers); lists show only `masked`.
        await idColumn(db.schema.createTable('trader_cards'))
          .addColumn('trader_id', 'bigint', (c) => c.notNull().references('accounts.id'))
          .addColumn('card_enc', 'text', (c) => c.notNull())
          .addColumn('masked', 'text', (c) => c.notNull())
          .addColumn('label', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('deleted_at', 'bigint')
          .execute();
        await db.schema.createIndex('trader_cards_by_trader').on('trader_cards').columns(['trader_id', 'id']).execute();
      },
    },
    '0010_runtime_settings': {
      async up(db: AnyDb) {
        const idColumn = (t: ReturnType<AnyDb['schema']['createTable']>) =>
          dialect === 'postgres'
            ? t.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
        // Settings an administrator may change while the system runs (the timeouts), with
        // their history: the newest row of a key applies; without one, the configuration's.
        await idColumn(db.schema.createTable('runtime_settings'))
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('actor_type', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('runtime_settings_by_key').on('runtime_settings').columns(['key', 'id']).execute();
      },
    },
    '0011_disabled_merchants_and_accounts': {
      async up(db: AnyDb) {
        // A disabled merchant's token and console users are refused everywhere; its invoices
        // already with payers and traders run to their end (timers hand a disabled trader's
        // invoices back to the queue or to an administrator).
        await db.schema.alterTable('merchants').addColumn('disabled_at', 'bigint').execute();
        // The same for a trader's or administrator's account: its API token is refused while
        // its console login is disabled.
        await db.schema.alterTable('accounts').addColumn('disabled_at', 'bigint').execute();
        // A live merchant's own sandbox (switched on from its console): the sandbox merchant
        // names the merchant it belongs to.
        await db.schema.alterTable('merchants').addColumn('sandbox_for', 'bigint').execute();
        await db.schema.createIndex('merchants_one_sandbox_each').on('merchants').column('sandbox_for').unique().execute();
      },
    },
  };
}

export class StaticMigrationProvider implements MigrationProvider {
  private readonly migrations: Record<string, Migration>;
  constructor(migrations: Record<string, Migration>) {
    this.migrations = migrations;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    return this.migrations;
  }
}
