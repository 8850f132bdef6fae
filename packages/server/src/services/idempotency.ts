/**
 * Stripe-style idempotency for the merchant v1 API's POST routes.
 *
 * A merchant may send `Idempotency-Key: <1..255 printable ASCII chars>` with any POST. The
 * first request with a key claims it (an INSERT on the `idempotency_keys` primary key
 * `(merchant_id, key)`, so of two concurrent requests exactly one runs, on SQLite and on
 * PostgreSQL alike); its answer (status and body) is kept for IDEMPOTENCY_TTL seconds and
 * replayed for the same key with `Idempotent-Replayed: true`. The same key with another
 * request (method, path or body differ) → 422 IDEMPOTENCY_KEY_REUSED; while the first is
 * still running → 409 IDEMPOTENCY_KEY_IN_USE. Like Stripe, a request refused by schema
 * validation never claims its key (nothing ran), a 4xx answer is kept, and a 5xx answer
 * (or a handler that threw unexpectedly, which becomes a 500) releases the key so the retry
 * runs afresh. A key whose owner died mid-request is reclaimable after RUNNING_LEASE_MS.
 *
 * Opting a plugin's POST routes in is one line, after the merchant guard:
 *
 * ```ts
 * export async function webhookRoutes(instance: FastifyInstance, { system }: RouteOptions) {
 *   const app = typed(instance);
 *   guardMerchant(app, system);
 *   installIdempotency(app, system);   // every POST of this plugin honours Idempotency-Key
 *   app.post('/v1/webhook-endpoints', …);
 * }
 * ```
 *
 * The hooks are encapsulated in the plugin that calls it, so other plugins are untouched.
 * To document the header in the OpenAPI document, add `headers: V1_IDEMPOTENCY_HEADERS`
 * (http/schemas.ts) to each POST route's schema; its length limits are then also checked by
 * the schema (answered, like the hook's own check, as 400 with `param: "Idempotency-Key"`
 * when the plugin also calls `installV1Validation(app)` from http/routes/v1.ts).
 */
import { createHash } from 'node:crypto';
import { AppError } from '@nltrade/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Insertable, type Kysely, sql, type Transaction } from 'kysely';
import { merchantOf } from '../http/auth.ts';
import { CompiledQueries, param, paramsOf } from '../storage/compiled.ts';
import type { Dialect } from '../storage/migrations.ts';
import type { Database, IdempotencyKeysTable } from '../storage/schema.ts';
import type { System } from '../system.ts';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

/**
 * How long a claimed key whose request has not answered stays claimed. Far longer than any
 * request may take (HTTP_REQUEST_TIMEOUT is 30 s); only a process that died mid-request
 * leaves such a row behind, and its key must not stay blocked for the whole TTL.
 */
export const RUNNING_LEASE_MS = 120_000;

/** Expired rows are swept at most this often per process, in the background. */
const SWEEP_INTERVAL_MS = 60_000;

// Printable ASCII, as Stripe accepts; anything else in a header is a client bug to surface.
const KEY_RE = /^[\x20-\x7e]{1,255}$/;

/** The JSON value with object keys sorted, so `{a,b}` and `{b,a}` are the same request. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = canonical((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** SHA-256 of method, path (with query) and the canonical JSON body. */
export function requestHash(method: string, url: string, body: unknown): string {
  const h = createHash('sha256');
  h.update(`${method.toUpperCase()} ${url}\n`);
  h.update(body === undefined || body === null ? '' : JSON.stringify(canonical(body)));
  return h.digest('hex');
}

/** The request's Idempotency-Key, undefined when absent; VALIDATION_FAILED when malformed. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const raw = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !KEY_RE.test(raw))
    throw new AppError('VALIDATION_FAILED', 'Idempotency-Key must be 1 to 255 printable ASCII characters, sent once', {
      param: 'Idempotency-Key',
    });
  return raw;
}

export type Claim =
  | { kind: 'claimed'; claimedAt: number }
  | { kind: 'replay'; status: number; body: string }
  | { kind: 'in_use' }
  | { kind: 'reused' };

interface ClaimInput {
  /**
   * When this request's claim was made: which claim of the key it is. A claim that outlived
   * its running lease may be taken over by a retry (same key, same hash); its finish and
   * release must then match nothing.
   */
  claimedAt?: number;
  merchantId: string;
  key: string;
  hash: string;
}

/** The storage side: claiming, finishing and releasing keys. */
export class IdempotencyStore {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #queries = new CompiledQueries();
  #lastSweep = 0;

  constructor(db: Kysely<Database>, dialect: Dialect, now: () => number, ttlSeconds: number) {
    this.#db = db;
    this.#dialect = dialect;
    this.#now = now;
    this.#ttlMs = ttlSeconds * 1000;
  }

  /**
   * Claims the key for this request, or says what to answer instead. The INSERT is the
   * lock: the primary key lets one of any number of concurrent claims through.
   */
  async claim({ merchantId, key, hash }: ClaimInput): Promise<Claim> {
    const merchant = Number(merchantId);
    // Two rounds: an expired row is deleted (compare-and-delete on its expiry) and the
    // INSERT tried again; a racing claimer that wins that second INSERT is simply "in use".
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.#now();
      const claim: Insertable<IdempotencyKeysTable> = {
        merchant_id: merchant,
        key,
        request_hash: hash,
        state: 'running',
        response_status: null,
        response_body: null,
        created_at: now,
        expires_at: now + RUNNING_LEASE_MS,
      };
      const { rows: claimed } = await this.#lazily((db) =>
        this.#queries.run<{ key: string }>(
          db,
          'claim',
          () =>
            db
              .insertInto('idempotency_keys')
              .values(paramsOf(claim))
              .onConflict((oc) => oc.columns(['merchant_id', 'key']).doNothing())
              .returning('key')
              // PostgreSQL: the claim's own commit does not wait for the disk (see #lazily);
              // set here, in the statement, it costs no round trip.
              .$if(this.#dialect === 'postgres', (q) =>
                q.returning(sql<string>`set_config('synchronous_commit', 'off', true)`.as('relaxed')),
              )
              .compile(),
          claim,
        ),
      );
      const inserted = claimed[0];
      if (inserted) {
        this.#maybeSweep(now);
        return { kind: 'claimed', claimedAt: now };
      }
      const row = await this.#db
        .selectFrom('idempotency_keys')
        .select(['request_hash', 'state', 'response_status', 'response_body', 'expires_at'])
        .where('merchant_id', '=', merchant)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!row) continue; // released or swept between the INSERT and the SELECT
      if (Number(row.expires_at) <= now) {
        await this.#db
          .deleteFrom('idempotency_keys')
          .where('merchant_id', '=', merchant)
          .where('key', '=', key)
          .where('expires_at', '=', row.expires_at)
          .execute();
        continue;
      }
      if (row.request_hash !== hash) return { kind: 'reused' };
      if (row.state === 'running' || row.response_status === null || row.response_body === null) return { kind: 'in_use' };
      return { kind: 'replay', status: Number(row.response_status), body: row.response_body };
    }
    return { kind: 'in_use' };
  }

  /**
   * Keeps the answer for the TTL. Only the running row this request claimed is updated.
   * `db` may be the transaction of the change the answer reports, so both commit together.
   */
  async finish(
    { merchantId, key, hash, claimedAt }: ClaimInput,
    status: number,
    body: string,
    db: Kysely<Database> = this.#db,
  ): Promise<boolean> {
    const now = this.#now();
    const result = await this.#queries.run(
      db,
      claimedAt === undefined ? 'finish' : 'finish-claimed',
      () =>
        db
          .updateTable('idempotency_keys')
          .set({
            state: 'done',
            response_status: param<number>('status'),
            response_body: param<string>('body'),
            expires_at: param<number>('expires'),
          })
          .where('merchant_id', '=', param<number>('merchant'))
          .where('key', '=', param<string>('key'))
          .where('request_hash', '=', param<string>('hash'))
          .where('state', '=', 'running')
          .$if(claimedAt !== undefined, (q) => q.where('created_at', '=', param<number>('claimedAt')))
          .compile(),
      { status, body, expires: now + this.#ttlMs, merchant: Number(merchantId), key, hash, claimedAt },
    );
    return Number(result.numAffectedRows ?? 0) > 0;
  }

  /** Lets the key be used again (the request failed in a way a retry may fix). */
  async release({ merchantId, key, hash, claimedAt }: ClaimInput): Promise<void> {
    await this.#lazily((db) =>
      db
        .deleteFrom('idempotency_keys')
        .where('merchant_id', '=', Number(merchantId))
        .where('key', '=', key)
        .where('request_hash', '=', hash)
        .where('state', '=', 'running')
        .$if(claimedAt !== undefined, (q) => q.where('created_at', '=', claimedAt as number))
        .execute(),
    );
  }

  /**
   * Runs a write whose loss in a power cut is harmless without waiting for the disk: a claim
   * or a release only matters while its request runs, and a request does not survive a
   * power cut. Other processes see it as soon as it commits either way, so the claim still
   * excludes concurrent requests. The stored answer (`finish`) is written durably: losing
   * it would let a retry after a crash run the request a second time. On SQLite this takes
   * a claim from about 1.7 ms to 0.5 ms. On PostgreSQL the claim sets `synchronous_commit`
   * off for its own transaction from inside its statement (a `SET LOCAL` would cost as much in
   * round trips as it saves); WAL is written in order, so the durable commit of the answer
   * that follows makes the claim durable too.
   */
  async #lazily<T>(write: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.#dialect === 'postgres') return write(this.#db);
    // One connection, held for the three statements, so no other write runs relaxed. In WAL
    // mode the next durable commit flushes this one to disk too.
    return this.#db.connection().execute(async (conn) => {
      await sql`PRAGMA synchronous = NORMAL`.execute(conn);
      try {
        return await write(conn);
      } finally {
        await sql`PRAGMA synchronous = FULL`.execute(conn);
      }
    });
  }

  /** Deletes expired rows now; returns how many. */
  async sweep(now = this.#now()): Promise<number> {
    const result = await this.#db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  #maybeSweep(now: number): void {
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    // Housekeeping only: a failure here must not fail the request that triggered it.
    this.sweep(now).catch(() => {});
  }
}

const stores = new WeakMap<System, IdempotencyStore>();

/** One store per system, so the sweep timer is shared by every plugin that opts in. */
export function idempotencyStore(system: System): IdempotencyStore {
  let store = stores.get(system);
  if (!store) {
    store = new IdempotencyStore(system.storage.db, system.storage.dialect, () => system.clock.now(), system.config.idempotencyTtlSeconds);
    stores.set(system, store);
  }
  return store;
}

const claims = new WeakMap<FastifyRequest, ClaimInput>();

/** A claimed key, for a handler that records its answer in its own transaction. */
export interface RequestClaim {
  /** Writes the answer with `trx`, so the change and the record that replays it commit together. */
  finishIn(trx: Transaction<Database>, status: number, body: string): Promise<void>;
  /** Call once that transaction has committed: nothing is left to record when the answer goes out. */
  committed(): void;
}

/**
 * The key this request claimed, if any. A handler whose work is one transaction (creating an
 * invoice) records the answer inside it: recorded afterwards, a crash between the two would
 * leave a created invoice whose key, once its running lease ran out, lets a retry create a
 * second one. It also saves a durable write per request.
 */
export function idempotencyClaimOf(request: FastifyRequest, system: System): RequestClaim | undefined {
  const input = claims.get(request);
  if (!input) return undefined;
  const store = idempotencyStore(system);
  return {
    finishIn: async (trx, status, body) => {
      // The claim is no longer this request's (it ran past its running lease and another
      // request took the key over): committing now could do the work twice, so nothing commits.
      if (!(await store.finish(input, status, body, trx)))
        throw new AppError('IDEMPOTENCY_KEY_IN_USE', undefined, { param: 'Idempotency-Key' });
    },
    committed: () => {
      claims.delete(request);
    },
  };
}

/**
 * Makes every POST route of the calling (encapsulated) plugin honour `Idempotency-Key`.
 * Call it after `guardMerchant(app, system)`: keys are per merchant.
 */
export function installIdempotency(app: FastifyInstance, system: System): void {
  const store = idempotencyStore(system);

  // preHandler runs after schema validation: a request refused there never claims its key.
  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'POST') return;
    const key = idempotencyKeyOf(request);
    if (key === undefined) return;
    const input: ClaimInput = { merchantId: merchantOf(request).id, key, hash: requestHash(request.method, request.url, request.body) };
    const claim = await store.claim(input);
    switch (claim.kind) {
      case 'claimed':
        claims.set(request, { ...input, claimedAt: claim.claimedAt });
        return;
      case 'reused':
        throw new AppError('IDEMPOTENCY_KEY_REUSED', undefined, { param: 'Idempotency-Key' });
      case 'in_use':
        throw new AppError('IDEMPOTENCY_KEY_IN_USE', undefined, { param: 'Idempotency-Key' });
      case 'replay':
        return reply.code(claim.status).header(IDEMPOTENT_REPLAYED_HEADER, 'true').type('application/json; charset=utf-8').send(claim.body);
    }
  });

  // onSend, not onResponse: the answer is stored before the client can see it, so a retry
  // sent the moment the first answer arrives is replayed rather than told "in use".
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const input = claims.get(request);
    if (!input) return payload;
    claims.delete(request);
    const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
    try {
      if (reply.statusCode >= 500 || body === undefined) await store.release(input);
      else await store.finish(input, reply.statusCode, body);
    } catch (err) {
      // The answer itself succeeded; the key is left to its running lease.
      request.log.error({ err }, 'idempotency key not recorded');
    }
    return payload;
  });
}
