import { type Action, type ActionInput, AppError, isInvoiceId, isUid, STATUSES, type Status } from '@nltrade/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Invoice } from '../../services/invoices.ts';
import { staffInvoiceView } from '../../views.ts';
import { accountOf, guardRole } from '../auth.ts';
import type { RouteOptions } from './checkout.ts';

export const LIST_QUERY = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: [...STATUSES] },
    limit: { type: 'integer', minimum: 1, maximum: 200 },
    before: { type: 'string', pattern: '^[0-9]{1,18}$' },
  },
  additionalProperties: false,
} as const;

export type ListRequest = FastifyRequest<{ Querystring: { status?: Status; limit?: number; before?: string } }>;

const REASON = { type: 'string', maxLength: 500 } as const;

/** Optional bodies: an action such as accept is usually posted without any. */
const optionalBody = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: ['object', 'null'], properties, required, additionalProperties: false }) as const;

interface TraderAction {
  path: string;
  action: Action;
  body?: ReturnType<typeof optionalBody>;
  input: (body: Record<string, unknown>) => ActionInput;
}

const ACTIONS: readonly TraderAction[] = [
  { path: 'accept', action: 'accept', input: () => ({}) },
  {
    path: 'card',
    action: 'setCard',
    body: optionalBody({ card: { type: 'string', minLength: 1, maxLength: 40 } }, ['card']),
    input: (b) => ({ card: b.card }),
  },
  { path: 'confirm', action: 'confirm', input: () => ({}) },
  { path: 'dispute', action: 'dispute', body: optionalBody({ reason: REASON }), input: (b) => ({ reason: b.reason }) },
  {
    path: 'amount',
    action: 'changeAmount',
    body: optionalBody({ amount: { type: 'string', minLength: 1, maxLength: 20 } }, ['amount']),
    input: (b) => ({ amount: b.amount }),
  },
];

/** An invoice's number or (for the invoices the trader holds) its UID. */
export const REF_PARAMS = {
  type: 'object',
  required: ['ref'],
  properties: { ref: { type: 'string', maxLength: 64 } },
} as const;

type RefRequest<B = unknown> = FastifyRequest<{ Params: { ref: string }; Body: B }>;

/**
 * The invoice number a trader's request names. A UID works only for an invoice the trader
 * already holds: the UID of an open invoice is the payer's secret, and a UID the trader
 * should not know is answered like a missing one.
 */
async function traderKey(system: RouteOptions['system'], ref: string, traderId: string): Promise<string> {
  if (isInvoiceId(ref)) return ref;
  const invoice = isUid(ref) ? await system.invoices.findByUid(ref) : undefined;
  if (!invoice || invoice.traderId !== traderId) throw new AppError('INVOICE_NOT_FOUND');
  return invoice.id;
}

/** Traders: list the invoices they may take or already hold, and work their own, by number. */
export async function traderRoutes(app: FastifyInstance, { system }: RouteOptions): Promise<void> {
  guardRole(app, system, 'trader');
  app.get('/v1/trader/invoices', { schema: { querystring: LIST_QUERY } }, async (request: ListRequest) => {
    const trader = accountOf(request);
    const { status, limit, before } = request.query;
    const invoices = await system.invoices.list({ openOrTrader: trader.id, status, limit, before });
    return { invoices: invoices.map((i) => staffInvoiceView(i, { role: 'trader', id: trader.id })) };
  });

  app.get('/v1/trader/invoices/:ref', { schema: { params: REF_PARAMS } }, async (request: RefRequest) => {
    const trader = accountOf(request);
    const invoice = await system.invoices.get(await traderKey(system, request.params.ref, trader.id), { numbers: true });
    if (!visibleTo(invoice, trader.id)) throw new AppError('NOT_YOUR_INVOICE');
    return staffInvoiceView(invoice, { role: 'trader', id: trader.id });
  });

  for (const a of ACTIONS) {
    app.post(
      `/v1/trader/invoices/:ref/${a.path}`,
      { schema: a.body ? { params: REF_PARAMS, body: a.body } : { params: REF_PARAMS } },
      async (request: RefRequest<Record<string, unknown> | null | undefined>) => {
        const trader = accountOf(request);
        const body = request.body && typeof request.body === 'object' ? request.body : {};
        const key = await traderKey(system, request.params.ref, trader.id);
        const invoice = await system.invoices.act(key, a.action, { type: 'trader', id: trader.id }, a.input(body), { numbers: true });
        return staffInvoiceView(invoice, { role: 'trader', id: trader.id });
      },
    );
  }
}

/** Open invoices are visible to every trader; taken ones only to the trader who took them. */
function visibleTo(invoice: Invoice, traderId: string): boolean {
  return invoice.traderId === traderId || (invoice.traderId === null && invoice.status === 'not approve exchange');
}
