import type { StaffInvoiceList } from '@nltrade/core';
import type { FastifyInstance } from 'fastify';
import type { Invoice } from '../../services/invoices.ts';
import { staffInvoiceView } from '../../views.ts';
import { accountOf, guardRole } from '../auth.ts';
import { ADMIN_LIST_QUERY, CANCEL_BODY, DECIDE_BODY, REF_PARAMS, type RouteOptions, typed } from '../schemas.ts';
import { parseCreatedBound } from './v1.ts';

/** Administrators: review any invoice (by UID or number), decide disputes, cancel what is not final. */
export async function adminRoutes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const app = typed(instance);
  guardRole(app, system, 'admin');

  const views = async (invoices: Invoice[], adminId: string) => {
    const hosted = await system.photos.hosted(invoices);
    return invoices.map((i) =>
      staffInvoiceView(i, { role: 'admin', id: adminId }, { currency: system.ledger.currency, hostedPhoto: hosted.get(i.id) }),
    );
  };
  /** One invoice, with its event log: what an administrator judges it by. */
  const view = async (invoice: Invoice, adminId: string) => {
    const [hosted, history] = await Promise.all([system.photos.hosted([invoice]), system.invoices.history(invoice.id)]);
    return staffInvoiceView(
      invoice,
      { role: 'admin', id: adminId },
      { currency: system.ledger.currency, hostedPhoto: hosted.get(invoice.id), history },
    );
  };

  app.get('/v1/admin/invoices', { schema: { querystring: ADMIN_LIST_QUERY } }, async (request) => {
    const { status, limit, before, merchant_id, trader_id, created_gte, created_lt } = request.query;
    const invoices = await system.invoices.list({
      status,
      limit,
      before,
      merchantId: merchant_id,
      traderId: trader_id,
      createdGte: parseCreatedBound(created_gte, 'created_gte'),
      createdLt: parseCreatedBound(created_lt, 'created_lt'),
    });
    return { invoices: await views(invoices, accountOf(request).id) } satisfies StaffInvoiceList;
  });

  app.get('/v1/admin/invoices/:ref', { schema: { params: REF_PARAMS } }, async (request) =>
    view(await system.invoices.get(request.params.ref, { numbers: true }), accountOf(request).id),
  );

  app.post('/v1/admin/invoices/:ref/decide', { schema: { params: REF_PARAMS, body: DECIDE_BODY } }, async (request) => {
    const admin = accountOf(request);
    const { decision, reason } = request.body;
    const invoice = await system.invoices.act(
      request.params.ref,
      'decide',
      { type: 'admin', id: admin.id },
      { decision, reason },
      { numbers: true },
    );
    return view(invoice, admin.id);
  });

  app.post('/v1/admin/invoices/:ref/cancel', { schema: { params: REF_PARAMS, body: CANCEL_BODY } }, async (request) => {
    const admin = accountOf(request);
    const reason = request.body?.reason;
    const invoice = await system.invoices.act(request.params.ref, 'cancel', { type: 'admin', id: admin.id }, { reason }, { numbers: true });
    return view(invoice, admin.id);
  });
}
