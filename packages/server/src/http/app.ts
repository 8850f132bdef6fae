import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { type Logger, REQUEST_ID_HEADER, requestIdOf } from '../log.ts';
import type { System } from '../system.ts';
import { clientIp, compileTrust } from './client-ip.ts';
import { httpServerOptions } from './connection-limit.ts';
import { installErrorHandling, toErrorBody } from './errors.ts';
import { installOpenApi } from './openapi.ts';
import { installLimits } from './rate-limit.ts';
import { adminRoutes } from './routes/admin.ts';
import { balancesRoutes } from './routes/balances.ts';
import { checkoutRoutes } from './routes/checkout.ts';
import { legacyRoutes } from './routes/legacy.ts';
import { installOps } from './routes/ops.ts';
import { merchantSelfRoutes, peopleRoutes } from './routes/people.ts';
import { sessionRoutes } from './routes/session.ts';
import { settingsRoutes } from './routes/settings.ts';
import { traderRoutes } from './routes/trader.ts';
import { v1Routes } from './routes/v1.ts';
import { defaultWebDistDir, sendCheckoutNotFound, webRoutes } from './routes/web.ts';
import { webhookRoutes } from './routes/webhooks.ts';

/** JSON and form bodies are small on every route but the photo upload, which sets its own. */
export const BODY_LIMIT = 64 * 1024;

/** Longer than any id or UID we issue by far; a longer segment names nothing here (404). */
const MAX_PARAM_LENGTH = 2048;

export interface AppOptions {
  /** The HTTP layer's logger; the system's by default. */
  logger?: Logger;
  /** True once shutdown has begun: `/readyz` fails and answers close their connections. */
  draining?: () => boolean;
  /** The built checkout page (`@nltrade/web`'s dist by default). */
  webDistDir?: string;
}

export async function buildApp(system: System, options: AppOptions = {}): Promise<FastifyInstance> {
  const trust = compileTrust(system.config.trustProxy);
  const webDistDir = options.webDistDir ?? defaultWebDistDir();
  const app = Fastify({
    loggerInstance: options.logger ?? system.log,
    // A proxy's X-Request-Id is kept when it is a safe short token; it is echoed as Request-Id.
    requestIdHeader: false,
    genReqId: requestIdOf,
    bodyLimit: BODY_LIMIT,
    // A path segment longer than the router's default 100 characters still reaches its route,
    // so a mangled UID gets the route's own "Invoice not found" rather than a router error.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // HTTP_REQUEST_TIMEOUT, HTTP_HEADERS_TIMEOUT, HTTP_KEEPALIVE_TIMEOUT: a slow client cannot hold a connection.
    ...httpServerOptions(system.config),
    trustProxy: system.config.trustProxy.length > 0 ? trust : false,
    // Per-request lines would dominate the log at payment-gateway rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Shutdown closes idle keep-alive connections at once but lets requests in flight finish
    // (startServer's close force-closes what is left after SHUTDOWN_TIMEOUT).
    forceCloseConnections: 'idle',
    // Errors raised before routing (a malformed URL, say) get the same body as all others.
    // A payer's mangled checkout link (/pay/%zz) still gets the page's own not-found view.
    frameworkErrors: (error, request, reply) => {
      (reply as FastifyReply).header(REQUEST_ID_HEADER, request.id);
      if (sendCheckoutNotFound(request as FastifyRequest, reply as FastifyReply, webDistDir)) return;
      const { statusCode, body } = toErrorBody(error);
      void (reply as FastifyReply).code(statusCode === 500 ? 400 : statusCode).send(body);
    },
  });
  // First, so even an answer a later hook sends early (a rate limit) carries its request id.
  installOps(app, system, { draining: options.draining ?? (() => false) });
  app.decorateRequest('clientIp', '');
  app.addHook('onRequest', async (request) => {
    request.clientIp = clientIp(request.raw, trust);
  });

  // Legacy clients post the key request as a form; accept forms anywhere a JSON body is.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  installErrorHandling(app);
  // Connections per client, the unknown-token lockout, and the store route budgets count in.
  installLimits(app, system);

  // Before every route: the OpenAPI generator collects routes as they are added.
  await installOpenApi(app);
  // Kept for monitors set up before /healthz and /readyz.
  app.get('/health', async () => ({ status: true, response: { data: { ok: true } } }));
  await app.register(legacyRoutes, { system });
  await app.register(checkoutRoutes, { system });
  await app.register(sessionRoutes, { system });
  await app.register(traderRoutes, { system });
  await app.register(adminRoutes, { system });
  await app.register(balancesRoutes, { system });
  await app.register(peopleRoutes, { system });
  await app.register(merchantSelfRoutes, { system });
  await app.register(settingsRoutes, { system });
  await app.register(v1Routes, { system });
  await app.register(webhookRoutes, { system });
  await app.register(webRoutes, { distDir: webDistDir });

  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    clientIp: string;
  }
}
