import { AppError, type ErrorCode, type MerchantInvoice, type MerchantInvoiceList } from '@nltrade/core';
import type { FastifyInstance, FastifyReply, FastifySchemaValidationError } from 'fastify';
import { idempotencyClaimOf, installIdempotency } from '../../services/idempotency.ts';
import type { System } from '../../system.ts';
import { merchantInvoiceView } from '../../views.ts';
import { guardMerchant, merchantOf } from '../auth.ts';
import {
  type RouteOptions,
  typed,
  V1_CANCEL_BODY,
  V1_CREATE_INVOICE_BODY,
  V1_ERROR,
  V1_IDEMPOTENCY_HEADERS,
  V1_INVOICE,
  V1_INVOICE_LIST,
  V1_INVOICE_PARAMS,
  V1_LIST_INVOICES_QUERY,
} from '../schemas.ts';

/** Answers each route documents besides its success (all carry the catalog's error body). */
const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, V1_ERROR]));

/**
 * The request field a schema error is about, Stripe-style: `amount`, `metadata[order]`, or
 * the header's name. Missing and unknown fields name themselves.
 */
export function paramOf(error: FastifySchemaValidationError | undefined, dataVar: string): string | undefined {
  if (!error) return undefined;
  const parts = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params as { missingProperty?: unknown; additionalProperty?: unknown };
  if (typeof params.missingProperty === 'string') parts.push(params.missingProperty);
  else if (typeof params.additionalProperty === 'string') parts.push(params.additionalProperty);
  const [head, ...rest] = parts;
  if (head === undefined) return undefined;
  if (dataVar === 'headers') return head.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
  return head + rest.map((p) => `[${p}]`).join('');
}

/** A bound of `created_gte` / `created_lt`: unix seconds or an ISO 8601 date / date-time with a zone. */
export function parseCreatedBound(value: string | undefined, param: string): number | undefined {
  if (value === undefined) return undefined;
  let ms = Number.NaN;
  if (/^[0-9]{1,11}$/.test(value)) ms = Number(value) * 1000;
  else if (/^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/i.test(value)) ms = Date.parse(value);
  if (!Number.isFinite(ms))
    throw new AppError('VALIDATION_FAILED', `${param} must be unix seconds or an ISO 8601 date or date-time with a time zone`, { param });
  return ms;
}

interface ShapeSchema {
  type?: string | readonly string[];
  properties?: Readonly<Record<string, ShapeSchema>>;
  additionalProperties?: boolean | ShapeSchema;
}

function jsonTypeMatches(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      return typeof value === type;
  }
}

/**
 * Checks a body's JSON types and field names against its route schema before Ajv sees it.
 * The shared Ajv (app-wide settings) coerces types and drops unknown fields; for a payments
 * API, `"amount": 15.5` or a misspelt `"retrun_url"` must be refused, not reinterpreted.
 * Lengths, ranges and enums are still Ajv's.
 */
export function shapeError(schema: ShapeSchema, value: unknown, path: string[] = []): { param: string; message: string } | null {
  const param = () =>
    (path[0] ?? 'body') +
    path
      .slice(1)
      .map((p) => `[${p}]`)
      .join('');
  if (value === undefined) return null;
  const types = schema.type === undefined ? [] : typeof schema.type === 'string' ? [schema.type] : schema.type;
  if (types.length > 0 && !types.some((t) => jsonTypeMatches(value, t))) {
    const wanted = types.filter((t) => t !== 'null').join(' or ');
    return { param: param(), message: `${param()} must be ${wanted === 'integer' ? 'an integer' : `a JSON ${wanted}`}` };
  }
  if (!jsonTypeMatches(value, 'object') || (schema.properties === undefined && schema.additionalProperties === undefined)) return null;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const sub = schema.properties?.[key] ?? schema.additionalProperties;
    if (sub === false) {
      const named = path.length === 0 ? key : `${param()}[${key}]`;
      return { param: named, message: `Unknown parameter: ${named}` };
    }
    if (sub === undefined || sub === true) continue;
    const err = shapeError(sub, item, [...path, key]);
    if (err) return err;
  }
  return null;
}

/** Names the field on the service's own refusals that do not say which one they are about. */
async function withParam<T>(param: string, codes: readonly ErrorCode[], run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof AppError && codes.includes(err.code) && err.details?.param === undefined)
      throw new AppError(err.code, err.message, { ...err.details, param });
    throw err;
  }
}

async function withHistory(system: System, invoice: Parameters<typeof merchantInvoiceView>[0]): Promise<MerchantInvoice> {
  return merchantInvoiceView(invoice, system.config.publicUrl, await system.invoices.history(invoice.id));
}

/**
 * v1's request checking for the calling (encapsulated) plugin: schema errors become
 * VALIDATION_FAILED with the field in `param`, and bodies are checked for exact JSON types
 * and unknown fields first (see shapeError). Other merchant v1 plugins call it too.
 */
export function installV1Validation(app: FastifyInstance): void {
  app.setSchemaErrorFormatter((errs, dataVar) => {
    const first = errs[0];
    const param = paramOf(first, dataVar);
    const message = first ? `${param ?? dataVar} ${first.message ?? 'is not valid'}` : 'The request is not valid';
    return new AppError('VALIDATION_FAILED', message, param === undefined ? {} : { param });
  });
  app.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema?.body as ShapeSchema | undefined;
    if (!schema || request.body === undefined) return;
    const err = shapeError(schema, request.body);
    if (err) throw new AppError('VALIDATION_FAILED', err.message, { param: err.param });
  });
}

/**
 * The merchant REST API v1: Bearer merchant token (the legacy API's), JSON, catalog errors
 * with `param`, `Idempotency-Key` on every POST. Same invoices as the Remote Invoice API.
 */
export async function v1Routes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const app = typed(instance);
  guardMerchant(app, system);
  installIdempotency(app, system);
  installV1Validation(app);

  app.post(
    '/v1/invoices',
    {
      schema: {
        operationId: 'createInvoice',
        summary: 'Create an invoice',
        description:
          'Creates an invoice for the payer to pay at `checkout_url`. A sandbox merchant’s invoices are sandbox invoices. Send an `Idempotency-Key` to retry safely.',
        tags: ['Invoices'],
        headers: V1_IDEMPOTENCY_HEADERS,
        body: V1_CREATE_INVOICE_BODY,
        response: { 201: V1_INVOICE, ...errors(400, 401, 409, 422) },
      },
    },
    async (request, reply) => {
      const merchant = merchantOf(request);
      const { title, amount, payment_timeout, return_url, metadata } = request.body;
      const claim = idempotencyClaimOf(request, system);
      let body = '';
      await withParam('amount', ['INVALID_AMOUNT'], () =>
        system.invoices.create(
          merchant.id,
          { title, price: amount, paymentTimeout: payment_timeout, returnUrl: return_url, metadata, sandbox: merchant.sandbox },
          undefined,
          {
            // The answer is made, and its Idempotency-Key record written, in the invoice's own
            // transaction: no invoice without the record that replays it, whatever crashes.
            inTransaction: async (trx, invoice, created) => {
              body = String(reply.code(201).serialize(merchantInvoiceView(invoice, system.config.publicUrl, [created])));
              await claim?.finishIn(trx, 201, body);
            },
          },
        ),
      );
      claim?.committed();
      // Already serialized by the route's schema (the very bytes recorded for replays).
      return (reply as FastifyReply).code(201).type('application/json; charset=utf-8').send(body);
    },
  );

  app.get(
    '/v1/invoices',
    {
      schema: {
        operationId: 'listInvoices',
        summary: 'List invoices',
        description:
          'Your invoices, newest first, a page at a time: pass the `next_cursor` of one page as `starting_after` for the next while `has_more` is true.',
        tags: ['Invoices'],
        querystring: V1_LIST_INVOICES_QUERY,
        response: { 200: V1_INVOICE_LIST, ...errors(400, 401) },
      },
    },
    async (request): Promise<MerchantInvoiceList> => {
      const merchant = merchantOf(request);
      const { status, created_gte, created_lt, limit = 20, starting_after } = request.query;
      const createdGte = parseCreatedBound(created_gte, 'created_gte');
      const createdLt = parseCreatedBound(created_lt, 'created_lt');
      let before: string | undefined;
      if (starting_after !== undefined) {
        const cursor = await system.invoices.findByUid(starting_after);
        if (!cursor || cursor.merchantId !== merchant.id)
          throw new AppError('VALIDATION_FAILED', 'starting_after is not one of your invoices', { param: 'starting_after' });
        before = cursor.id;
      }
      // One more than asked says whether another page follows without counting.
      const rows = await system.invoices.list({ merchantId: merchant.id, status, createdGte, createdLt, before, limit: limit + 1 });
      const page = rows.slice(0, limit);
      const hasMore = rows.length > limit;
      return {
        object: 'list',
        data: page.map((i) => merchantInvoiceView(i, system.config.publicUrl)),
        has_more: hasMore,
        next_cursor: hasMore ? (page.at(-1)?.uid ?? null) : null,
      };
    },
  );

  app.get(
    '/v1/invoices/:uid',
    {
      schema: {
        operationId: 'getInvoice',
        summary: 'Retrieve an invoice',
        description: 'One of your invoices with its history. Another merchant’s invoice is answered like an unknown one (404).',
        tags: ['Invoices'],
        params: V1_INVOICE_PARAMS,
        response: { 200: V1_INVOICE, ...errors(401, 404) },
      },
    },
    async (request) => {
      const { invoice, history } = await system.invoices.getWithHistory(request.params.uid, merchantOf(request).id);
      return merchantInvoiceView(invoice, system.config.publicUrl, history);
    },
  );

  app.post(
    '/v1/invoices/:uid/cancel',
    {
      schema: {
        operationId: 'cancelInvoice',
        summary: 'Cancel an invoice',
        description:
          'Cancels an invoice the payer has not paid yet (the legacy `remove`); the record stays, with status `canceled`. Send an `Idempotency-Key` to retry safely.',
        tags: ['Invoices'],
        headers: V1_IDEMPOTENCY_HEADERS,
        params: V1_INVOICE_PARAMS,
        body: V1_CANCEL_BODY,
        response: { 200: V1_INVOICE, ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (request) => {
      const merchant = merchantOf(request);
      // The merchant's cancel is the legacy `remove` (the transition table's `cancel` is the
      // administrator's): the same rule both ways, refused once paid (ALREADY_PAID).
      const invoice = await system.invoices.act(
        request.params.uid,
        'remove',
        { type: 'merchant', id: merchant.id },
        {},
        { merchantId: merchant.id },
      );
      return withHistory(system, invoice);
    },
  );
}
