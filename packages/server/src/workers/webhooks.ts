import { createHmac, randomBytes } from 'node:crypto';
import {
  formatWebhookSignature,
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  webhookEventId,
  webhookSignedContent,
} from '@nltrade/core';
import { type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.ts';
import type { EventBus } from '../events.ts';
import { type EventRow, type WebhookService, webhookEventOf } from '../services/webhooks.ts';
import type { Dialect } from '../storage/migrations.ts';
import type { Database } from '../storage/schema.ts';
import { type PostResult, WebhookPoster } from './webhook-http.ts';

export interface DelivererOptions {
  /** The first retry waits about this long; each next one twice as long (WEBHOOK_RETRY_BASE_MS). */
  retryBaseMs: number;
  /** A delivery is retried this long, and an endpoint failing this long is disabled (WEBHOOK_RETRY_FOR). */
  retryForMs: number;
  /** One attempt, connection to last byte (WEBHOOK_TIMEOUT). */
  timeoutMs: number;
  /** WEBHOOK_ALLOW_PRIVATE. */
  allowPrivate: boolean;
  /** How often the queue is read without being woken (other processes' events, retries falling due). */
  pollMs?: number;
  /** Endpoints this process sends to at once (each endpoint itself strictly one at a time). */
  concurrency?: number;
  /** Deliveries of one endpoint leased and recorded together (still sent one at a time, in order). */
  batchSize?: number;
  onError?: (err: unknown) => void;
}

/** A delivery this process has leased. */
interface ClaimedRow {
  id: number;
  event_id: number;
  attempts: number;
  created_at: number;
}

/** The due head of one endpoint's queue and the due deliveries right behind it, leased together, in event order. */
interface Batch {
  endpoint_id: string;
  merchant_id: string;
  lease: string;
  rows: ClaimedRow[];
}

/** At most this much longer than an attempt may take does a lease last: a live sender always finishes first. */
const LEASE_MARGIN_MS = 5000;
/** The longest single wait between two attempts, whatever the attempt count. */
const MAX_BACKOFF_MS = 24 * 60 * 60 * 1000;

/**
 * The wait before attempt `attempts + 1`: base × 2^(attempts − 1), the upper half of it fixed
 * and the lower half random ("equal jitter"), so receivers that failed together do not all
 * come back at the same instant, and no retry comes much sooner than planned.
 */
export function backoffMs(attempts: number, baseMs: number, random: () => number = Math.random): number {
  const full = Math.min(baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 40), MAX_BACKOFF_MS);
  return Math.round(full / 2 + (random() * full) / 2);
}

/** `t=…,v1=…[,v1=…]` for a body, one `v1` per secret. */
export function signatureHeader(body: string, secrets: readonly string[], timestamp: number): string {
  const content = webhookSignedContent(timestamp, body);
  return formatWebhookSignature(
    timestamp,
    secrets.map((s) => createHmac('sha256', s).update(content).digest('hex')),
  );
}

/**
 * Sends webhook deliveries from the `webhook_deliveries` queue, which `WebhookService.hook`
 * fills inside every invoice change's transaction.
 *
 * - At least once: a delivery stays pending until a 2xx answer is recorded; one in flight in
 *   a process that dies is leased only until `lease_until`, then sent again.
 * - In order per endpoint: only the head of an endpoint's queue (its oldest pending event)
 *   is ever sent; the next one waits until it is delivered or has finally failed.
 * - No doubles between processes in normal operation: a head is taken by a conditional
 *   UPDATE that sets the lease, which exactly one process wins (on PostgreSQL the candidate
 *   rows are first selected `FOR UPDATE SKIP LOCKED`, so processes do not even queue on them).
 * - Retries back off exponentially with jitter for `retryForMs`; then the delivery fails and
 *   an endpoint that has not succeeded for that long is disabled.
 */
export class WebhookDeliverer {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;
  readonly #clock: Clock;
  readonly #bus: EventBus;
  readonly #webhooks: WebhookService;
  readonly #options: Required<Omit<DelivererOptions, 'onError'>> & Pick<DelivererOptions, 'onError'>;
  readonly #poster: WebhookPoster;
  /** This process's lease owner name; each claim adds its own suffix. */
  readonly #owner = randomBytes(6).toString('hex');
  #claims = 0;
  #inFlight = new Map<string, Promise<void>>();
  /** Merchants with a batch in flight here, and how many. */
  readonly #busyMerchants = new Map<string, number>();
  #running = false;
  #stopping = false;
  #pumping: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void)[] = [];

  constructor(
    deps: { db: Kysely<Database>; dialect: Dialect; clock: Clock; bus: EventBus; webhooks: WebhookService },
    options: DelivererOptions,
  ) {
    this.#db = deps.db;
    this.#dialect = deps.dialect;
    this.#clock = deps.clock;
    this.#bus = deps.bus;
    this.#webhooks = deps.webhooks;
    this.#options = { pollMs: 1000, concurrency: 16, batchSize: 50, ...options };
    this.#poster = new WebhookPoster({ allowPrivate: options.allowPrivate, lookup: deps.webhooks.lookup });
  }

  get #leaseMs(): number {
    return this.#options.timeoutMs * 2 + LEASE_MARGIN_MS;
  }

  /** Delivers what is due now and whenever a change commits here, and reads the queue every `pollMs`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#stopping = false;
    // A change committed in this process that queued deliveries: they are in the queue now.
    // One from another process (read from the event log) may have queued some too.
    // While a batch of that merchant's is being sent, its end reads the queue anyway (and the
    // poll covers its other endpoints): a read per commit would only find the head leased.
    this.#unsubscribe.push(
      this.#bus.subscribe((event, meta) => {
        const queued = meta.remote || this.#webhooks.takeQueued(event.id);
        if (queued && !this.#busyMerchants.has(event.merchantId)) this.wake();
      }),
    );
    this.#unsubscribe.push(this.#webhooks.onQueued(() => this.wake()));
    this.#schedule();
    this.wake();
  }

  /** Stops taking new work and aborts attempts in flight: they are given back unrecorded, for another process (or the next start) to send. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stopping = true;
    for (const off of this.#unsubscribe.splice(0)) off();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#poster.abortAll();
    await this.#pumping;
    await Promise.allSettled([...this.#inFlight.values()]);
    this.#poster.close();
  }

  /** Reads the queue now (coalesced with a read already under way). */
  wake(): void {
    if (!this.#running) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump()
      .catch((err: unknown) => this.#options.onError?.(err))
      .finally(() => {
        this.#pumping = undefined;
      });
  }

  /**
   * Sends everything due now until nothing is: tests call it with the deliverer stopped.
   * Returns the number of attempts made.
   */
  async runOnce(): Promise<number> {
    let attempts = 0;
    for (;;) {
      const batches = await this.#claim(this.#options.concurrency);
      if (batches.length === 0) return attempts;
      const counts = await Promise.all(batches.map((b) => this.#deliver(b)));
      attempts += counts.reduce((a, n) => a + n, 0);
    }
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.wake();
      if (this.#running) this.#schedule();
    }, this.#options.pollMs);
    this.#timer.unref();
  }

  async #pump(): Promise<void> {
    do {
      this.#again = false;
      const room = this.#options.concurrency - this.#inFlight.size;
      if (room <= 0) return;
      const batches = await this.#claim(room);
      for (const b of batches) {
        this.#busyMerchants.set(b.merchant_id, (this.#busyMerchants.get(b.merchant_id) ?? 0) + 1);
        const p = this.#deliver(b)
          .then(
            () => {},
            (err: unknown) => this.#options.onError?.(err),
          )
          .finally(() => {
            this.#inFlight.delete(b.lease);
            const left = (this.#busyMerchants.get(b.merchant_id) ?? 1) - 1;
            if (left > 0) this.#busyMerchants.set(b.merchant_id, left);
            else this.#busyMerchants.delete(b.merchant_id);
            // The endpoint's next events may be waiting for exactly these.
            this.wake();
          });
        this.#inFlight.set(b.lease, p);
      }
      if (batches.length === room) this.#again = true;
    } while (this.#again && this.#running);
  }

  /**
   * Leases, for up to `limit` endpoints whose queue head is due, that head and the due
   * deliveries right behind it (up to `batchSize`, stopping at the first one not due). Each
   * batch costs one write to lease and one to record, however many it holds: with SQLite's
   * synchronous=FULL a write is an fsync, and one per delivery would cap an endpoint at a
   * few dozen events a second.
   */
  async #claim(limit: number): Promise<Batch[]> {
    const now = this.#clock.now();
    // Leases are about processes and real seconds, not the business clock (which tests move).
    const wallNow = Date.now();
    const leaseUntil = wallNow + this.#leaseMs;
    const postgres = this.#dialect === 'postgres';
    const claim = async (db: Kysely<Database>): Promise<Batch[]> => {
      let heads = db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
        .select(['d.id', 'd.endpoint_id', 'd.event_id', 'e.merchant_id'])
        .where('d.status', '=', 'pending')
        .where('d.next_attempt_at', '<=', now)
        .where((eb) => eb.or([eb('d.lease_until', 'is', null), eb('d.lease_until', '<', wallNow)]))
        .where('e.status', '=', 'enabled')
        .where('e.deleted_at', 'is', null)
        // Only the oldest pending event of its endpoint: per-endpoint order.
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('webhook_deliveries as o')
                .select(sql`1`.as('one'))
                .whereRef('o.endpoint_id', '=', 'd.endpoint_id')
                .where('o.status', '=', 'pending')
                .whereRef('o.event_id', '<', 'd.event_id'),
            ),
          ),
        )
        .orderBy('d.next_attempt_at', 'asc')
        .orderBy('d.id', 'asc')
        .limit(limit);
      if (postgres) heads = heads.forUpdate('d').skipLocked();
      const batches: Batch[] = [];
      for (const head of await heads.execute()) {
        let q = db
          .selectFrom('webhook_deliveries')
          .select(['id', 'event_id', 'next_attempt_at', 'lease_until'])
          .where('endpoint_id', '=', head.endpoint_id)
          .where('status', '=', 'pending')
          .where('event_id', '>=', head.event_id)
          .orderBy('event_id', 'asc')
          .limit(this.#options.batchSize);
        if (postgres) q = q.forUpdate().skipLocked();
        const ids: number[] = [];
        for (const r of await q.execute()) {
          // The batch stops where the queue stops being sendable now: order is kept.
          const leased = r.lease_until !== null && Number(r.lease_until) >= wallNow;
          if (Number(r.next_attempt_at) > now || leased) break;
          ids.push(Number(r.id));
        }
        if (ids.length === 0) continue;
        const lease = `${this.#owner}:${++this.#claims}`;
        // The same conditions again: where rows are not locked (SQLite, another process's
        // lease running out meanwhile), the UPDATE is what decides, for one process only.
        const rows = await db
          .updateTable('webhook_deliveries')
          .set({ lease_owner: lease, lease_until: leaseUntil })
          .where('id', 'in', ids)
          .where('status', '=', 'pending')
          .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', wallNow)]))
          .returning(['id', 'event_id', 'attempts', 'created_at'])
          .execute();
        const claimed = rows
          .map((r) => ({ id: Number(r.id), event_id: Number(r.event_id), attempts: Number(r.attempts), created_at: Number(r.created_at) }))
          .sort((a, b) => a.event_id - b.event_id);
        if (claimed.length > 0)
          batches.push({ endpoint_id: head.endpoint_id, merchant_id: String(head.merchant_id), lease, rows: claimed });
      }
      return batches;
    };
    return this.#db.transaction().execute(claim);
  }

  /** Sends a batch in order until one fails; records the outcome; returns the attempts made. */
  async #deliver(batch: Batch): Promise<number> {
    const endpoint = await this.#db
      .selectFrom('webhook_endpoints')
      .select(['id', 'url', 'secret_enc', 'previous_secret_enc', 'previous_secret_expires_at', 'failing_since', 'status', 'deleted_at'])
      .where('id', '=', batch.endpoint_id)
      .executeTakeFirst();
    if (endpoint?.status !== 'enabled' || endpoint.deleted_at !== null) {
      await this.#record(batch, batch.rows, { status: 'failed', statusCode: null, error: 'the endpoint was disabled or deleted' });
      return 0;
    }
    const events = new Map<number, EventRow>();
    for (const row of await this.#webhooks.eventRows(batch.rows.map((r) => r.event_id))) events.set(Number(row.id), row);
    const secrets = this.#webhooks.secretsOf(endpoint);
    const delivered = new Map<number, ClaimedRow[]>();
    let attempts = 0;
    for (const [i, c] of batch.rows.entries()) {
      if (this.#stopping) {
        // Shutting down: what was not sent yet is given back at once, not when its lease runs out.
        await this.#release(batch, batch.rows.slice(i));
        break;
      }
      const row = events.get(c.event_id);
      if (!row) {
        await this.#record(batch, [c], { status: 'failed', statusCode: null, error: 'the event is missing' });
        continue;
      }
      const body = JSON.stringify(webhookEventOf(row));
      const headers = {
        [WEBHOOK_SIGNATURE_HEADER]: signatureHeader(body, secrets, Math.floor(this.#clock.now() / 1000)),
        [WEBHOOK_EVENT_ID_HEADER]: webhookEventId(c.event_id),
      };
      let result: PostResult;
      try {
        result = await this.#poster.post(endpoint.url, body, headers, this.#options.timeoutMs);
      } catch (err) {
        result = { ok: false, statusCode: 0, detail: String((err as Error)?.message ?? err) };
      }
      if (!result.ok && this.#stopping) {
        // Cut by the shutdown, not the receiver's fault: given back untouched, sent by whoever runs next.
        for (const [code, rows] of delivered) await this.#record(batch, rows, { status: 'delivered', statusCode: code, error: null });
        await this.#release(batch, batch.rows.slice(i));
        return attempts;
      }
      attempts++;
      if (result.ok) {
        const same = delivered.get(result.statusCode) ?? [];
        same.push(c);
        delivered.set(result.statusCode, same);
        continue;
      }
      // Recorded before the failure, so the log never shows a later event delivered and an earlier one not.
      for (const [code, rows] of delivered) await this.#record(batch, rows, { status: 'delivered', statusCode: code, error: null });
      delivered.clear();
      await this.#failed(batch, c, endpoint, result);
      // What is behind it waits for it: released to be claimed again once it is delivered.
      await this.#release(batch, batch.rows.slice(i + 1));
      return attempts;
    }
    for (const [code, rows] of delivered) await this.#record(batch, rows, { status: 'delivered', statusCode: code, error: null });
    if (endpoint.failing_since !== null && attempts > 0) {
      await this.#db.updateTable('webhook_endpoints').set({ failing_since: null }).where('id', '=', endpoint.id).execute();
    }
    return attempts;
  }

  async #failed(batch: Batch, c: ClaimedRow, endpoint: { id: string; failing_since: number | null }, result: PostResult): Promise<void> {
    const now = this.#clock.now();
    const failingSince = endpoint.failing_since === null ? now : Number(endpoint.failing_since);
    if (endpoint.failing_since === null) {
      await this.#db
        .updateTable('webhook_endpoints')
        .set({ failing_since: now })
        .where('id', '=', endpoint.id)
        .where('failing_since', 'is', null)
        .execute();
    }
    const retryFor = this.#options.retryForMs;
    const attempts = c.attempts + 1;
    const next = now + backoffMs(attempts, this.#options.retryBaseMs);
    const statusCode = result.statusCode === 0 ? null : result.statusCode;
    if (now - failingSince >= retryFor) {
      // Failing for the whole retry period: nothing more goes there until the merchant acts.
      await this.#record(batch, [c], { status: 'failed', statusCode, error: result.detail });
      await this.#disable(endpoint.id);
      return;
    }
    if (next - c.created_at > retryFor) {
      await this.#record(batch, [c], { status: 'failed', statusCode, error: result.detail });
      return;
    }
    await this.#record(batch, [c], { status: 'pending', statusCode, error: result.detail, nextAttemptAt: next });
  }

  /** Records one attempt's outcome for these rows and releases their lease, where this process still holds it. */
  async #record(
    batch: Batch,
    rows: readonly ClaimedRow[],
    outcome: { status: 'pending' | 'delivered' | 'failed'; statusCode: number | null; error: string | null; nextAttemptAt?: number },
  ): Promise<void> {
    if (rows.length === 0) return;
    const now = this.#clock.now();
    await this.#db
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        status: outcome.status,
        attempts: eb('attempts', '+', 1),
        last_status_code: outcome.statusCode,
        last_error: outcome.error,
        ...(outcome.status === 'delivered' && { delivered_at: now }),
        ...(outcome.nextAttemptAt !== undefined && { next_attempt_at: outcome.nextAttemptAt }),
        lease_owner: null,
        lease_until: null,
      }))
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      // A lease that ran out (this process stalled) belongs to whoever took it next.
      .where('lease_owner', '=', batch.lease)
      .execute();
  }

  /** Gives leased rows back unsent. */
  async #release(batch: Batch, rows: readonly ClaimedRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#db
      .updateTable('webhook_deliveries')
      .set({ lease_owner: null, lease_until: null })
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .where('lease_owner', '=', batch.lease)
      .execute();
  }

  async #disable(endpointId: string): Promise<void> {
    const wallNow = Date.now();
    await this.#webhooks.changeEndpoints(async (trx) => {
      await trx.updateTable('webhook_endpoints').set({ status: 'disabled' }).where('id', '=', endpointId).execute();
      await trx
        .updateTable('webhook_deliveries')
        .set({ status: 'failed', last_error: 'the endpoint was disabled after failing for the whole retry period' })
        .where('endpoint_id', '=', endpointId)
        .where('status', '=', 'pending')
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', wallNow)]))
        .execute();
    });
  }
}
