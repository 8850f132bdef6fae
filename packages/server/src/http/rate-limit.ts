import { AppError } from '@nltrade/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../clock.ts';

/**
 * Counts events per client IP in fixed one-minute windows. In memory and per process: it
 * blunts guessing and flooding from one address, it is not an accounting system.
 */
export class IpCounter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #counts = new Map<string, { count: number; resetAt: number }>();
  #nextPrune = 0;

  constructor(limit: number, clock: Clock, windowMs = 60_000) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  /** Seconds until the IP may try again, or 0 when it is under the limit. */
  blockedFor(ip: string): number {
    const entry = this.#counts.get(ip);
    const now = this.#clock.now();
    if (!entry || entry.resetAt <= now || entry.count < this.#limit) return 0;
    return Math.max(1, Math.ceil((entry.resetAt - now) / 1000));
  }

  add(ip: string): void {
    const now = this.#clock.now();
    this.#prune(now);
    const entry = this.#counts.get(ip);
    if (!entry || entry.resetAt <= now) this.#counts.set(ip, { count: 1, resetAt: now + this.#windowMs });
    else entry.count++;
  }

  #prune(now: number): void {
    if (now < this.#nextPrune) return;
    this.#nextPrune = now + this.#windowMs;
    for (const [ip, entry] of this.#counts) if (entry.resetAt <= now) this.#counts.delete(ip);
  }
}

function refuse(reply: FastifyReply, seconds: number): never {
  reply.header('Retry-After', String(seconds));
  throw new AppError('RATE_LIMITED', `Too many requests from this address; try again in ${seconds} s`);
}

/**
 * An address that keeps presenting unknown tokens is refused for the rest of the minute
 * before any work is done, so tokens cannot be guessed at line rate. Merchants with valid
 * tokens are never counted, however busy they are.
 */
export function limitAuthFailures(app: FastifyInstance, perMinute: number, clock: Clock): void {
  const failures = new IpCounter(perMinute, clock);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const wait = failures.blockedFor(request.clientIp);
    if (wait > 0) refuse(reply, wait);
  });
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    if (reply.statusCode === 401) failures.add(request.clientIp);
  });
}

/** A per-IP request budget for one route scope (the payer's anonymous checkout routes). */
export function limitRequests(perMinute: number, clock: Clock) {
  const requests = new IpCounter(perMinute, clock);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const wait = requests.blockedFor(request.clientIp);
    if (wait > 0) refuse(reply, wait);
    requests.add(request.clientIp);
  };
}
