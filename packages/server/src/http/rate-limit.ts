import fastifyRateLimit from '@fastify/rate-limit';
import { AppError } from '@nltrade/core';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Clock } from '../clock.ts';
import type { Limits, WindowLimit } from '../limits/index.ts';
import { cookieValues, SESSION_COOKIE } from '../services/sessions.ts';
import type { System } from '../system.ts';
import { limitKeyOf } from './client-ip.ts';
import { type ConnectionCounts, limitConnections, limitProxiedRequests } from './connection-limit.ts';
import { toErrorBody } from './errors.ts';

/** `retryAfterSeconds` becomes the answer's `Retry-After` (see errors.ts). */
function tooMany(message: string, seconds: number): AppError {
  return new AppError('RATE_LIMITED', `${message}; try again in ${seconds} s`, { retryAfterSeconds: seconds });
}

/**
 * Every per-client limit of the HTTP layer: connections per client (or requests in flight
 * behind a trusted proxy), the unknown-token lockout, the X-Forwarded-For warning, and
 * @fastify/rate-limit counting in the shared store, for `limitRequests`. Installed on the
 * root before any route.
 */
export function installLimits(app: FastifyInstance, system: System): ConnectionCounts {
  const { config, limits } = system;
  // Only routes that ask for a budget get one (`limitRequests`). The plugin's own stores
  // count per process (LocalStore) or in Redis with windows of their own (RedisStore); this
  // one counts where the lockout and the sockets are, with the same clock-aligned windows,
  // and falls back to the process when Redis or PostgreSQL fails.
  void app.register(fastifyRateLimit, { global: false, store: sharedRateLimitStore(limits) });
  // Through `limits.log` at the time of writing, which the system may point elsewhere later.
  const log = { warn: (obj: object, msg: string) => limits.log.warn(obj, msg) };
  const connections = limitConnections(app.server, { max: config.maxConnectionsPerIp, trust: limits.trust, log });
  app.addHook('onRequest', async (request) => {
    limits.noticeForwardedFor(request.raw);
  });
  limitProxiedRequests(app, { max: config.maxConnectionsPerIp, trust: limits.trust });
  lockOutGuessers(app, limits.window('auth', config.authFailuresPerMinute));
  return connections;
}

/**
 * An address that keeps presenting unknown tokens gets 429 instead of 401 for the rest of
 * the minute, in every process. Only answers that were going to be 401 are counted or
 * refused: a request with a valid token is answered as always, however many guesses came
 * from its address (offices and mobile carriers put many clients behind one).
 *
 * Serving valid tokens means a locked address still learns whether a guess is valid, so the
 * lockout does not slow guessing; it does not need to. A token has 256 random bits (2^255
 * guesses on average), and a guess costs what it always did: a malformed token is refused
 * before any lookup, a plausible one costs one hash and one indexed query (never RSA work:
 * the legacy API checks the token first), and unknown tokens are never cached. What the
 * lockout does is keep an address's failed attempts from costing the limits store more than
 * one write per process and minute.
 */
function lockOutGuessers(app: FastifyInstance, failures: WindowLimit): void {
  // onSend sees the answer whatever produced it: a guard in a hook, a route, either error surface.
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (reply.statusCode !== 401 || !presentsCredentials(request)) return payload;
    const wait = await failures.count(request.clientIp);
    if (wait === 0) return payload;
    const { statusCode, body } = toErrorBody(tooMany('Too many unknown tokens from this address', wait));
    reply.code(statusCode).header('retry-after', String(wait)).type('application/json; charset=utf-8');
    return JSON.stringify(body);
  });
}

/**
 * Whether the request offered something to check: a token, a session cookie, or anything on
 * the legacy API (its token is inside the body). A v1 request with neither (the console
 * asking whether this browser is signed in, before anyone is) guessed nothing, and an office
 * opening the console a hundred times a minute must still see the sign-in form.
 */
function presentsCredentials(request: FastifyRequest): boolean {
  if (!(request.raw.url ?? '').startsWith('/v1/')) return true;
  if (request.headers.authorization !== undefined) return true;
  if (request.method === 'POST' && (request.raw.url ?? '').split('?', 1)[0] === '/v1/session') return true;
  return cookieValues(request.headers.cookie, SESSION_COOKIE).length > 0;
}

type RateLimitResult = { current: number; ttl: number };

/** @fastify/rate-limit's store interface over the shared limits (`key` names the budget and the client). */
function sharedRateLimitStore(limits: Limits) {
  return class SharedRateLimitStore {
    incr(key: string, callback: (err: Error | null, result?: RateLimitResult) => void, timeWindow: number, max: number): void {
      limits.countWindow(key, timeWindow, max).then(
        ({ count, resetAt, now }) => callback(null, { current: count, ttl: resetAt - now }),
        (err: Error) => callback(err),
      );
    }

    child(): SharedRateLimitStore {
      return this;
    }
  };
}

/**
 * A per-client request budget for one route scope (the payer's anonymous checkout routes):
 * @fastify/rate-limit, counted in the shared limits store with the system's clock (`_clock`
 * is that same clock). Needs `installLimits` on the root.
 */
export function limitRequests(perMinute: number, _clock?: Clock, name = 'checkout') {
  let limit: preHandlerAsyncHookHandler | undefined;
  return async function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    limit ??= request.server.rateLimit({
      max: perMinute,
      timeWindow: 60_000,
      keyGenerator: (req) => `${name}:${limitKeyOf(req.clientIp)}`,
      errorResponseBuilder: (_req, context) => tooMany('Too many requests from this address', Math.max(1, Math.ceil(context.ttl / 1000))),
    });
    await limit.call(this, request, reply);
  };
}
