import { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from './log.ts';
import type { Realtime } from './realtime/server.ts';

export interface DrainOptions {
  /** After this, connections still open are cut (SHUTDOWN_TIMEOUT). */
  timeoutMs: number;
  log: Logger;
}

/** How often connections that went idle during a drain are looked for and closed. */
const IDLE_SWEEP_MS = 50;

/** Per server: the connections that carried a request, and how many requests each has in flight. */
const connections = new WeakMap<FastifyInstance['server'], Map<Socket, number>>();

/**
 * Counts requests per connection. Node tracks idle connections only for a server that
 * listens itself; a worker of `serve --workers` is handed its connections, and without this
 * its shutdown could neither close idle keep-alive connections nor cut what is left.
 */
export function trackConnections(app: FastifyInstance): void {
  const open = new Map<Socket, number>();
  connections.set(app.server, open);
  app.addHook('onRequest', async (request) => {
    const socket = request.raw.socket;
    // Injected requests (tests, light-my-request) have no real connection to close.
    if (!(socket instanceof Socket)) return;
    const inFlight = open.get(socket);
    if (inFlight === undefined) socket.once('close', () => open.delete(socket));
    open.set(socket, (inFlight ?? 0) + 1);
  });
  app.addHook('onResponse', async (request) => {
    const socket = request.raw.socket;
    const inFlight = open.get(socket);
    if (inFlight !== undefined) open.set(socket, Math.max(0, inFlight - 1));
  });
}

/**
 * Stops the HTTP side without cutting a request: the listening socket closes at once (new
 * connections are refused, so a load balancer moves on), requests in flight run to their
 * answer, which says `Connection: close` (see the ops hooks), keep-alive connections close as
 * soon as they are idle, and realtime clients are told to go. What is still open after
 * `timeoutMs` is cut.
 */
export async function drainHttp(app: FastifyInstance, realtime: Realtime, { timeoutMs, log }: DrainOptions): Promise<void> {
  const server = app.server;
  const open = connections.get(server) ?? new Map<Socket, number>();
  const idle = setInterval(() => {
    server.closeIdleConnections();
    // end(), not destroy(): the last answer's bytes still go out before the FIN.
    for (const [socket, inFlight] of open) if (inFlight === 0 && !socket.writableEnded) socket.end();
  }, IDLE_SWEEP_MS);
  idle.unref();
  let forced = false;
  const force = setTimeout(() => {
    forced = true;
    log.warn({ timeoutMs }, 'shutdown: cutting the connections still open after SHUTDOWN_TIMEOUT');
    server.closeAllConnections();
    for (const socket of open.keys()) socket.destroy();
  }, timeoutMs);
  force.unref();
  try {
    // Fastify stops listening a few ticks into its close (and answers 503 meanwhile).
    const closed = app.close();
    while (server.listening && !forced) await new Promise((resolve) => setImmediate(resolve));
    // Only then: socket.io clients reconnect at once, and must find a server that refuses.
    await realtime.close();
    await closed;
    // A server handed its connections is "closed" at once: wait for their requests here.
    while (open.size > 0 && !forced) await new Promise((resolve) => setTimeout(resolve, IDLE_SWEEP_MS));
  } finally {
    clearInterval(idle);
    clearTimeout(force);
  }
}
