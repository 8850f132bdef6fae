import type { FastifyInstance, FastifyRequest } from 'fastify';
import { staffInvoiceView } from '../../views.ts';
import { accountOf, guardRole } from '../auth.ts';
import { type RouteOptions, UID_PARAMS } from './checkout.ts';
import { LIST_QUERY, type ListRequest } from './trader.ts';

type UidBodyRequest<B> = FastifyRequest<{ Params: { uid: string }; Body: B }>;

/** Administrators: review any invoice, decide disputes, cancel what is not final. */
export async function adminRoutes(app: FastifyInstance, { system }: RouteOptions): Promise<void> {
  guardRole(app, system, 'admin');
  app.get('/v1/admin/invoices', { schema: { querystring: LIST_QUERY } }, async (request: ListRequest) => {
    const admin = accountOf(request);
    const { status, limit, before } = request.query;
    const invoices = await system.invoices.list({ status, limit, before });
    return { invoices: invoices.map((i) => staffInvoiceView(i, { role: 'admin', id: admin.id })) };
  });

  app.get('/v1/admin/invoices/:uid', { schema: { params: UID_PARAMS } }, async (request: FastifyRequest<{ Params: { uid: string } }>) => {
    const admin = accountOf(request);
    return staffInvoiceView(await system.invoices.get(request.params.uid), { role: 'admin', id: admin.id });
  });

  app.post(
    '/v1/admin/invoices/:uid/decide',
    {
      schema: {
        params: UID_PARAMS,
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
      const invoice = await system.invoices.act(request.params.uid, 'decide', { type: 'admin', id: admin.id }, { decision, reason });
      return staffInvoiceView(invoice, { role: 'admin', id: admin.id });
    },
  );

  app.post(
    '/v1/admin/invoices/:uid/cancel',
    {
      schema: {
        params: UID_PARAMS,
        body: { type: ['object', 'null'], properties: { reason: { type: 'string', maxLength: 500 } }, additionalProperties: false },
      },
    },
    async (request: UidBodyRequest<{ reason?: string } | null | undefined>) => {
      const admin = accountOf(request);
      const reason = request.body?.reason;
      const invoice = await system.invoices.act(request.params.uid, 'cancel', { type: 'admin', id: admin.id }, { reason });
      return staffInvoiceView(invoice, { role: 'admin', id: admin.id });
    },
  );
}
