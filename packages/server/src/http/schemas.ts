import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import { LIMITS, METADATA_LIMITS, STATUSES } from '@nltrade/core';
import type { FastifyInstance } from 'fastify';
import type { System } from '../system.ts';

/**
 * The JSON schemas the v1 routes validate with, in one place. With the type provider each
 * route's request types are inferred from these, so a schema and its handler cannot drift.
 *
 * Formats are not checked here where the service checks them: a malformed UID must get the
 * same answer as an unknown one ("Invoice not found"), and a schema pattern would answer with
 * a regular expression instead.
 */

export interface RouteOptions {
  system: System;
}

/** The instance with route types inferred from their JSON schemas. */
export function typed(app: FastifyInstance) {
  return app.withTypeProvider<JsonSchemaToTsProvider>();
}

export const UID_PARAMS = {
  type: 'object',
  required: ['uid'],
  properties: { uid: { type: 'string' } },
  additionalProperties: false,
} as const;

/** An invoice's number, or its UID (administrators; traders for the invoices they hold). */
export const REF_PARAMS = {
  type: 'object',
  required: ['ref'],
  properties: { ref: { type: 'string' } },
  additionalProperties: false,
} as const;

export const PHOTO_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 64 } },
  additionalProperties: false,
} as const;

export const LIST_QUERY = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: [...STATUSES] },
    limit: { type: 'integer', minimum: 1, maximum: 200 },
    before: { type: 'string', pattern: '^[0-9]{1,18}$' },
  },
  additionalProperties: false,
} as const;

const ID = { type: 'string', pattern: '^[0-9]{1,18}$' } as const;
/** Unix seconds or an ISO 8601 date / date-time with a zone (parsed by `parseCreatedBound`). */
const CREATED_BOUND = { type: 'string', maxLength: 40 } as const;

/** An administrator's search: the staff list's filters plus who and when. */
export const ADMIN_LIST_QUERY = {
  type: 'object',
  properties: {
    ...LIST_QUERY.properties,
    merchant_id: ID,
    trader_id: ID,
    created_gte: CREATED_BOUND,
    created_lt: CREATED_BOUND,
  },
  additionalProperties: false,
} as const;

const REASON = { type: 'string', maxLength: LIMITS.reasonChars } as const;

/** Bodies of actions that take none are usually posted empty, as `{}` or as `null`. */
export const EMPTY_BODY = { type: ['object', 'null'], properties: {}, additionalProperties: false } as const;

/** The card for the payer: typed (`card`) or one of the trader's saved cards (`card_id`). */
export const CARD_BODY = {
  type: 'object',
  properties: { card: { type: 'string', minLength: 1, maxLength: 40 }, card_id: { type: 'string', pattern: '^[0-9]{1,18}$' } },
  additionalProperties: false,
} as const;

export const SAVE_CARD_BODY = {
  type: 'object',
  required: ['card'],
  properties: { card: { type: 'string', minLength: 1, maxLength: 40 }, label: { type: 'string', maxLength: LIMITS.cardLabelChars } },
  additionalProperties: false,
} as const;

export const DISPUTE_BODY = {
  type: ['object', 'null'],
  properties: { reason: REASON },
  additionalProperties: false,
} as const;

export const AMOUNT_BODY = {
  type: 'object',
  required: ['amount'],
  properties: { amount: { type: 'string', minLength: 1, maxLength: 20 }, reason: REASON },
  additionalProperties: false,
} as const;

export const DECIDE_BODY = {
  type: 'object',
  required: ['decision', 'reason'],
  properties: {
    decision: { type: 'string', enum: ['success', 'canceled'] },
    reason: { ...REASON, minLength: 1 },
  },
  additionalProperties: false,
} as const;

export const CANCEL_BODY = {
  type: ['object', 'null'],
  properties: { reason: REASON },
  additionalProperties: false,
} as const;

// ---- Merchant API v1 (/v1/invoices). The `description`s feed the OpenAPI document. ----

const NULLABLE_TIME = { type: ['string', 'null'], format: 'date-time' } as const;

export const V1_INVOICE_PARAMS = {
  type: 'object',
  required: ['uid'],
  properties: { uid: { type: 'string', maxLength: 64, description: 'The invoice’s UID (`uid`), as returned when it was created.' } },
  additionalProperties: false,
} as const;

export const V1_CREATE_INVOICE_BODY = {
  type: 'object',
  required: ['title', 'amount'],
  properties: {
    title: {
      type: 'string',
      minLength: 1,
      maxLength: LIMITS.titleChars,
      description: 'What the payer is paying for, shown on the checkout page.',
    },
    amount: {
      type: 'string',
      minLength: 1,
      maxLength: 20,
      description: 'What the payer sends, in UAH, as a decimal string with at most two decimals ("1500.00"). Never a JSON number.',
      examples: ['1500.00'],
    },
    payment_timeout: {
      type: 'integer',
      minimum: 30,
      maximum: 86_400,
      description: 'Seconds the payer has to pay once the card is shown; the server’s PAYMENT_TIMEOUT when left out.',
    },
    return_url: {
      type: 'string',
      maxLength: LIMITS.returnUrlChars,
      description: 'An http(s) URL the checkout page offers the payer once the invoice has ended.',
    },
    metadata: {
      type: 'object',
      maxProperties: METADATA_LIMITS.keys,
      additionalProperties: { type: 'string', maxLength: METADATA_LIMITS.valueChars },
      description: `Your own key/value pairs (at most ${METADATA_LIMITS.keys} keys of up to ${METADATA_LIMITS.keyChars} characters, values up to ${METADATA_LIMITS.valueChars}), returned with the invoice and in webhooks.`,
    },
  },
  additionalProperties: false,
} as const;

export const V1_CANCEL_BODY = {
  type: ['object', 'null'],
  properties: {},
  additionalProperties: false,
  description: 'No parameters; an empty body, `{}` or `null`.',
} as const;

export const V1_LIST_INVOICES_QUERY = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: [...STATUSES], description: 'Only invoices in this status.' },
    created_gte: {
      type: 'string',
      maxLength: 40,
      description:
        'Only invoices created at or after this time: unix seconds ("1767225600") or an ISO 8601 date or date-time ("2026-01-01", "2026-01-01T00:00:00Z").',
    },
    created_lt: {
      type: 'string',
      maxLength: 40,
      description: 'Only invoices created before this time: unix seconds or an ISO 8601 date or date-time.',
    },
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20, description: 'Page size, 1 to 100 (default 20).' },
    starting_after: {
      type: 'string',
      maxLength: 64,
      description: 'A cursor: the `next_cursor` of the previous page (the UID of its last invoice). Pages go from newest to oldest.',
    },
  },
  additionalProperties: false,
} as const;

const V1_HISTORY_LINE = {
  type: 'object',
  required: ['at', 'status', 'action', 'actor_type', 'note'],
  properties: {
    at: { type: 'string', format: 'date-time' },
    status: { type: 'string', enum: [...STATUSES], description: 'The status after this change.' },
    action: { type: 'string', description: 'What happened: `create`, `accept`, `setCard`, `paid`, `cancel`, …' },
    actor_type: { type: 'string', description: 'Who did it: `merchant`, `trader`, `admin`, `payer`, `system`.' },
    note: { type: 'string' },
  },
  additionalProperties: false,
} as const;

/** core's `MerchantInvoice`, field for field (a response schema also drops unlisted fields). */
export const V1_INVOICE = {
  type: 'object',
  description: 'An invoice as its merchant sees it. The same invoices as the Remote Invoice API’s, both ways.',
  required: [
    'object',
    'uid',
    'id',
    'title',
    'status',
    'amount',
    'previous_amount',
    'currency',
    'receive_amount',
    'rate',
    'checkout_url',
    'return_url',
    'payment_timeout',
    'deadline_at',
    'created_at',
    'updated_at',
    'accepted_at',
    'paid_at',
    'payer_bound',
    'approve_photo',
    'resolution',
    'metadata',
    'sandbox',
    'version',
  ],
  properties: {
    object: { type: 'string', enum: ['invoice'] },
    uid: { type: 'string', description: 'The invoice’s UID: the payer’s secret link and how you name the invoice.' },
    id: { type: 'string', description: 'The invoice’s number (what traders call it).' },
    title: { type: 'string' },
    status: { type: 'string', enum: [...STATUSES], description: 'The Remote Invoice API’s status string.' },
    amount: { type: 'string', description: 'What the payer sends, UAH, two decimals ("1500.00").' },
    previous_amount: { type: ['string', 'null'], description: 'The amount before the trader changed it.' },
    currency: { type: 'string', enum: ['UAH'] },
    receive_amount: { type: 'string', description: 'What you receive in the settlement currency, at `rate`.' },
    rate: { type: 'string', description: 'UAH per unit of the settlement currency.' },
    checkout_url: { type: 'string', description: 'The payer’s page: absolute when the server has PUBLIC_URL, else a path.' },
    return_url: { type: ['string', 'null'] },
    payment_timeout: { type: 'integer', description: 'Seconds the payer has to pay once the card is shown.' },
    deadline_at: { ...NULLABLE_TIME, description: 'When the current status’s timer runs out.' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    accepted_at: NULLABLE_TIME,
    paid_at: NULLABLE_TIME,
    payer_bound: { type: 'boolean', description: 'Whether a payer has opened the invoice.' },
    approve_photo: { type: ['string', 'null'], description: 'The payer’s receipt photo, when one was sent.' },
    resolution: { type: ['string', 'null'], description: 'The administrator’s or trader’s reason, when there is one.' },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    sandbox: { type: 'boolean', description: 'Made by a sandbox merchant: a simulated trader, no real money.' },
    version: { type: 'integer', description: 'Grows by one with every change (the `sequence` of webhook events).' },
    history: { type: 'array', items: V1_HISTORY_LINE, description: 'Every change, oldest first (on create, retrieve and cancel).' },
  },
  additionalProperties: false,
} as const;

export const V1_INVOICE_LIST = {
  type: 'object',
  required: ['object', 'data', 'has_more', 'next_cursor'],
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: { type: 'array', items: V1_INVOICE, description: 'Newest first; without `history`.' },
    has_more: { type: 'boolean', description: 'Whether another page follows.' },
    next_cursor: { type: ['string', 'null'], description: 'Pass as `starting_after` for the next page; null on the last page.' },
  },
  additionalProperties: false,
} as const;

/** The catalog's error body, on every v1 surface. */
export const V1_ERROR = {
  type: 'object',
  description: 'An error from the catalog. The `Request-Id` response header names the request in the server’s logs.',
  required: ['status', 'code', 'message'],
  properties: {
    status: { type: 'boolean', enum: [false] },
    code: { type: 'string', description: 'The catalog code, e.g. `VALIDATION_FAILED`, `INVOICE_NOT_FOUND`, `IDEMPOTENCY_KEY_REUSED`.' },
    message: { type: 'string' },
    param: { type: 'string', description: 'The request field (or header) the error is about, when there is one.' },
  },
  additionalProperties: false,
} as const;

export const V1_IDEMPOTENCY_HEADERS = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description:
        'Makes the POST safe to retry: the first answer to a key is kept 24 h (IDEMPOTENCY_TTL) and replayed with `Idempotent-Replayed: true`; the same key with other parameters → 422 `IDEMPOTENCY_KEY_REUSED`; while the first request runs → 409 `IDEMPOTENCY_KEY_IN_USE`.',
    },
  },
} as const;
