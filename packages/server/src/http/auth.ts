import { AppError } from '@nltrade/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Account, Role } from '../services/accounts.ts';
import type { Merchant } from '../services/merchants.ts';
import type { Principal } from '../services/principal.ts';
import { type ConsoleSession, type SessionAuth, sameSecret } from '../services/sessions.ts';
import { plausibleToken } from '../services/tokens.ts';
import type { System } from '../system.ts';

export { SESSION_COOKIE } from '../services/sessions.ts';

/** The token of `Authorization: Bearer <token>`, or null when the header is absent or malformed. */
export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  const token = m?.[1];
  return token !== undefined && plausibleToken(token) ? token : null;
}

/** The account behind the Bearer token, which must have `role`; UNAUTHORIZED / FORBIDDEN otherwise. */
export async function requireAccount(system: System, request: FastifyRequest, role: Role): Promise<Account> {
  const account = await system.accounts.authenticate(bearerToken(request));
  if (!account) throw new AppError('UNAUTHORIZED');
  if (account.role !== role)
    throw new AppError('FORBIDDEN', role === 'admin' ? 'This needs an administrator token' : 'This needs a trader token');
  return account;
}

export type { Principal };

/** Whoever holds `token`: a trader or administrator account, or a merchant; null when nobody does. */
export async function principalOf(system: System, token: unknown): Promise<Principal | null> {
  if (typeof token !== 'string' || token.length === 0) return null;
  const account = await system.accounts.authenticate(token);
  if (account) return { kind: 'account', account };
  const merchant = await system.merchants.authenticate(token);
  if (merchant) return { kind: 'merchant', merchant };
  return null;
}

const sessions = new WeakMap<FastifyRequest, Promise<SessionAuth | null>>();

/** The console session the request's cookie names, looked up once per request; null without a live one. */
export function sessionOf(system: System, request: FastifyRequest): Promise<SessionAuth | null> {
  let auth = sessions.get(request);
  if (!auth) {
    auth = system.sessions.authOfCookieHeader(request.headers.cookie);
    sessions.set(request, auth);
  }
  return auth;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A browser sends the cookie with requests other sites make too; only the console's own page
 * knows the session's CSRF token, so every state-changing request made with the cookie must
 * carry it in X-CSRF-Token.
 */
export function checkCsrf(request: FastifyRequest, session: ConsoleSession): void {
  if (SAFE_METHODS.has(request.method)) return;
  const given = request.headers['x-csrf-token'];
  if (typeof given !== 'string' || !sameSecret(given, session.csrfToken)) throw new AppError('CSRF_FAILED');
}

/** The Authorization header wins whenever it is sent, valid or not: a bad token never falls back to the cookie. */
const usesBearer = (request: FastifyRequest) => request.headers.authorization !== undefined;

/** The principal of the cookie's session (CSRF checked); UNAUTHORIZED without a live session. */
async function sessionPrincipal(system: System, request: FastifyRequest, allowed?: (p: Principal) => string | null): Promise<Principal> {
  const auth = await sessionOf(system, request);
  if (!auth) {
    // An API client that forgot its header is told about the token, as always.
    if (request.headers.cookie === undefined) throw new AppError('UNAUTHORIZED');
    throw new AppError('UNAUTHORIZED', 'Sign in again: no session, or it has ended');
  }
  const refusal = allowed?.(auth.principal);
  if (refusal) throw new AppError('FORBIDDEN', refusal);
  checkCsrf(request, auth.session);
  return auth.principal;
}

/** Accounts and merchants share the header (or a console session) on routes both may use (proof photos). */
export async function requirePrincipal(system: System, request: FastifyRequest): Promise<Principal> {
  if (!usesBearer(request)) return sessionPrincipal(system, request);
  const principal = await principalOf(system, bearerToken(request));
  if (!principal) throw new AppError('UNAUTHORIZED');
  return principal;
}

const accounts = new WeakMap<FastifyRequest, Account>();

/**
 * Authenticates every route of the (encapsulated) plugin before its body is parsed or
 * validated, so an anonymous caller learns nothing about the expected input: the Bearer
 * token when one is sent, else the console session cookie (with its CSRF token).
 */
export function guardRole(app: FastifyInstance, system: System, role: Role): void {
  const refusal = role === 'admin' ? 'This needs an administrator' : 'This needs a trader';
  app.addHook('onRequest', async (request) => {
    if (usesBearer(request)) {
      accounts.set(request, await requireAccount(system, request, role));
      return;
    }
    const principal = await sessionPrincipal(system, request, (p) => (p.kind === 'account' && p.account.role === role ? null : refusal));
    if (principal.kind === 'account') accounts.set(request, principal.account);
  });
}

/** The account `guardRole` authenticated for this request. */
export function accountOf(request: FastifyRequest): Account {
  const account = accounts.get(request);
  if (!account) throw new AppError('UNAUTHORIZED');
  return account;
}

const merchants = new WeakMap<FastifyRequest, Merchant>();

/**
 * Authenticates every route of the (encapsulated) plugin with a merchant's access token (the
 * same token as the legacy API) or a merchant user's console session, before the body is
 * parsed or validated.
 */
export function guardMerchant(app: FastifyInstance, system: System): void {
  app.addHook('onRequest', async (request) => {
    if (usesBearer(request)) {
      const merchant = await system.merchants.authenticate(bearerToken(request));
      if (!merchant) throw new AppError('UNAUTHORIZED');
      merchants.set(request, merchant);
      return;
    }
    const principal = await sessionPrincipal(system, request, (p) => (p.kind === 'merchant' ? null : 'This needs a merchant'));
    if (principal.kind === 'merchant') merchants.set(request, principal.merchant);
  });
}

/** The merchant `guardMerchant` authenticated for this request. */
export function merchantOf(request: FastifyRequest): Merchant {
  const merchant = merchants.get(request);
  if (!merchant) throw new AppError('UNAUTHORIZED');
  return merchant;
}
