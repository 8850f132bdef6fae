import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { System } from '../system.ts';
import { clientIp, compileTrust } from './client-ip.ts';
import { installErrorHandling, toErrorBody } from './errors.ts';
import { limitAuthFailures } from './rate-limit.ts';
import { adminRoutes } from './routes/admin.ts';
import { checkoutRoutes } from './routes/checkout.ts';
import { legacyRoutes } from './routes/legacy.ts';
import { traderRoutes } from './routes/trader.ts';
import { defaultWebDistDir, sendCheckoutNotFound, webRoutes } from './routes/web.ts';

/** JSON and form bodies are small on every route but the photo upload, which sets its own. */
export const BODY_LIMIT = 64 * 1024;

export interface AppOptions {
  logger?: boolean;
  /** The built checkout page (`@nltrade/web`'s dist by default). */
  webDistDir?: string;
}

export async function buildApp(system: System, options: AppOptions = {}): Promise<FastifyInstance> {
  const trust = compileTrust(system.config.trustProxy);
  const webDistDir = options.webDistDir ?? defaultWebDistDir();
  const app = Fastify({
    logger: options.logger ? { level: system.config.logLevel } : false,
    bodyLimit: BODY_LIMIT,
    trustProxy: system.config.trustProxy.length > 0 ? trust : false,
    // Per-request lines would dominate the log at payment-gateway rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // A browser's keep-alive or long-poll must not hold a shutdown or restart for a minute.
    forceCloseConnections: true,
    // Errors raised before routing (a malformed URL, say) get the same body as all others.
    // A payer's mangled checkout link (/pay/%zz) still gets the page's own not-found view.
    frameworkErrors: (error, request, reply) => {
      if (sendCheckoutNotFound(request as FastifyRequest, reply as FastifyReply, webDistDir)) return;
      const { statusCode, body } = toErrorBody(error);
      void (reply as FastifyReply).code(statusCode === 500 ? 400 : statusCode).send(body);
    },
  });
  app.decorateRequest('clientIp', '');
  app.addHook('onRequest', async (request) => {
    request.clientIp = clientIp(request.raw, trust);
  });

  // Legacy clients post the key request as a form; accept forms anywhere a JSON body is.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  installErrorHandling(app);
  limitAuthFailures(app, system.config.authFailuresPerMinute, system.clock);

  app.get('/health', async () => ({ status: true, response: { data: { ok: true } } }));
  await app.register(legacyRoutes, { system });
  await app.register(checkoutRoutes, { system });
  await app.register(traderRoutes, { system });
  await app.register(adminRoutes, { system });
  await app.register(webRoutes, { distDir: webDistDir });

  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    clientIp: string;
  }
}
