import type { FastifyInstance } from 'fastify';
import type { Clock } from './clock.ts';
import { acceptFromPrimary } from './cluster.ts';
import type { Config } from './config.ts';
import { buildApp } from './http/app.ts';
import { createLogger, type Logger } from './log.ts';
import { serveMetrics } from './metrics.ts';
import { attachRealtime, type Realtime, type RealtimeOptions } from './realtime/server.ts';
import { drainHttp } from './shutdown.ts';
import { createSystem, type System } from './system.ts';
import { SandboxTrader, type SandboxTraderOptions } from './workers/sandbox-trader.ts';
import { Sweeper, type SweeperOptions } from './workers/sweeper.ts';
import { type DelivererOptions, WebhookDeliverer } from './workers/webhooks.ts';

export interface RunningServer {
  readonly system: System;
  readonly app: FastifyInstance;
  /** http://host:port with the port actually bound (useful with port 0). */
  readonly url: string;
  readonly realtime: Realtime;
  readonly sweeper: Sweeper;
  /** The simulated trader of sandbox merchants' invoices. */
  readonly sandboxTrader: SandboxTrader;
  /** Sends webhook deliveries (signed, in order per endpoint, retried). */
  readonly webhooks: WebhookDeliverer;
  /** `/metrics` on its own port when `METRICS_PORT` is set. */
  readonly metricsUrl: string | undefined;
  /**
   * Graceful: refuses new connections, lets requests in flight finish, disconnects sockets,
   * stops the workers (and, when it made the system, closes the database and flushes the log),
   * cutting what is still open after SHUTDOWN_TIMEOUT.
   */
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  /**
   * true: log at LOG_LEVEL to standard output; a logger: that one (HTTP, and the system when
   * this makes it). Otherwise HTTP logs through the given system's logger, or not at all.
   */
  logger?: boolean | Logger;
  /** The built checkout page to serve (packages/web/dist by default). */
  webDistDir?: string;
  /** An already created system (tests share one with direct service calls). */
  system?: System;
  realtime?: Partial<RealtimeOptions>;
  /** `start: false` leaves the sweeper to the caller (tests drive `runOnce` with a ManualClock). */
  sweeper?: SweeperOptions & { start?: boolean };
  /** `start: false` leaves the simulated sandbox trader to the caller (`runOnce`). */
  sandboxTrader?: Partial<SandboxTraderOptions> & { start?: boolean };
  /** `start: false` leaves webhook delivery to the caller (`runOnce`). */
  webhooks?: Partial<DelivererOptions> & { start?: boolean };
  /** A worker of `nltrade serve --workers N`: connections come from the primary, which holds the port. */
  clusterWorker?: boolean;
}

/** Starts the whole server: storage, HTTP (legacy + v1), realtime, background workers. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger === true ? createLogger({ level: config.logLevel }) : options.logger || undefined;
  const system =
    options.system ?? (await createSystem(config, { ...(options.clock && { clock: options.clock }), ...(logger && { logger }) }));
  let draining = false;
  // Workers are up before the port opens, so the first legacy request pays no start-up.
  await system.rsa.start();
  // Changes committed by other processes (another server, the CLI) reach this one's sockets.
  await system.eventLog.start();
  const app = await buildApp(system, {
    ...(logger && { logger }),
    draining: () => draining,
    ...(options.webDistDir && { webDistDir: options.webDistDir }),
  });
  // A failing listener never undoes a committed change, but it must not fail silently either.
  system.bus.onListenerError((err) => app.log.error({ err }, 'event listener failed'));
  const realtime = attachRealtime(system, app.server, {
    maxConnectionsPerIp: config.maxSocketsPerIp,
    onError: (err) => app.log.error({ err }, 'realtime error'),
    ...options.realtime,
  });
  const sweeper = new Sweeper(system.invoices, system.clock, {
    onError: (err) => app.log.error({ err }, 'sweeper error'),
    ...options.sweeper,
  });
  const sandboxTrader = SandboxTrader.forSystem(system, {
    delayMs: config.sandboxDelayMs,
    onError: (err) => app.log.error({ err }, 'sandbox trader error'),
    ...options.sandboxTrader,
  });
  const webhooks = new WebhookDeliverer(
    { db: system.storage.db, dialect: system.storage.dialect, clock: system.clock, bus: system.bus, webhooks: system.webhooks },
    {
      retryBaseMs: config.webhookRetryBaseMs,
      retryForMs: config.webhookRetryForSeconds * 1000,
      timeoutMs: config.webhookTimeoutSeconds * 1000,
      allowPrivate: config.webhookAllowPrivate,
      onError: (err) => app.log.error({ err }, 'webhook delivery error'),
      ...options.webhooks,
    },
  );
  system.metrics.observeSockets(() => realtime.stats());
  system.metrics.collectProcessMetrics();
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  let stopAccepting: (() => void) | undefined;
  try {
    if (options.clusterWorker) {
      await app.ready();
      stopAccepting = acceptFromPrimary(app.server, realtime.io.engine);
    } else {
      await app.listen({ port: config.port, host: config.host });
    }
    // A cluster worker has no port of its own; its primary would have to gather the workers' metrics.
    if (config.metricsPort !== undefined && !options.clusterWorker) {
      metricsServer = await serveMetrics(system.metrics, config.host, config.metricsPort, system.log);
    }
  } catch (err) {
    await realtime.close();
    await app.close();
    if (!options.system) await system.close();
    throw err;
  }
  if (options.sweeper?.start !== false) {
    sweeper.start();
    system.photos.removeOrphans().catch((err: unknown) => app.log.error({ err }, 'photo cleanup failed'));
  }
  if (options.sandboxTrader?.start !== false) sandboxTrader.start();
  if (options.webhooks?.start !== false) webhooks.start();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  return {
    system,
    app,
    realtime,
    sweeper,
    sandboxTrader,
    webhooks,
    metricsUrl: metricsServer?.url,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    close() {
      closing ??= (async () => {
        // From here /readyz fails and every answer closes its connection.
        draining = true;
        stopAccepting?.();
        app.log.info('shutting down: finishing the requests in flight');
        const timeoutMs = config.shutdownTimeoutSeconds * 1000;
        await Promise.all([sweeper.stop(), sandboxTrader.stop(), webhooks.stop(), drainHttp(app, realtime, { timeoutMs, log: app.log })]);
        await metricsServer?.close();
        app.log.info('shut down');
        if (!options.system) await system.close();
      })();
      return closing;
    },
  };
}
