import { type Action, type ActorType, type InvoiceEvent, isStatus } from '@nltrade/core';
import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import pg from 'pg';
import type { EventBus } from './events.ts';
import { CACHE_CHANNEL, type Freshness } from './storage/freshness.ts';
import type { Dialect } from './storage/migrations.ts';
import type { Database, InvoiceHistoryTable, InvoicesTable } from './storage/schema.ts';

/** PostgreSQL channel that only wakes readers; the events themselves are read from the log. */
export const EVENT_CHANNEL = 'nltrade_events';

const MAX_TRACKED_GAP = 10_000;

/**
 * Reads woken by notifications start at most this often. Every committed change notifies
 * (this process's own too); under load, reading after each one would cost a query per change
 * for rows mostly made here, while a change from elsewhere waits at most this long.
 */
const MIN_WAKE_GAP_MS = 20;

export interface EventLogOptions {
  /** How often the log is read when nothing wakes the reader (ms). */
  pollMs?: number;
  /**
   * How long a missing id is waited for. Ids are taken when a row is inserted, not when its
   * transaction commits, so on PostgreSQL a later id can be visible before an earlier one
   * commits; a rolled-back transaction leaves its id missing for ever.
   */
  gapTimeoutMs?: number;
  /** Rows read per query; a reader that falls behind reads again at once. */
  batchSize?: number;
  onError?: (err: unknown) => void;
  /** Told, on PostgreSQL, what other processes announce on CACHE_CHANNEL and whether it can hear them. */
  freshness?: Freshness;
}

/** A history row with the invoice's UID and merchant: one whole event. */
type LogRow = Selectable<InvoiceHistoryTable> & Pick<Selectable<InvoicesTable>, 'uid' | 'merchant_id'>;

function toEvent(row: LogRow): InvoiceEvent | null {
  if (!isStatus(row.status)) return null;
  return {
    id: String(row.id),
    type: row.action === 'create' ? 'invoice.created' : 'invoice.changed',
    invoiceId: String(row.invoice_id),
    uid: row.uid,
    merchantId: String(row.merchant_id),
    action: row.action as Action | 'create',
    actor: { type: row.actor_type as ActorType, id: row.actor_id },
    from: row.from_status !== null && isStatus(row.from_status) ? row.from_status : null,
    to: row.status,
    version: row.version,
    at: Number(row.at),
    note: row.note,
  };
}

/**
 * The durable event log is the invoices' history table: every change writes its history row
 * in the same transaction as the change, so the log holds exactly the committed changes,
 * whoever made them (this server, another server, the CLI, a sweeper elsewhere).
 *
 * The process that made a change publishes its event at once (and `claim`s its id so it is
 * not published twice); every server process also reads the log for rows it did not make
 * and publishes them as remote events. On PostgreSQL each change's history insert makes a
 * NOTIFY, delivered at its commit, that wakes the readers (`wake`); polling covers a lost
 * notification and SQLite, which has none.
 */
export class EventLog {
  readonly #db: Kysely<Database>;
  readonly #bus: EventBus;
  readonly #dialect: Dialect;
  readonly #databaseUrl: string | undefined;
  readonly #pollMs: number;
  readonly #gapTimeoutMs: number;
  readonly #batchSize: number;
  readonly #onError: (err: unknown) => void;
  readonly #freshness: Freshness | undefined;

  /** Every id at or below this has been published or given up on. */
  #lowWater = 0;
  /** Ids above `lowWater` already published (by this process or by the reader). */
  readonly #done = new Set<number>();
  /** Ids above `lowWater` not seen yet although a higher one was: first noticed at. */
  readonly #gaps = new Map<number, number>();
  #highest = 0;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | null = null;
  #again = false;

  #listener: pg.Client | undefined;
  #lastReadAt = 0;
  #wakeTimer: NodeJS.Timeout | undefined;
  #listenRetryMs = 250;
  #listenTimer: NodeJS.Timeout | undefined;

  constructor(db: Kysely<Database>, bus: EventBus, dialect: Dialect, databaseUrl: string | undefined, options: EventLogOptions = {}) {
    this.#db = db;
    this.#bus = bus;
    this.#dialect = dialect;
    this.#databaseUrl = databaseUrl;
    this.#pollMs = options.pollMs ?? (dialect === 'postgres' ? 1000 : 500);
    this.#gapTimeoutMs = options.gapTimeoutMs ?? 30_000;
    this.#batchSize = options.batchSize ?? 500;
    this.#onError = options.onError ?? (() => {});
    this.#freshness = options.freshness;
  }

  /**
   * Called inside the transaction that wrote row `id`, before it commits: the reader then
   * never publishes it as remote, however the reader's query and the commit interleave.
   */
  claim(id: number): void {
    // A process that does not read the log (the CLI) has nothing to deduplicate.
    if (this.#running && id > this.#lowWater) this.#done.add(id);
  }

  /** The id up to which the log has been read (for the reader-lag metric); undefined when not reading. */
  get readPosition(): number | undefined {
    return this.#running ? this.#lowWater : undefined;
  }

  /**
   * What an insert into the log returns besides its row, on PostgreSQL: a NOTIFY that wakes
   * the readers in other processes. Made by the insert itself, it is queued in the change's
   * transaction, delivered when that commits and dropped if it rolls back, and costs no round
   * trip of its own. Undefined on SQLite, whose readers poll.
   */
  wake(): RawBuilder<boolean> | undefined {
    return this.#dialect === 'postgres' ? sql<boolean>`pg_notify(${EVENT_CHANNEL}, '') is null` : undefined;
  }

  /** Starts reading the log from its current end (earlier events have been delivered or are moot). */
  async start(): Promise<void> {
    if (this.#running) return;
    const row = await this.#db
      .selectFrom('invoice_history')
      .select((eb) => eb.fn.max('id').as('max'))
      .executeTakeFirst();
    const max = Number(row?.max ?? 0);
    this.#lowWater = Math.max(this.#lowWater, max);
    this.#highest = Math.max(this.#highest, max);
    for (const id of this.#done) if (id <= this.#lowWater) this.#done.delete(id);
    this.#running = true;
    if (this.#dialect === 'postgres' && this.#databaseUrl) await this.#listen();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#listenTimer);
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    await this.#reading?.catch(() => {});
    const client = this.#listener;
    this.#listener = undefined;
    this.#freshness?.hearing(false);
    await client?.end().catch(() => {});
  }

  /** Reads the log now (a test, or a NOTIFY); concurrent calls share one read and ask for one more. */
  readNow(): Promise<void> {
    if (this.#reading) {
      this.#again = true;
      return this.#reading;
    }
    this.#reading = this.#read()
      .catch((err: unknown) => this.#onError(err))
      .finally(() => {
        this.#reading = null;
        if (this.#again && this.#running) {
          this.#again = false;
          void this.readNow();
        }
      });
    return this.#reading;
  }

  #schedule(): void {
    if (!this.#running) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.readNow().finally(() => this.#schedule());
    }, this.#pollMs);
    this.#timer.unref();
  }

  /** A notification: read now, or once the last read is MIN_WAKE_GAP_MS old. */
  #woken(): void {
    if (this.#wakeTimer || !this.#running) return;
    const wait = this.#lastReadAt + MIN_WAKE_GAP_MS - Date.now();
    if (wait <= 0) {
      void this.readNow();
      return;
    }
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      void this.readNow();
    }, wait);
    this.#wakeTimer.unref();
  }

  async #read(): Promise<void> {
    this.#lastReadAt = Date.now();
    for (;;) {
      const rows = (await this.#db
        .selectFrom('invoice_history as h')
        .innerJoin('invoices as i', 'i.id', 'h.invoice_id')
        .select([
          'h.id',
          'h.invoice_id',
          'i.uid',
          'i.merchant_id',
          'h.version',
          'h.at',
          'h.status',
          'h.from_status',
          'h.note',
          'h.action',
          'h.actor_type',
          'h.actor_id',
        ])
        .where('h.id', '>', this.#lowWater)
        .orderBy('h.id', 'asc')
        .limit(this.#batchSize)
        .execute()) as LogRow[];
      const now = Date.now();
      for (const row of rows) {
        const id = Number(row.id);
        this.#gaps.delete(id);
        // A jump this large is not a transaction in flight (a restored backup, a sequence
        // moved by hand): there is nothing to wait for.
        if (id - this.#highest <= MAX_TRACKED_GAP) {
          for (let missing = this.#highest + 1; missing < id; missing++) {
            if (!this.#done.has(missing)) this.#gaps.set(missing, now);
          }
        } else {
          this.#lowWater = Math.max(this.#lowWater, id - 1);
        }
        this.#highest = Math.max(this.#highest, id);
        if (this.#done.has(id)) continue;
        this.#done.add(id);
        const event = toEvent({ ...row, id });
        if (event) this.#bus.publish(event, { remote: true });
      }
      this.#advance(now);
      if (rows.length < this.#batchSize || !this.#running) return;
    }
  }

  /** Moves the low-water mark over everything handled, and over gaps that waited too long. */
  #advance(now: number): void {
    for (;;) {
      const next = this.#lowWater + 1;
      if (next > this.#highest) break;
      if (this.#done.delete(next)) {
        this.#lowWater = next;
        continue;
      }
      const since = this.#gaps.get(next);
      if (since !== undefined && now - since >= this.#gapTimeoutMs) {
        this.#gaps.delete(next);
        this.#lowWater = next;
        continue;
      }
      if (since === undefined) this.#gaps.set(next, now);
      break;
    }
  }

  /** LISTEN on a connection of its own, reconnecting with backoff when it drops (a database restart). */
  async #listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#databaseUrl });
    const lost = (err?: unknown) => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      this.#freshness?.hearing(false);
      if (err) this.#onError(err);
      client.end().catch(() => {});
      if (!this.#running) return;
      const delay = this.#listenRetryMs;
      this.#listenRetryMs = Math.min(this.#listenRetryMs * 2, 10_000);
      this.#listenTimer = setTimeout(() => {
        // Whatever happened while deaf is in the log: read it, then listen again.
        void this.readNow();
        this.#listen().catch(() => {});
      }, delay);
      this.#listenTimer.unref();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel === EVENT_CHANNEL) this.#woken();
      else if (msg.channel === CACHE_CHANNEL) this.#freshness?.changed(msg.payload);
    });
    this.#listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENT_CHANNEL}`);
      await client.query(`LISTEN ${CACHE_CHANNEL}`);
      this.#listenRetryMs = 250;
      if (this.#listener === client) this.#freshness?.hearing(true);
    } catch (err) {
      // Not fatal: polling carries on, and `lost` keeps trying to listen again.
      lost(err);
    }
  }
}
