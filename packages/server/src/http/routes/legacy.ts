import type { FastifyInstance } from 'fastify';
import { LegacyApi } from '../../legacy/api.ts';
import type { System } from '../../system.ts';

/** The NL-Trade Remote Invoice API, at the paths existing merchant integrations call. */
export function registerLegacyRoutes(app: FastifyInstance, system: System): void {
  const api = new LegacyApi(system);
  app.post('/helpers/getLatestPublicRemoteRsaKey.php', async (request) => api.publicKey(request.body));
  app.post('/method/RemoteInvoiceApi', async (request) => api.call(request.body, request.clientIp));
}
