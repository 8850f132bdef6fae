import { AppError, CONSOLE_ROLES, type ConsoleRole, cleanText, LIMITS } from '@nltrade/core';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../clock.ts';
import type { ConsoleUsersTable, Database } from '../storage/schema.ts';
import { checkPassword, type PasswordHasher } from './passwords.ts';
import { hashToken, newToken } from './tokens.ts';

export interface ConsoleUser {
  readonly id: string;
  readonly name: string;
  readonly role: ConsoleRole;
  /** The trader's or administrator's account; null for merchant users. */
  readonly accountId: string | null;
  /** The merchant a merchant user acts for; null for the others. */
  readonly merchantId: string | null;
  readonly disabled: boolean;
  readonly disabledAt: number | null;
  readonly createdAt: number;
  readonly passwordChangedAt: number;
}

export interface CreateConsoleUser {
  name: string;
  password: string;
  role: ConsoleRole;
  /** Trader or administrator: the account to act as; absent, a new account of that name is made. */
  accountId?: string | undefined;
  /** Merchant users: required. */
  merchantId?: string | undefined;
}

/** The key a name is looked up by: "Anna", "ANNA" and "Anna" in another Unicode form are one login. */
export function nameKeyOf(name: string): string {
  return name.trim().normalize('NFKC').toLowerCase();
}

type Row = Selectable<ConsoleUsersTable>;

export function consoleUserOf(row: Row): ConsoleUser {
  return {
    id: String(row.id),
    name: row.name,
    role: row.role,
    accountId: row.account_id === null ? null : String(row.account_id),
    merchantId: row.merchant_id === null ? null : String(row.merchant_id),
    disabled: row.disabled_at !== null,
    disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
    createdAt: Number(row.created_at),
    passwordChangedAt: Number(row.password_changed_at),
  };
}

const isId = (value: string | undefined): value is string => value !== undefined && /^[0-9]{1,18}$/.test(value);

/**
 * Web console logins. Each acts as an existing principal: a trader or administrator account
 * (so every check the API makes of a token applies to the console too) or a merchant.
 */
export class ConsoleUserService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #hasher: PasswordHasher;

  constructor(db: Kysely<Database>, clock: Clock, hasher: PasswordHasher) {
    this.#db = db;
    this.#clock = clock;
    this.#hasher = hasher;
  }

  get hasher(): PasswordHasher {
    return this.#hasher;
  }

  /**
   * A new login. A trader or administrator without `accountId` gets a new account of the
   * same name, made in the same transaction; its API token is returned (shown once) and
   * otherwise unknown to anyone.
   */
  async create(input: CreateConsoleUser): Promise<{ id: string; accountId: string | null; merchantId: string | null; token?: string }> {
    const name = cleanText(input.name, { field: 'name', max: LIMITS.accountNameChars, required: true });
    if (!CONSOLE_ROLES.includes(input.role)) {
      throw new AppError('VALIDATION_FAILED', 'role must be trader, admin or merchant', { param: 'role' });
    }
    const password = checkPassword(input.password);
    const nameKey = nameKeyOf(name);
    if (input.role === 'merchant') {
      if (!isId(input.merchantId))
        throw new AppError('VALIDATION_FAILED', 'a merchant user needs its merchant id', { param: 'merchant_id' });
      if (input.accountId !== undefined) throw new AppError('VALIDATION_FAILED', 'a merchant user has no account', { param: 'account_id' });
    } else if (input.merchantId !== undefined) {
      throw new AppError('VALIDATION_FAILED', `a ${input.role} has no merchant`, { param: 'merchant_id' });
    } else if (input.accountId !== undefined && !isId(input.accountId)) {
      throw new AppError('NOT_FOUND', `No account with id ${input.accountId}`);
    }
    // Checked before the (slow) hash, and again by the unique index when two race.
    await this.#ensureFree(nameKey);
    const passwordHash = await this.#hasher.hash(password);
    const now = this.#clock.now();
    try {
      return await this.#db.transaction().execute(async (trx) => {
        let accountId: number | null = null;
        let token: string | undefined;
        if (input.role === 'merchant') {
          const merchant = await trx.selectFrom('merchants').select('id').where('id', '=', Number(input.merchantId)).executeTakeFirst();
          if (!merchant) throw new AppError('NOT_FOUND', `No merchant with id ${input.merchantId}`);
        } else if (input.accountId !== undefined) {
          const account = await trx
            .selectFrom('accounts')
            .select(['id', 'role'])
            .where('id', '=', Number(input.accountId))
            .executeTakeFirst();
          if (!account) throw new AppError('NOT_FOUND', `No account with id ${input.accountId}`);
          if (account.role !== input.role) {
            throw new AppError('VALIDATION_FAILED', `account ${input.accountId} is a ${account.role}, not a ${input.role}`, {
              param: 'account_id',
            });
          }
          accountId = Number(account.id);
        } else {
          token = newToken(input.role);
          const account = await trx
            .insertInto('accounts')
            .values({ role: input.role, name, token_hash: hashToken(token), created_at: now })
            .returning('id')
            .executeTakeFirstOrThrow();
          accountId = Number(account.id);
        }
        const merchantId = input.role === 'merchant' ? Number(input.merchantId) : null;
        const row = await trx
          .insertInto('console_users')
          .values({
            name,
            name_key: nameKey,
            password_hash: passwordHash,
            role: input.role,
            account_id: accountId,
            merchant_id: merchantId,
            disabled_at: null,
            created_at: now,
            password_changed_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        return {
          id: String(row.id),
          accountId: accountId === null ? null : String(accountId),
          merchantId: merchantId === null ? null : String(merchantId),
          ...(token !== undefined && { token }),
        };
      });
    } catch (err) {
      if (!(err instanceof AppError) && (await this.findByName(name))) throw taken(name);
      throw err;
    }
  }

  /** A trader or administrator with a new account of the same name: its API token (shown once) and the login. */
  async createStaff(
    role: 'trader' | 'admin',
    name: string,
    password: string,
  ): Promise<{ userId: string; accountId: string; token: string }> {
    const made = await this.create({ name, password, role });
    if (made.accountId === null || made.token === undefined) throw new Error('a staff login is made with its account');
    return { userId: made.id, accountId: made.accountId, token: made.token };
  }

  /** A new password for the login `name`; every session it has is signed out. */
  async setPassword(name: string, password: string): Promise<ConsoleUser> {
    checkPassword(password);
    const user = await this.findByName(name);
    if (!user) throw new AppError('NOT_FOUND', `No console user named "${name}"`);
    const passwordHash = await this.#hasher.hash(password);
    const now = this.#clock.now();
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('console_users')
        .set({ password_hash: passwordHash, password_changed_at: now })
        .where('id', '=', Number(user.id))
        .execute();
      await revokeAll(trx, Number(user.id), now);
    });
    return this.get(user.id);
  }

  /** Keeps the password but replaces its hash (made with an older cost) after a sign-in proved it. */
  async rehash(id: string, password: string, previousHash: string): Promise<void> {
    const passwordHash = await this.#hasher.hash(password);
    // Only if nobody changed the password meanwhile.
    await this.#db
      .updateTable('console_users')
      .set({ password_hash: passwordHash })
      .where('id', '=', Number(id))
      .where('password_hash', '=', previousHash)
      .execute();
  }

  /**
   * The user can no longer sign in, and its sessions end at once. A trader's or
   * administrator's account stops with it: its API token is refused too, so a person an
   * administrator disabled cannot go on working through the API.
   */
  async disable(id: string): Promise<ConsoleUser> {
    const user = await this.get(id);
    const now = this.#clock.now();
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('console_users')
        .set({ disabled_at: now })
        .where('id', '=', Number(id))
        .where('disabled_at', 'is', null)
        .execute();
      if (user.accountId !== null) {
        await trx.updateTable('accounts').set({ disabled_at: now }).where('id', '=', Number(user.accountId)).execute();
      }
      await revokeAll(trx, Number(user.id), now);
    });
    return this.get(id);
  }

  async enable(id: string): Promise<ConsoleUser> {
    const user = await this.get(id);
    await this.#db.transaction().execute(async (trx) => {
      await trx.updateTable('console_users').set({ disabled_at: null }).where('id', '=', Number(id)).execute();
      if (user.accountId !== null) {
        await trx.updateTable('accounts').set({ disabled_at: null }).where('id', '=', Number(user.accountId)).execute();
      }
    });
    return this.get(id);
  }

  /** Every login, oldest first. */
  async list(): Promise<ConsoleUser[]> {
    const rows = await this.#db.selectFrom('console_users').selectAll().orderBy('id').execute();
    return rows.map(consoleUserOf);
  }

  /** The user with this id; NOT_FOUND when there is none. */
  async get(id: string): Promise<ConsoleUser> {
    const user = await this.find(id);
    if (!user) throw new AppError('NOT_FOUND', `No console user with id ${id}`);
    return user;
  }

  async find(id: string): Promise<ConsoleUser | null> {
    if (!isId(id)) return null;
    const row = await this.#db.selectFrom('console_users').selectAll().where('id', '=', Number(id)).executeTakeFirst();
    return row ? consoleUserOf(row) : null;
  }

  async findByName(name: string): Promise<ConsoleUser | null> {
    const row = await this.findRowByName(name);
    return row ? consoleUserOf(row) : null;
  }

  /** With the password hash: for signing in only. */
  async findRowByName(name: string): Promise<Row | undefined> {
    if (typeof name !== 'string' || name.length > LIMITS.accountNameChars * 4) return undefined;
    return this.#db.selectFrom('console_users').selectAll().where('name_key', '=', nameKeyOf(name)).executeTakeFirst();
  }

  async #ensureFree(nameKey: string): Promise<void> {
    const row = await this.#db.selectFrom('console_users').select('name').where('name_key', '=', nameKey).executeTakeFirst();
    if (row) throw taken(row.name);
  }
}

function taken(name: string): AppError {
  return new AppError('VALIDATION_FAILED', `a console user named "${name}" already exists`, { param: 'name' });
}

async function revokeAll(db: Kysely<Database>, userId: number, now: number): Promise<void> {
  await db.updateTable('console_sessions').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
}
