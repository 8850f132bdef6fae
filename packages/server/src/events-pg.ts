import { randomUUID } from 'node:crypto';
import type { InvoiceEvent } from '@nltrade/core';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { EventBus } from './events.ts';
import type { Database } from './storage/schema.ts';

export const EVENT_CHANNEL = 'nltrade_invoice_events';

interface Envelope {
  origin: string;
  event: InvoiceEvent;
}

/**
 * Carries domain events between server processes that share one PostgreSQL database, so a
 * payer whose socket is on process B hears about a change made on process A (or by the
 * sweeper, or an admin command run from a shell). Local events go out with NOTIFY; events
 * from other processes come back through LISTEN and are republished as `remote`, never
 * forwarded again.
 */
export class PgEventBridge {
  readonly origin = randomUUID();
  readonly #db: Kysely<Database>;
  readonly #bus: EventBus;
  readonly #url: string;
  readonly #onError: (err: unknown) => void;
  #listener: pg.Client | undefined;
  #unsubscribe: (() => void) | undefined;
  #pending = new Set<Promise<unknown>>();
  #closed = false;

  constructor(db: Kysely<Database>, bus: EventBus, databaseUrl: string, onError: (err: unknown) => void = () => {}) {
    this.#db = db;
    this.#bus = bus;
    this.#url = databaseUrl;
    this.#onError = onError;
  }

  /** Forwards this process's events (every process that changes invoices needs this). */
  forward(): void {
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#bus.subscribe((event, meta) => {
      if (meta.remote || this.#closed) return;
      const payload = JSON.stringify({ origin: this.origin, event } satisfies Envelope);
      const p = sql`select pg_notify(${EVENT_CHANNEL}, ${payload})`.execute(this.#db).catch(this.#onError);
      this.#pending.add(p);
      p.finally(() => this.#pending.delete(p));
    });
  }

  /** Receives other processes' events (only processes with sockets to tell need this). */
  async listen(): Promise<void> {
    if (this.#listener) return;
    const client = new pg.Client({ connectionString: this.#url });
    client.on('error', this.#onError);
    client.on('notification', (msg) => {
      if (msg.channel !== EVENT_CHANNEL || !msg.payload) return;
      try {
        const envelope = JSON.parse(msg.payload) as Envelope;
        if (envelope.origin === this.origin) return;
        this.#bus.publish(envelope.event, { remote: true });
      } catch (err) {
        this.#onError(err);
      }
    });
    await client.connect();
    await client.query(`LISTEN ${EVENT_CHANNEL}`);
    this.#listener = client;
  }

  /** Waits for notifications already sent, then stops. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    await Promise.allSettled([...this.#pending]);
    const client = this.#listener;
    this.#listener = undefined;
    await client?.end().catch(() => {});
  }
}
