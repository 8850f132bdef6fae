import type { Server, Socket } from 'node:net';
import { AppError } from '@nltrade/core';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import { limitKeyOf, normaliseIp, type TrustFn, type WarnLog } from './client-ip.ts';

/** How often Node looks for requests over their time; a slow request is cut at most this late. */
const TIMEOUT_CHECK_MS = 1000;
/** A refused client is named in the log at most this often, so a flood cannot flood the log. */
const REFUSAL_LOG_EVERY_MS = 60_000;

/**
 * Fastify's server options for the HTTP timeouts. Node's defaults (no request timeout, and
 * timeouts checked every 30 s) let a client hold a connection for as long as it trickles
 * bytes; these cut a request whose headers or body do not arrive in time (408) and an idle
 * keep-alive connection.
 */
export function httpServerOptions(config: Config) {
  const requestTimeout = config.httpRequestTimeoutSeconds * 1000;
  // Node refuses a headers timeout above the request timeout: the request's covers both.
  const headersTimeout = Math.min(config.httpHeadersTimeoutSeconds * 1000, requestTimeout);
  const keepAliveTimeout = config.httpKeepAliveTimeoutSeconds * 1000;
  return {
    requestTimeout,
    keepAliveTimeout,
    http: { requestTimeout, headersTimeout, keepAliveTimeout, connectionsCheckingInterval: TIMEOUT_CHECK_MS },
  };
}

export interface ConnectionLimitOptions {
  /** Open connections one client may hold (`MAX_CONNECTIONS_PER_IP`). */
  max: number;
  /** TRUST_PROXY: a listed peer is a proxy, whose connections carry many clients. */
  trust: TrustFn;
  log: WarnLog;
}

/** Open connections per client, counted in this process; what `limitConnections` returns. */
export interface ConnectionCounts {
  /** Connections the client (an address, or an IPv6 /64) holds open now. */
  held(ip: string): number;
  /** Connections refused since the start. */
  readonly refused: number;
}

/**
 * Refuses a client's connections beyond `max` the moment they are accepted, before a byte
 * of them is read: the excess costs one accept and one reset, never a parser, a timer or a
 * query, so other clients do not notice. Counted per process: file descriptors are per
 * process, and a shared store would put a round trip in front of every connection.
 *
 * Any `net.Server` will do: an HTTP server, or a front process that hands connections on.
 *
 * A trusted proxy's connections are not counted (it must never be refused for the crowd
 * behind it); its clients are limited per request instead, see `limitProxiedRequests`.
 */
export function limitConnections(server: Server, options: ConnectionLimitOptions): ConnectionCounts {
  const open = new Map<string, number>();
  const lastLogged = new Map<string, number>();
  let refused = 0;
  const refuse = (socket: Socket, key: string) => {
    refused++;
    try {
      // A reset frees the descriptor at once and leaves no TIME_WAIT on our side.
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
    const now = Date.now();
    if ((lastLogged.get(key) ?? 0) + REFUSAL_LOG_EVERY_MS > now) return;
    if (lastLogged.size >= 10_000) lastLogged.clear();
    lastLogged.set(key, now);
    options.log.warn(
      { client: key, max: options.max },
      `refusing connections from ${key}: it holds ${options.max} open (MAX_CONNECTIONS_PER_IP); logged at most once a minute per client`,
    );
  };
  // Ahead of the HTTP server's own listener, so a refused socket never gets a parser.
  server.prependListener('connection', (socket: Socket) => {
    const peer = socket.remoteAddress;
    if (peer === undefined || options.trust(peer, 0)) return;
    const key = limitKeyOf(normaliseIp(peer));
    const held = open.get(key) ?? 0;
    if (held >= options.max) {
      refuse(socket, key);
      return;
    }
    open.set(key, held + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left <= 0) open.delete(key);
      else open.set(key, left);
    });
  });
  return {
    held: (ip) => open.get(limitKeyOf(normaliseIp(ip))) ?? 0,
    get refused() {
      return refused;
    },
  };
}

/**
 * Behind a trusted proxy the connections are the proxy's, so a client is limited by what it
 * has in flight through it: at most `max` requests at once per forwarded client IP (the
 * proxy's own requests, with no X-Forwarded-For, are not limited). The proxy itself should
 * also limit connections per client (nginx `limit_conn`, HAProxy `sc_conn_cur`): a client's
 * idle connections to the proxy are invisible here.
 */
export function limitProxiedRequests(app: FastifyInstance, options: { max: number; trust: TrustFn }): void {
  const inFlight = new Map<string, number>();
  app.addHook('onRequest', async (request, reply) => {
    const peer = request.raw.socket?.remoteAddress;
    if (peer === undefined || !options.trust(peer, 0)) return;
    const key = limitKeyOf(request.clientIp);
    if (key === limitKeyOf(normaliseIp(peer))) return;
    const held = inFlight.get(key) ?? 0;
    if (held >= options.max) throw new AppError('RATE_LIMITED', 'Too many requests at once from this address');
    inFlight.set(key, held + 1);
    reply.raw.once('close', () => {
      const left = (inFlight.get(key) ?? 1) - 1;
      if (left <= 0) inFlight.delete(key);
      else inFlight.set(key, left);
    });
  });
}
