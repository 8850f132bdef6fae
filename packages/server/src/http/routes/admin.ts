import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Invoice } from '../../services/invoices.ts';
import { staffInvoiceView } from '../../views.ts';
import { accountOf, guardRole } from '../auth.ts';
import type { RouteOptions } from './checkout.ts';
import { LIST_QUERY, type ListRequest, REF_PARAMS } from './trader.ts';

type UidBodyRequest<B> = FastifyRequest<{ Params: { ref: string }; Body: B }>;

/** Administrators: review any invoice, decide disputes, cancel what is not final. */
export async function adminRoutes(app: FastifyInstance, { system }: RouteOptions): Promise<void> {
  guardRole(app, system, 'admin');
  app.get('/v1/admin/invoices', { schema: { querystring: LIST_QUERY } }, async (request: ListRequest) => {
    const admin = accountOf(request);
    const { status, limit, before } = request.query;
    const invoices = await system.invoices.list({ status, limit, before });
    const hosted = await system.photos.hosted(invoices);
    return { invoices: invoices.map((i) => staffInvoiceView(i, { role: 'admin', id: admin.id }, hosted.get(i.id))) };
  });

  const view = async (invoice: Invoice, adminId: string) =>
    staffInvoiceView(invoice, { role: 'admin', id: adminId }, (await system.photos.hosted([invoice])).get(invoice.id));

  app.get('/v1/admin/invoices/:ref', { schema: { params: REF_PARAMS } }, async (request: FastifyRequest<{ Params: { ref: string } }>) => {
    const admin = accountOf(request);
    return view(await system.invoices.get(request.params.ref, { numbers: true }), admin.id);
  });

  app.post(
    '/v1/admin/invoices/:ref/decide',
    {
      schema: {
        params: REF_PARAMS,
        body: {
          type: 'object',
          required: ['decision', 'reason'],
          properties: {
            decision: { type: 'string', enum: ['success', 'canceled'] },
            reason: { type: 'string', minLength: 1, maxLength: 500 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request: UidBodyRequest<{ decision: 'success' | 'canceled'; reason: string }>) => {
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
    },
  );

  app.post(
    '/v1/admin/invoices/:ref/cancel',
    {
      schema: {
        params: REF_PARAMS,
        body: { type: ['object', 'null'], properties: { reason: { type: 'string', maxLength: 500 } }, additionalProperties: false },
      },
    },
    async (request: UidBodyRequest<{ reason?: string } | null | undefined>) => {
      const admin = accountOf(request);
      const reason = request.body?.reason;
      const invoice = await system.invoices.act(
        request.params.ref,
        'cancel',
        { type: 'admin', id: admin.id },
        { reason },
        { numbers: true },
      );
      return view(invoice, admin.id);
    },
  );
}
