import { AppError } from '@nltrade/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Account, Role } from '../services/accounts.ts';
import type { Merchant } from '../services/merchants.ts';
import type { Principal } from '../services/principal.ts';
import { plausibleToken } from '../services/tokens.ts';
import type { System } from '../system.ts';

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

/** Accounts and merchants share the header on routes both may use (proof photos). */
export async function requirePrincipal(system: System, request: FastifyRequest): Promise<Principal> {
  const principal = await principalOf(system, bearerToken(request));
  if (!principal) throw new AppError('UNAUTHORIZED');
  return principal;
}

const accounts = new WeakMap<FastifyRequest, Account>();

/**
 * Authenticates every route of the (encapsulated) plugin before its body is parsed or
 * validated, so an anonymous caller learns nothing about the expected input.
 */
export function guardRole(app: FastifyInstance, system: System, role: Role): void {
  app.addHook('onRequest', async (request) => {
    accounts.set(request, await requireAccount(system, request, role));
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
 * same token as the legacy API), before the body is parsed or validated.
 */
export function guardMerchant(app: FastifyInstance, system: System): void {
  app.addHook('onRequest', async (request) => {
    const merchant = await system.merchants.authenticate(bearerToken(request));
    if (!merchant) throw new AppError('UNAUTHORIZED');
    merchants.set(request, merchant);
  });
}

/** The merchant `guardMerchant` authenticated for this request. */
export function merchantOf(request: FastifyRequest): Merchant {
  const merchant = merchants.get(request);
  if (!merchant) throw new AppError('UNAUTHORIZED');
  return merchant;
}
