import { type Action, type ActionInput, AppError, isInvoiceId, isUid, OPEN_STATUS, type StaffInvoiceList } from '@nltrade/core';
import type { FastifyInstance } from 'fastify';
import type { Invoice } from '../../services/invoices.ts';
import type { System } from '../../system.ts';
import { staffInvoiceView } from '../../views.ts';
import { accountOf, guardRole } from '../auth.ts';
import {
  AMOUNT_BODY,
  CARD_BODY,
  DISPUTE_BODY,
  EMPTY_BODY,
  LIST_QUERY,
  REF_PARAMS,
  type RouteOptions,
  SAVE_CARD_BODY,
  typed,
} from '../schemas.ts';

const CARD_ID_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 20 } },
  additionalProperties: false,
} as const;

/**
 * The invoice number a trader's request names. A UID works only for an invoice the trader
 * already holds: the UID of an open invoice is the payer's secret, and a UID the trader
 * should not know is answered like a missing one. So is a sandbox invoice: those are the
 * simulated trader's alone, and a real trader must not see, take or act on one.
 */
async function traderKey(system: System, ref: string, traderId: string): Promise<string> {
  const byNumber = isInvoiceId(ref);
  const invoice = byNumber ? await system.invoices.find(ref) : isUid(ref) ? await system.invoices.findByUid(ref) : undefined;
  if (!invoice || invoice.sandbox || (!byNumber && invoice.traderId !== traderId)) throw new AppError('INVOICE_NOT_FOUND');
  return invoice.id;
}

/** Open invoices are visible to every trader; taken ones only to the trader who took them. */
function visibleTo(invoice: Invoice, traderId: string): boolean {
  return invoice.traderId === traderId || (invoice.traderId === null && invoice.status === OPEN_STATUS);
}

/** Traders: list the invoices they may take or already hold, and work their own, by number. */
export async function traderRoutes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const app = typed(instance);
  guardRole(app, system, 'trader');

  app.get('/v1/trader/invoices', { schema: { querystring: LIST_QUERY } }, async (request) => {
    const trader = accountOf(request);
    const { status, limit, before } = request.query;
    // Sandbox invoices are the simulated trader's alone.
    // With the deposit gate on, open invoices the trader's available deposit cannot cover are not offered.
    const cap = system.ledger.requireTraderDeposit ? await system.ledger.available(trader.id) : undefined;
    const invoices = await system.invoices.list({
      openOrTrader: trader.id,
      openUpToReciveMinor: cap,
      status,
      limit,
      before,
      sandbox: false,
    });
    return {
      invoices: invoices.map((i) => staffInvoiceView(i, { role: 'trader', id: trader.id }, { currency: system.ledger.currency })),
    } satisfies StaffInvoiceList;
  });

  app.get('/v1/trader/invoices/:ref', { schema: { params: REF_PARAMS } }, async (request) => {
    const trader = accountOf(request);
    const invoice = await system.invoices.get(await traderKey(system, request.params.ref, trader.id), { numbers: true });
    if (!visibleTo(invoice, trader.id)) throw new AppError('NOT_YOUR_INVOICE');
    return staffInvoiceView(invoice, { role: 'trader', id: trader.id }, { currency: system.ledger.currency });
  });

  const act = async (ref: string, traderId: string, action: Action, input: ActionInput = {}) => {
    const key = await traderKey(system, ref, traderId);
    const invoice = await system.invoices.act(key, action, { type: 'trader', id: traderId }, input, { numbers: true });
    return staffInvoiceView(invoice, { role: 'trader', id: traderId }, { currency: system.ledger.currency });
  };

  app.post('/v1/trader/invoices/:ref/accept', { schema: { params: REF_PARAMS, body: EMPTY_BODY } }, async (request) =>
    act(request.params.ref, accountOf(request).id, 'accept'),
  );
  app.post('/v1/trader/invoices/:ref/card', { schema: { params: REF_PARAMS, body: CARD_BODY } }, async (request) => {
    const trader = accountOf(request);
    const { card, card_id } = request.body;
    if ((card === undefined) === (card_id === undefined)) {
      throw new AppError('VALIDATION_FAILED', 'Give either card (the number) or card_id (a saved card)', { param: 'card' });
    }
    const number = card_id === undefined ? card : await system.traderCards.number(trader.id, card_id);
    return act(request.params.ref, trader.id, 'setCard', { card: number });
  });

  app.get('/v1/trader/cards', { schema: { summary: 'The trader’s saved cards (masked)' } }, async (request) => ({
    data: await system.traderCards.list(accountOf(request).id),
  }));
  app.post('/v1/trader/cards', { schema: { summary: 'Save a card to give payers', body: SAVE_CARD_BODY } }, async (request, reply) =>
    reply.code(201).send(await system.traderCards.add(accountOf(request).id, request.body.card, request.body.label)),
  );
  app.delete('/v1/trader/cards/:id', { schema: { summary: 'Forget a saved card', params: CARD_ID_PARAMS } }, async (request) => {
    await system.traderCards.remove(accountOf(request).id, request.params.id);
    return { status: true };
  });
  app.post('/v1/trader/invoices/:ref/confirm', { schema: { params: REF_PARAMS, body: EMPTY_BODY } }, async (request) =>
    act(request.params.ref, accountOf(request).id, 'confirm'),
  );
  app.post('/v1/trader/invoices/:ref/dispute', { schema: { params: REF_PARAMS, body: DISPUTE_BODY } }, async (request) =>
    act(request.params.ref, accountOf(request).id, 'dispute', { reason: request.body?.reason }),
  );
  app.post('/v1/trader/invoices/:ref/amount', { schema: { params: REF_PARAMS, body: AMOUNT_BODY } }, async (request) =>
    act(request.params.ref, accountOf(request).id, 'changeAmount', { amount: request.body.amount, reason: request.body.reason }),
  );
}
