import { AppError } from '@nltrade/core';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { REQUEST_ID_HEADER } from '../../log.ts';
import { trackConnections } from '../../shutdown.ts';
import { migrationsFor } from '../../storage/migrations.ts';
import type { System } from '../../system.ts';

export interface OpsOptions {
  /** True once shutdown has begun: readiness fails and every answer closes its connection. */
  draining: () => boolean;
}

/** How long a readiness probe waits for the database: an unreachable host must not hang it. */
const READY_TIMEOUT_MS = 2_000;

export type Readiness = { ready: true } | { ready: false; reason: string };

/**
 * Ready when the database answers and every migration this build knows has been applied
 * (one query does both). A process started against a database that a newer or older build
 * migrated differently is up, but not ready.
 */
export async function readiness(system: System): Promise<Readiness> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
  });
  try {
    const { rows } = await Promise.race([sql<{ name: string }>`select name from nltrade_migrations`.execute(system.storage.db), timeout]);
    const applied = new Set(rows.map((r) => r.name));
    const missing = Object.keys(migrationsFor(system.storage.dialect)).filter((name) => !applied.has(name));
    if (missing.length > 0) return { ready: false, reason: `migrations not applied: ${missing.join(', ')}` };
    return { ready: true };
  } catch (err) {
    system.log.warn({ err }, 'readiness: database check failed');
    return { ready: false, reason: 'database unreachable' };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What operators and their tools use: request ids on every answer and log line, request
 * metrics by route pattern, `/healthz`, `/readyz`, and `/metrics` unless it has a port of its
 * own. Hooks go on the root instance so every route (and the not-found handler) gets them.
 */
export function installOps(app: FastifyInstance, system: System, options: OpsOptions): void {
  const { metrics } = system;
  trackConnections(app);

  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    // Per-request lines only at debug: at gateway rates they would drown everything else.
    request.log.debug({ method: request.method, route: request.routeOptions.url }, 'request received');
  });
  app.addHook('onSend', async (_request, reply) => {
    // Connections that had a request in flight when shutdown began close once it is answered.
    if (options.draining()) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    const ms = reply.elapsedTime;
    metrics.observeRequest(request.method, request.routeOptions.url, reply.statusCode, ms / 1000);
    request.log.debug({ route: request.routeOptions.url, statusCode: reply.statusCode, ms: Math.round(ms * 10) / 10 }, 'request completed');
  });

  app.get('/healthz', async () => ({ status: true }));

  app.get('/readyz', async () => {
    if (options.draining()) throw new AppError('UNAVAILABLE', 'Shutting down');
    const state = await readiness(system);
    if (!state.ready) throw new AppError('UNAVAILABLE', `Not ready: ${state.reason}`);
    return { status: true };
  });

  if (system.config.metricsPort === undefined) {
    app.get('/metrics', async (_request, reply) => {
      const text = await metrics.render();
      return reply.type(metrics.contentType).send(text);
    });
  }
}
