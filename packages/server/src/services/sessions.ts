import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError, hasControlCharacters } from '@nltrade/core';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import { limitKeyOf } from '../http/client-ip.ts';
import type { Database } from '../storage/schema.ts';
import { type ConsoleUser, type ConsoleUserService, consoleUserOf, nameKeyOf } from './console-users.ts';
import type { Principal } from './principal.ts';

export const SESSION_COOKIE = 'nltrade_session';
/** A session nobody used for this long has ended. */
export const IDLE_MS = 12 * 60 * 60 * 1000;
/** However busy, a session ends this long after sign-in. */
export const ABSOLUTE_MS = 7 * 24 * 60 * 60 * 1000;
/** `last_seen_at` is written at most this often per session, not on every request. */
const TOUCH_MS = 60_000;
const USER_AGENT_MAX = 512;
const SWEEP_EVERY_MS = 10 * 60 * 1000;

/**
 * The sign-in throttle, per (name, client). The first FREE_FAILURES failures cost nothing;
 * after each further one the next attempt waits 1, 2, 4, 8, 16 s; from LOCK_AT on the name
 * is locked for that client for 15 min, doubling with each failure after that, up to a day.
 * Another client is never affected, so nobody can lock a name out from elsewhere; and a
 * client that stops failing for a day starts afresh.
 */
const FREE_FAILURES = 4;
const LOCK_AT = 10;
const FIRST_LOCK_MS = 15 * 60 * 1000;
const MAX_LOCK_MS = 24 * 60 * 60 * 1000;
const RESET_MS = MAX_LOCK_MS;

/** How long the next attempt must wait after `failures` failed ones. */
export function throttleWaitMs(failures: number): number {
  if (failures <= FREE_FAILURES) return 0;
  if (failures < LOCK_AT) return 1000 * 2 ** (failures - FREE_FAILURES - 1);
  return Math.min(MAX_LOCK_MS, FIRST_LOCK_MS * 2 ** Math.min(failures - LOCK_AT, 16));
}

export interface ConsoleSession {
  readonly id: string;
  readonly userId: string;
  readonly csrfToken: string;
  readonly ip: string;
  readonly userAgent: string | null;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  /** The absolute end; the session also ends IDLE_MS after `lastSeenAt`. */
  readonly expiresAt: number;
}

export interface SessionAuth {
  readonly principal: Principal;
  readonly session: ConsoleSession;
  readonly user: ConsoleUser;
}

export interface LoginResult {
  /** The cookie's value: shown to the browser once, stored only as its SHA-256. */
  readonly token: string;
  readonly csrfToken: string;
  readonly user: ConsoleUser;
  readonly expiresAt: number;
  readonly session: ConsoleSession;
}

export interface LoginClient {
  ip: string;
  userAgent?: string | undefined;
}

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Compares digests, so the time taken depends neither on where the two differ nor on their lengths. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The values of every `name` cookie in a Cookie header (browsers may send several, most specific path first). */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (typeof header !== 'string') return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    out.push(value);
  }
  return out;
}

/**
 * Console sessions: a random cookie token (32 bytes, base64url) that names a row holding
 * only its hash, a CSRF token handed to the page, an idle and an absolute expiry. Sign-in
 * checks the password with scrypt (PasswordHasher: bounded work) behind a per-(name, client)
 * throttle kept in the database, so every process shares it.
 */
export class SessionService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #users: ConsoleUserService;
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(db: Kysely<Database>, clock: Clock, users: ConsoleUserService) {
    this.#db = db;
    this.#clock = clock;
    this.#users = users;
  }

  /**
   * Signs `name` in: INVALID_CREDENTIALS for an unknown name, a wrong password and a disabled
   * user alike (each costing one hash); RATE_LIMITED with `retryAfterSeconds` while this
   * client must wait for this name; UNAVAILABLE while too many sign-ins are being hashed.
   */
  async login(name: unknown, password: unknown, client: LoginClient): Promise<LoginResult> {
    const hasher = this.#users.hasher;
    // No user's name has one; PostgreSQL could not even store it in the throttle's table.
    if (typeof name === 'string' && hasControlCharacters(name)) {
      throw new AppError('VALIDATION_FAILED', 'name must not contain control characters', { param: 'name' });
    }
    const nameKey = typeof name === 'string' ? nameKeyOf(name) : '';
    const ipKey = limitKeyOf(client.ip);
    await this.#sweep();
    // Checked before any work, and the attempt counted as a failure before its hash: a burst
    // of parallel guesses meets the throttle just as a sequence does.
    if (hasher.saturated) throw new AppError('UNAVAILABLE', 'Too many sign-ins at once; try again in a moment', { retryAfterSeconds: 1 });
    await this.#claimAttempt(nameKey, ipKey);
    const row = typeof name === 'string' && typeof password === 'string' ? await this.#users.findRowByName(name) : undefined;
    const { ok, stale } = await hasher.verify(typeof password === 'string' ? password : '', row?.password_hash ?? null);
    if (!row || !ok || row.disabled_at !== null) throw new AppError('INVALID_CREDENTIALS');
    await this.#db.deleteFrom('console_login_failures').where('name_key', '=', nameKey).where('ip_key', '=', ipKey).execute();
    if (stale) await this.#users.rehash(String(row.id), password as string, row.password_hash);

    const token = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    const now = this.#clock.now();
    const userAgent = cleanUserAgent(client.userAgent);
    const inserted = await this.#db
      .insertInto('console_sessions')
      .values({
        token_hash: sha256(token),
        csrf_token: csrfToken,
        user_id: row.id,
        ip: client.ip,
        user_agent: userAgent,
        created_at: now,
        last_seen_at: now,
        expires_at: now + ABSOLUTE_MS,
        revoked_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const session: ConsoleSession = {
      id: String(inserted.id),
      userId: String(row.id),
      csrfToken,
      ip: client.ip,
      userAgent,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + ABSOLUTE_MS,
    };
    return { token, csrfToken, user: consoleUserOf(row), expiresAt: session.expiresAt, session };
  }

  /** Who the session of `token` is, or null when it is unknown, signed out, expired or its user disabled. Marks it used. */
  async principalOfToken(token: unknown): Promise<SessionAuth | null> {
    if (typeof token !== 'string' || !TOKEN_RE.test(token)) return null;
    const row = await this.#db
      .selectFrom('console_sessions as s')
      .innerJoin('console_users as u', 'u.id', 's.user_id')
      .leftJoin('accounts as a', 'a.id', 'u.account_id')
      .leftJoin('merchants as m', 'm.id', 'u.merchant_id')
      .selectAll('u')
      .select([
        's.id as session_id',
        's.csrf_token',
        's.ip as session_ip',
        's.user_agent',
        's.created_at as session_created_at',
        's.last_seen_at',
        's.expires_at',
        's.revoked_at',
        'a.id as a_id',
        'a.role as a_role',
        'a.name as a_name',
        'm.id as m_id',
        'm.name as m_name',
        'm.sandbox as m_sandbox',
        'm.disabled_at as m_disabled_at',
      ])
      .where('s.token_hash', '=', sha256(token))
      .executeTakeFirst();
    if (!row) return null;
    const now = this.#clock.now();
    const lastSeen = Number(row.last_seen_at);
    if (row.revoked_at !== null || row.disabled_at !== null || now >= Number(row.expires_at) || now >= lastSeen + IDLE_MS) return null;
    let principal: Principal;
    if (row.role === 'merchant') {
      // A disabled merchant's users are signed out with it.
      if (row.m_id === null || row.m_name === null || row.m_disabled_at !== null) return null;
      principal = { kind: 'merchant', merchant: { id: String(row.m_id), name: row.m_name, sandbox: Number(row.m_sandbox) === 1 } };
    } else {
      if (row.a_id === null || row.a_role === null || row.a_name === null) return null;
      principal = { kind: 'account', account: { id: String(row.a_id), role: row.a_role, name: row.a_name } };
    }
    if (now - lastSeen >= TOUCH_MS) {
      await this.#db.updateTable('console_sessions').set({ last_seen_at: now }).where('id', '=', row.session_id).execute();
    }
    const session: ConsoleSession = {
      id: String(row.session_id),
      userId: String(row.id),
      csrfToken: row.csrf_token,
      ip: row.session_ip,
      userAgent: row.user_agent,
      createdAt: Number(row.session_created_at),
      lastSeenAt: now - lastSeen >= TOUCH_MS ? now : lastSeen,
      expiresAt: Number(row.expires_at),
    };
    return { principal, session, user: consoleUserOf(row) };
  }

  /** The principal of the session cookie in a Cookie header (socket handshakes); null without a live one. */
  async principalOfCookieHeader(cookieHeader: string | undefined): Promise<Principal | null> {
    return (await this.authOfCookieHeader(cookieHeader))?.principal ?? null;
  }

  async authOfCookieHeader(cookieHeader: string | undefined): Promise<SessionAuth | null> {
    // A stale cookie for a narrower path may come first; a few are tried, never an unbounded list.
    for (const token of cookieValues(cookieHeader, SESSION_COOKIE).slice(0, 3)) {
      const auth = await this.principalOfToken(token);
      if (auth) return auth;
    }
    return null;
  }

  /** The user's live sessions, most recently used first. */
  async list(userId: string): Promise<ConsoleSession[]> {
    if (!/^[0-9]{1,18}$/.test(userId)) return [];
    const now = this.#clock.now();
    const rows = await this.#db
      .selectFrom('console_sessions')
      .selectAll()
      .where('user_id', '=', Number(userId))
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .where('last_seen_at', '>', now - IDLE_MS)
      .orderBy('last_seen_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map((r) => ({
      id: String(r.id),
      userId: String(r.user_id),
      csrfToken: r.csrf_token,
      ip: r.ip,
      userAgent: r.user_agent,
      createdAt: Number(r.created_at),
      lastSeenAt: Number(r.last_seen_at),
      expiresAt: Number(r.expires_at),
    }));
  }

  /** Signs out one of the user's own sessions; NOT_FOUND for anyone else's (or one already ended). */
  async revoke(userId: string, sessionId: string): Promise<void> {
    const now = this.#clock.now();
    const done =
      /^[0-9]{1,18}$/.test(sessionId) && /^[0-9]{1,18}$/.test(userId)
        ? await this.#db
            .updateTable('console_sessions')
            .set({ revoked_at: now })
            .where('id', '=', Number(sessionId))
            .where('user_id', '=', Number(userId))
            .where('revoked_at', 'is', null)
            .where('expires_at', '>', now)
            .where('last_seen_at', '>', now - IDLE_MS)
            .executeTakeFirst()
        : undefined;
    if (!done || Number(done.numUpdatedRows) === 0) throw new AppError('NOT_FOUND', 'No such session of yours');
  }

  /** Signs out the session of `token`; nothing happens for a token that names none. */
  async logout(token: unknown): Promise<void> {
    if (typeof token !== 'string' || !TOKEN_RE.test(token)) return;
    await this.#db
      .updateTable('console_sessions')
      .set({ revoked_at: this.#clock.now() })
      .where('token_hash', '=', sha256(token))
      .where('revoked_at', 'is', null)
      .execute();
  }

  /**
   * Counts this attempt as a failure before its password is checked (a success clears the
   * count), or refuses it with the wait. Compare-and-set on the row, so concurrent attempts
   * each count, in every process.
   */
  async #claimAttempt(nameKey: string, ipKey: string): Promise<void> {
    const now = this.#clock.now();
    for (let tries = 0; tries < 5; tries++) {
      const row = await this.#db
        .selectFrom('console_login_failures')
        .select(['failures', 'last_failure_at', 'blocked_until'])
        .where('name_key', '=', nameKey)
        .where('ip_key', '=', ipKey)
        .executeTakeFirst();
      if (!row) {
        const r = await this.#db
          .insertInto('console_login_failures')
          .values({ name_key: nameKey, ip_key: ipKey, failures: 1, last_failure_at: now, blocked_until: now + throttleWaitMs(1) })
          .onConflict((oc) => oc.columns(['name_key', 'ip_key']).doNothing())
          .executeTakeFirst();
        if (Number(r.numInsertedOrUpdatedRows ?? 0) === 1) return;
        continue;
      }
      const lastFailure = Number(row.last_failure_at);
      const fresh = now - lastFailure >= RESET_MS;
      const blockedUntil = Number(row.blocked_until);
      if (!fresh && now < blockedUntil) throw tooMany(blockedUntil - now);
      const failures = fresh ? 1 : Number(row.failures) + 1;
      const r = await this.#db
        .updateTable('console_login_failures')
        .set({ failures, last_failure_at: now, blocked_until: now + throttleWaitMs(failures) })
        .where('name_key', '=', nameKey)
        .where('ip_key', '=', ipKey)
        .where('failures', '=', row.failures)
        .where('last_failure_at', '=', row.last_failure_at)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) return;
    }
    // Others kept winning the row: attempts are arriving faster than anyone types.
    throw tooMany(1000);
  }

  /** Now and then, rows that can never count again are deleted. */
  async #sweep(): Promise<void> {
    const now = this.#clock.now();
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    await this.#db
      .deleteFrom('console_sessions')
      .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', now - IDLE_MS), eb('revoked_at', 'is not', null)]))
      .execute();
    await this.#db
      .deleteFrom('console_login_failures')
      .where('last_failure_at', '<=', now - RESET_MS)
      .execute();
  }
}

function tooMany(waitMs: number): AppError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new AppError('RATE_LIMITED', `Too many failed sign-ins for this name from your address; try again in ${seconds} s`, {
    retryAfterSeconds: seconds,
  });
}

function cleanUserAgent(value: string | undefined): string | null {
  if (typeof value !== 'string' || value === '') return null;
  const text = hasControlCharacters(value) ? value.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ') : value;
  return text.slice(0, USER_AGENT_MAX);
}
