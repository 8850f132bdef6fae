import { AppError, cleanText, LIMITS } from '@nltrade/core';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Database } from '../storage/schema.ts';
import { hashToken, newToken, plausibleToken } from './tokens.ts';

export type Role = 'trader' | 'admin';

export interface Account {
  readonly id: string;
  readonly role: Role;
  readonly name: string;
}

/** Traders and administrators: named accounts with one hashed API token each. */
export class AccountService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;

  constructor(db: Kysely<Database>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async create(role: Role, name: string): Promise<{ id: string; token: string }> {
    const clean = cleanText(name, { field: 'name', max: LIMITS.accountNameChars, required: true });
    const token = newToken(role);
    const row = await this.#db
      .insertInto('accounts')
      .values({ role, name: clean, token_hash: hashToken(token), created_at: this.#clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: String(row.id), token };
  }

  async get(id: string): Promise<Account | null> {
    const n = Number(id);
    if (!Number.isSafeInteger(n)) return null;
    const row = await this.#db.selectFrom('accounts').select(['id', 'role', 'name']).where('id', '=', n).executeTakeFirst();
    return row ? { id: String(row.id), role: row.role, name: row.name } : null;
  }

  /** A new API token for the account (returned once, stored hashed); the old one stops working. */
  async reissueToken(id: string): Promise<string> {
    const account = await this.get(id);
    if (!account) throw new AppError('NOT_FOUND', `No trader or administrator with id ${id}`);
    const token = newToken(account.role);
    await this.#db
      .updateTable('accounts')
      .set({ token_hash: hashToken(token) })
      .where('id', '=', Number(account.id))
      .execute();
    return token;
  }

  async authenticate(token: unknown): Promise<Account | null> {
    if (!plausibleToken(token)) return null;
    const row = await this.#db
      .selectFrom('accounts')
      .select(['id', 'role', 'name'])
      .where('token_hash', '=', hashToken(token))
      .where('disabled_at', 'is', null)
      .executeTakeFirst();
    return row ? { id: String(row.id), role: row.role, name: row.name } : null;
  }
}
