import type { FastifyInstance } from 'fastify';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import { buildApp } from './http/app.ts';
import { createSystem, type System } from './system.ts';

export interface RunningServer {
  readonly system: System;
  readonly app: FastifyInstance;
  /** http://host:port with the port actually bound (useful with port 0). */
  readonly url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  logger?: boolean;
  /** An already created system (tests share one with direct service calls). */
  system?: System;
}

/** Starts the whole server: storage, HTTP (legacy + v1), realtime, background workers. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const system = options.system ?? (await createSystem(config, options.clock ? { clock: options.clock } : {}));
  const app = await buildApp(system, { logger: options.logger ?? false });
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closed = false;
  return {
    system,
    app,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      if (!options.system) await system.close();
    },
  };
}
