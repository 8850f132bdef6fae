import type { FastifyInstance } from 'fastify';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import { buildApp } from './http/app.ts';
import { attachRealtime, type Realtime, type RealtimeOptions } from './realtime/server.ts';
import { createSystem, type System } from './system.ts';
import { Sweeper, type SweeperOptions } from './workers/sweeper.ts';

export interface RunningServer {
  readonly system: System;
  readonly app: FastifyInstance;
  /** http://host:port with the port actually bound (useful with port 0). */
  readonly url: string;
  readonly realtime: Realtime;
  readonly sweeper: Sweeper;
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  logger?: boolean;
  /** The built checkout page to serve (packages/web/dist by default). */
  webDistDir?: string;
  /** An already created system (tests share one with direct service calls). */
  system?: System;
  realtime?: Partial<RealtimeOptions>;
  /** `start: false` leaves the sweeper to the caller (tests drive `runOnce` with a ManualClock). */
  sweeper?: SweeperOptions & { start?: boolean };
}

/** Starts the whole server: storage, HTTP (legacy + v1), realtime, background workers. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const system = options.system ?? (await createSystem(config, options.clock ? { clock: options.clock } : {}));
  // Workers are up before the port opens, so the first legacy request pays no start-up.
  await system.rsa.start();
  // Changes committed by other processes (another server, the CLI) reach this one's sockets.
  await system.eventLog.start();
  const app = await buildApp(system, { logger: options.logger ?? false, ...(options.webDistDir && { webDistDir: options.webDistDir }) });
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
  try {
    await app.listen({ port: config.port, host: config.host });
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
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closed = false;
  return {
    system,
    app,
    realtime,
    sweeper,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    async close() {
      if (closed) return;
      closed = true;
      await sweeper.stop();
      await realtime.close();
      await app.close();
      if (!options.system) await system.close();
    },
  };
}
