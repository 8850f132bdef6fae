import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import { LIMITS, STATUSES } from '@nltrade/core';
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
  properties: { uid: { type: 'string', maxLength: 64 } },
  additionalProperties: false,
} as const;

/** An invoice's number, or its UID (administrators; traders for the invoices they hold). */
export const REF_PARAMS = {
  type: 'object',
  required: ['ref'],
  properties: { ref: { type: 'string', maxLength: 64 } },
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

const REASON = { type: 'string', maxLength: LIMITS.reasonChars } as const;

/** Bodies of actions that take none are usually posted empty, as `{}` or as `null`. */
export const EMPTY_BODY = { type: ['object', 'null'], properties: {}, additionalProperties: false } as const;

export const CARD_BODY = {
  type: 'object',
  required: ['card'],
  properties: { card: { type: 'string', minLength: 1, maxLength: 40 } },
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
  properties: { amount: { type: 'string', minLength: 1, maxLength: 20 } },
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
