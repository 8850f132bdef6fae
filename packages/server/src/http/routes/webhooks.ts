import { LIMITS, WEBHOOK_EVENT_TYPES } from '@nltrade/core';
import type { FastifyInstance } from 'fastify';
import { installIdempotency } from '../../services/idempotency.ts';
import { guardMerchant, merchantOf } from '../auth.ts';
import { type RouteOptions, typed, V1_ERROR, V1_IDEMPOTENCY_HEADERS } from '../schemas.ts';

const TAGS = ['Webhooks'];

const EVENT_TYPE = {
  type: 'string',
  enum: [...WEBHOOK_EVENT_TYPES],
  description:
    '`invoice.created`; `invoice.status_changed` (with `from`, `to` and the actor type); `invoice.amount_changed` (the trader changed the amount).',
} as const;

const NULLABLE_TIME = { type: ['string', 'null'], format: 'date-time' } as const;

/** core's `WebhookEndpointView`. */
export const V1_WEBHOOK_ENDPOINT = {
  type: 'object',
  description: 'A URL the merchant’s invoice events are POSTed to, signed with the endpoint’s secret.',
  required: ['object', 'id', 'url', 'events', 'status', 'created_at', 'failing_since', 'previous_secret_expires_at'],
  properties: {
    object: { type: 'string', enum: ['webhook_endpoint'] },
    id: { type: 'string', description: 'The endpoint’s id, `we_…`.' },
    url: { type: 'string', description: 'Where events are POSTed: https, resolving to public addresses only.' },
    events: { type: ['array', 'null'], items: EVENT_TYPE, description: 'The event types sent there; null = every type.' },
    status: {
      type: 'string',
      enum: ['enabled', 'disabled'],
      description: '`disabled` after deliveries there failed for the whole retry period (3 days).',
    },
    created_at: { type: 'string', format: 'date-time' },
    failing_since: { ...NULLABLE_TIME, description: 'Since when deliveries have been failing without a success; null when healthy.' },
    previous_secret_expires_at: {
      ...NULLABLE_TIME,
      description: 'After a rotation: until when the previous secret still signs (as a second `v1=`); null otherwise.',
    },
    secret: {
      type: 'string',
      description: 'The signing secret, `whsec_…`: only in the answer that created or rotated it. Store it; it is not shown again.',
    },
  },
  additionalProperties: false,
} as const;

export const V1_WEBHOOK_ENDPOINT_LIST = {
  type: 'object',
  required: ['object', 'data'],
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: { type: 'array', items: V1_WEBHOOK_ENDPOINT, description: 'The merchant’s endpoints, oldest first, without secrets.' },
  },
  additionalProperties: false,
} as const;

/** core's `WebhookDeliveryView`. */
export const V1_WEBHOOK_DELIVERY = {
  type: 'object',
  description: 'One event’s delivery to one endpoint: how it went and when it is tried next.',
  required: [
    'object',
    'id',
    'event_id',
    'event_type',
    'invoice_id',
    'sequence',
    'status',
    'attempts',
    'next_attempt_at',
    'last_status_code',
    'last_error',
    'delivered_at',
    'created_at',
  ],
  properties: {
    object: { type: 'string', enum: ['webhook_delivery'] },
    id: { type: 'string' },
    event_id: { type: 'string', description: 'The event, `evt_…` (the same id in every retry and redelivery).' },
    event_type: EVENT_TYPE,
    invoice_id: { type: 'string', description: 'The invoice’s number.' },
    sequence: { type: 'integer', description: 'The invoice’s version at this event.' },
    status: {
      type: 'string',
      enum: ['pending', 'delivered', 'failed'],
      description: '`failed` only once retries are over (or the endpoint was deleted or disabled).',
    },
    attempts: { type: 'integer' },
    next_attempt_at: { ...NULLABLE_TIME, description: 'When the next attempt is due (pending only).' },
    last_status_code: { type: ['integer', 'null'], description: 'The HTTP status of the last answer; null when none came.' },
    last_error: { type: ['string', 'null'], description: 'Why the last attempt failed: connection refused, a timeout, `HTTP 500: …`.' },
    delivered_at: NULLABLE_TIME,
    created_at: { type: 'string', format: 'date-time', description: 'When the delivery was queued (or queued again by a redelivery).' },
  },
  additionalProperties: false,
} as const;

export const V1_WEBHOOK_DELIVERY_LIST = {
  type: 'object',
  required: ['object', 'data'],
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: { type: 'array', items: V1_WEBHOOK_DELIVERY, description: 'Newest first.' },
  },
  additionalProperties: false,
} as const;

export const V1_CREATE_WEBHOOK_ENDPOINT_BODY = {
  type: 'object',
  required: ['url'],
  properties: {
    url: {
      type: 'string',
      minLength: 1,
      maxLength: LIMITS.webhookUrlChars,
      description:
        'An https URL whose host resolves to public addresses only (checked now and again at every delivery, on the connected socket).',
    },
    events: {
      type: 'array',
      minItems: 1,
      maxItems: WEBHOOK_EVENT_TYPES.length,
      items: EVENT_TYPE,
      description: 'The event types to send there; every type when left out.',
    },
  },
  additionalProperties: false,
} as const;

const ENDPOINT_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 64, description: 'The endpoint’s id, `we_…`.' } },
  additionalProperties: false,
} as const;

const EVENT_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 64, description: 'The event’s id, `evt_…`.' } },
  additionalProperties: false,
} as const;

const DELIVERIES_QUERY = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 200, default: 50, description: 'How many deliveries to list.' },
    before: { type: 'string', pattern: '^[0-9]{1,16}$', description: 'A delivery `id`: list older ones (the next page).' },
  },
  additionalProperties: false,
} as const;

const EMPTY_OR_NULL_BODY = { type: ['object', 'null'], properties: {}, additionalProperties: false } as const;

const REDELIVERY = {
  type: 'object',
  required: ['object', 'event', 'endpoints'],
  properties: {
    object: { type: 'string', enum: ['redelivery'] },
    event: { type: 'string', description: 'The event, `evt_…`.' },
    endpoints: { type: 'array', items: { type: 'string' }, description: 'The endpoints it is queued for again.' },
  },
  additionalProperties: false,
} as const;

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, V1_ERROR]));

/**
 * The merchant's webhook endpoints and their delivery log (`Authorization: Bearer <merchant
 * token>`). Handlers stay thin: WebhookService checks and stores, the deliverer sends.
 */
export async function webhookRoutes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const app = typed(instance);
  guardMerchant(app, system);
  installIdempotency(app, system);

  app.post(
    '/v1/webhook-endpoints',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a webhook endpoint',
        description:
          'Registers a URL for the merchant’s invoice events. The answer carries the signing `secret` — the only time it is shown.',
        headers: V1_IDEMPOTENCY_HEADERS,
        body: V1_CREATE_WEBHOOK_ENDPOINT_BODY,
        response: { 201: V1_WEBHOOK_ENDPOINT, ...errors(400, 401, 409, 422) },
      },
    },
    async (request, reply) => {
      const endpoint = await system.webhooks.create(merchantOf(request).id, request.body);
      return reply.code(201).send(endpoint);
    },
  );

  app.get(
    '/v1/webhook-endpoints',
    {
      schema: {
        tags: TAGS,
        summary: 'List webhook endpoints',
        response: { 200: V1_WEBHOOK_ENDPOINT_LIST, ...errors(401) },
      },
    },
    async (request) => ({ object: 'list' as const, data: await system.webhooks.list(merchantOf(request).id) }),
  );

  app.delete(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a webhook endpoint',
        description: 'Nothing more is sent there; its pending deliveries are marked failed.',
        params: ENDPOINT_PARAMS,
        response: {
          200: {
            type: 'object',
            required: ['object', 'id', 'deleted'],
            properties: { object: { type: 'string', enum: ['webhook_endpoint'] }, id: { type: 'string' }, deleted: { type: 'boolean' } },
            additionalProperties: false,
          },
          ...errors(401, 404),
        },
      },
    },
    async (request) => {
      await system.webhooks.delete(merchantOf(request).id, request.params.id);
      return { object: 'webhook_endpoint' as const, id: request.params.id, deleted: true };
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id/deliveries',
    {
      schema: {
        tags: TAGS,
        summary: 'An endpoint’s delivery log',
        description: 'Each event sent (or being sent) there: attempts, the last answer’s status, the next try.',
        params: ENDPOINT_PARAMS,
        querystring: DELIVERIES_QUERY,
        response: { 200: V1_WEBHOOK_DELIVERY_LIST, ...errors(400, 401, 404) },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      const data = await system.webhooks.deliveries(merchantOf(request).id, request.params.id, {
        ...(limit !== undefined && { limit }),
        ...(before !== undefined && { before }),
      });
      return { object: 'list' as const, data };
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/rotate-secret',
    {
      schema: {
        tags: TAGS,
        summary: 'Rotate an endpoint’s signing secret',
        description:
          'Makes a new secret and returns it (once). For 24 hours deliveries carry two `v1=` signatures, one with each secret, so the receiver can switch over.',
        headers: V1_IDEMPOTENCY_HEADERS,
        params: ENDPOINT_PARAMS,
        body: EMPTY_OR_NULL_BODY,
        response: { 200: V1_WEBHOOK_ENDPOINT, ...errors(401, 404, 409, 422) },
      },
    },
    async (request) => system.webhooks.rotateSecret(merchantOf(request).id, request.params.id),
  );

  app.post(
    '/v1/webhook-endpoints/:id/enable',
    {
      schema: {
        tags: TAGS,
        summary: 'Enable a disabled webhook endpoint',
        description:
          'An endpoint that failed for the whole retry period is disabled. Once its receiver is fixed, this turns it back on: new events go there again. Deliveries that failed meanwhile stay failed; send them again with redeliver.',
        headers: V1_IDEMPOTENCY_HEADERS,
        params: ENDPOINT_PARAMS,
        body: EMPTY_OR_NULL_BODY,
        response: { 200: V1_WEBHOOK_ENDPOINT, ...errors(401, 404, 409, 422) },
      },
    },
    async (request) => system.webhooks.enable(merchantOf(request).id, request.params.id),
  );

  app.post(
    '/v1/events/:id/redeliver',
    {
      schema: {
        tags: TAGS,
        summary: 'Send an event again',
        description:
          'Queues the event (the invoice as it was then, same id and signature scheme) again for every enabled endpoint that wants its type.',
        headers: V1_IDEMPOTENCY_HEADERS,
        params: EVENT_PARAMS,
        body: EMPTY_OR_NULL_BODY,
        response: { 200: REDELIVERY, ...errors(401, 404, 409, 422) },
      },
    },
    async (request) => {
      const { event, endpoints } = await system.webhooks.redeliver(merchantOf(request).id, request.params.id);
      return { object: 'redelivery' as const, event: event.id, endpoints };
    },
  );
}
