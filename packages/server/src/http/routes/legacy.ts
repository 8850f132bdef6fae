import type { FastifyInstance, FastifyReply } from 'fastify';
import { LegacyApi } from '../../legacy/api.ts';
import type { System } from '../../system.ts';
import { installErrorHandling } from '../errors.ts';

/**
 * The NL-Trade Remote Invoice API, at the paths existing merchant integrations call. An
 * encapsulated plugin, so its answers to errors follow the legacy rule (see Surface).
 */
export async function legacyRoutes(app: FastifyInstance, { system }: { system: System }): Promise<void> {
  installErrorHandling(app, 'legacy');
  const api = new LegacyApi(system);
  // Set before the body is parsed, so even a 400 or 413 is readable by the calling page.
  // A callback hook, not an async one: no promise per request on the legacy hot path.
  const onRequest = (_request: unknown, reply: FastifyReply, done: () => void) => {
    cors(reply);
    done();
  };
  for (const url of LEGACY_PATHS) {
    app.options(url, { onRequest }, async (_request, reply) => reply.code(204).header('access-control-max-age', '600').send());
  }
  app.post(LEGACY_PATHS[0], { onRequest }, async (request) => api.publicKey(request.body));
  app.post(LEGACY_PATHS[1], { onRequest }, async (request) => api.call(request.body, request.clientIp));
}

const LEGACY_PATHS = ['/helpers/getLatestPublicRemoteRsaKey.php', '/method/RemoteInvoiceApi'] as const;

/**
 * Existing integrations call these from the payer's browser on the merchant's own site, so
 * any origin may call them. No cookies are involved (the token is in the body), so a
 * wildcard without credentials grants nothing a direct request could not do.
 */
function cors(reply: FastifyReply): FastifyReply {
  return reply
    .header('access-control-allow-origin', '*')
    .header('access-control-allow-methods', 'POST, OPTIONS')
    .header('access-control-allow-headers', 'content-type');
}
