import { AppError, cleanText, LIMITS } from '@nltrade/core';
import type { CompiledQuery, InferResult, Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { MasterKey } from '../crypto/master-key.ts';
import { generateRsaKey, maxPrimes } from '../crypto/rsa-keygen.ts';
import type { Database } from '../storage/schema.ts';
import { hashToken, newToken, plausibleToken } from './tokens.ts';

export interface Merchant {
  readonly id: string;
  readonly name: string;
  /** A sandbox merchant's invoices are served by the simulated trader (workers/sandbox-trader.ts), never by real ones. */
  readonly sandbox: boolean;
}

const merchantOf = (row: { id: number; name: string; sandbox: number }): Merchant => ({
  id: String(row.id),
  name: row.name,
  sandbox: Number(row.sandbox) === 1,
});

export interface MerchantAuth {
  readonly merchant: Merchant;
  /** The current key first, then the most recently retired ones. */
  readonly keys: readonly MerchantKey[];
}

/**
 * How long a merchant's token and key list may be reused without asking the database. A
 * key rotated by another process is seen within this time; callers that fail to decrypt
 * with a cached key list ask again with `fresh` (see LegacyApi), so nobody is refused.
 */
const AUTH_CACHE_MS = 1000;
const AUTH_CACHE_MAX = 10_000;

export interface MerchantKey {
  readonly id: number;
  readonly bits: number;
  readonly state: 'current' | 'retired';
}

/** A live merchant's own sandbox merchant. */
export interface SandboxState {
  readonly enabled: boolean;
  /** Null until it is first switched on. */
  readonly merchantId: string | null;
}

/** How many retired keys are still tried, so their users are told "Your key is too old". */
export const RETIRED_KEYS_RECOGNISED = 2;

/** Stands for the token hash in the compiled query; replaced by the real one on every run. */
const HASH_PARAMETER = '\u0000hash';

const authQuery = (db: Kysely<Database>) =>
  db
    .selectFrom('merchants')
    .innerJoin('merchant_keys', 'merchant_keys.merchant_id', 'merchants.id')
    .select([
      'merchants.id as merchant_id',
      'merchants.name',
      'merchants.sandbox',
      'merchant_keys.id as key_id',
      'merchant_keys.bits',
      'merchant_keys.state',
    ])
    .where('merchants.token_hash', '=', HASH_PARAMETER)
    .where('merchants.disabled_at', 'is', null)
    .orderBy('merchant_keys.id', 'desc')
    .limit(RETIRED_KEYS_RECOGNISED + 1);

type AuthRow = InferResult<ReturnType<typeof authQuery>>[number];

export class MerchantService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #masterKey: MasterKey;
  readonly #keyBits: number;
  readonly #keyPrimes: number;
  readonly #authCache = new Map<string, { auth: MerchantAuth; expires: number }>();
  /**
   * The legacy API asks for a merchant's keys at least once a second per merchant, and again
   * on every request that fails to decrypt (a flood of those included): compiled once, since
   * building and compiling the query costs more than running it.
   */
  readonly #authQuery: CompiledQuery<AuthRow>;
  readonly #hashIndex: number;

  /** `keyPrimes` 0: the most primes the key size allows (crypto/rsa-keygen.ts says why); 2: classic keys. */
  constructor(db: Kysely<Database>, clock: Clock, masterKey: MasterKey, keyBits: number, keyPrimes = 2) {
    this.#db = db;
    this.#clock = clock;
    this.#masterKey = masterKey;
    this.#keyBits = keyBits;
    this.#keyPrimes = keyPrimes;
    this.#authQuery = authQuery(db).compile();
    this.#hashIndex = this.#authQuery.parameters.indexOf(HASH_PARAMETER);
    if (this.#hashIndex < 0) throw new Error('The merchant key query lost its token parameter');
  }

  /**
   * Creates a merchant with a fresh access token (returned once, stored hashed) and key pair.
   * A sandbox merchant's token starts `nlm_test_`, and its invoices are simulated.
   */
  async create(name: string, options: { sandbox?: boolean } = {}): Promise<{ merchantId: string; accessToken: string; sandbox: boolean }> {
    const clean = cleanText(name, { field: 'name', max: LIMITS.accountNameChars, required: true });
    const sandbox = options.sandbox === true;
    const accessToken = newToken('merchant', { sandbox });
    // Generate before opening the transaction: it takes seconds at 4096 bits.
    const keys = await this.#generate();
    const merchantId = await this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('merchants')
        .values({ name: clean, token_hash: hashToken(accessToken), created_at: this.#clock.now(), sandbox: sandbox ? 1 : 0 })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.#insertKey(trx, row.id, keys);
      return row.id;
    });
    return { merchantId: String(merchantId), accessToken, sandbox };
  }

  /**
   * The merchant whose access token this is, or null. Answered from the same short cache as
   * the legacy API's (a token reissued or a merchant disabled here is refused at once; in
   * another process within AUTH_CACHE_MS): every v1 request would otherwise pay a round trip
   * for an answer that changes a few times a year.
   */
  async authenticate(token: unknown): Promise<Merchant | null> {
    return (await this.authenticateWithKeys(token))?.merchant ?? null;
  }

  /**
   * The merchant and its decryption keys (current first, then recently retired) in one
   * query: the legacy API's hot path pays a single round trip before the RSA work.
   */
  async authenticateWithKeys(token: unknown, options: { fresh?: boolean } = {}): Promise<MerchantAuth | null> {
    if (!plausibleToken(token)) return null;
    const hash = hashToken(token);
    const now = this.#clock.now();
    const hit = this.#authCache.get(hash);
    if (hit && !options.fresh && hit.expires > now) return hit.auth;
    const parameters = [...this.#authQuery.parameters];
    parameters[this.#hashIndex] = hash;
    const { rows } = await this.#db.executeQuery<AuthRow>({ ...this.#authQuery, parameters });
    const first = rows[0];
    if (!first) return null;
    const keys = rows.map((r) => ({ id: r.key_id, bits: r.bits, state: r.state }));
    const auth: MerchantAuth = {
      merchant: merchantOf({ id: first.merchant_id, name: first.name, sandbox: first.sandbox }),
      keys: [...keys.filter((k) => k.state === 'current'), ...keys.filter((k) => k.state === 'retired')],
    };
    // Unknown tokens are never cached, so a burst of guesses cannot crowd out real merchants.
    if (this.#authCache.size >= AUTH_CACHE_MAX) this.#authCache.clear();
    this.#authCache.set(hash, { auth, expires: now + AUTH_CACHE_MS });
    return auth;
  }

  async get(merchantId: string): Promise<Merchant | null> {
    const id = Number(merchantId);
    if (!Number.isSafeInteger(id)) return null;
    const row = await this.#db.selectFrom('merchants').select(['id', 'name', 'sandbox']).where('id', '=', id).executeTakeFirst();
    return row ? merchantOf(row) : null;
  }

  /** Every merchant, newest first (an operator's list: a few hundred rows at most). */
  async list(): Promise<Array<Merchant & { createdAt: number; disabled: boolean }>> {
    const rows = await this.#db
      .selectFrom('merchants')
      .select(['id', 'name', 'sandbox', 'created_at', 'disabled_at'])
      .orderBy('id', 'desc')
      .execute();
    return rows.map((r) => ({ ...merchantOf(r), createdAt: Number(r.created_at), disabled: r.disabled_at !== null }));
  }

  /** The merchant's own sandbox: whether it has one, whether it is on, and its id. */
  async sandboxOf(merchantId: string): Promise<SandboxState> {
    const merchant = await this.get(merchantId);
    if (!merchant) throw new AppError('NOT_FOUND', `No merchant with id ${merchantId}`);
    if (merchant.sandbox) throw new AppError('FORBIDDEN', 'This is a sandbox merchant already');
    const twin = await this.#db
      .selectFrom('merchants')
      .select(['id', 'disabled_at'])
      .where('sandbox_for', '=', Number(merchant.id))
      .executeTakeFirst();
    return twin ? { enabled: twin.disabled_at === null, merchantId: String(twin.id) } : { enabled: false, merchantId: null };
  }

  /**
   * Switches the merchant's own sandbox on or off. On for the first time makes a sandbox
   * merchant (its invoices served by the simulated trader, no real money) and returns its
   * access token, once; on again enables it with the same token; off disables it, so its
   * token is refused.
   */
  async setSandbox(merchantId: string, enabled: boolean): Promise<SandboxState & { accessToken?: string }> {
    const state = await this.sandboxOf(merchantId);
    if (state.merchantId === null) {
      if (!enabled) return state;
      const merchant = (await this.get(merchantId)) as Merchant;
      const made = await this.create(`${merchant.name} (sandbox)`, { sandbox: true });
      try {
        await this.#db
          .updateTable('merchants')
          .set({ sandbox_for: Number(merchant.id) })
          .where('id', '=', Number(made.merchantId))
          .execute();
      } catch (err) {
        // Switched on twice at once: the other one's sandbox is the merchant's (the unique
        // index decided); this one is disabled and never handed out.
        await this.setDisabled(made.merchantId, true);
        const winner = await this.sandboxOf(merchantId);
        if (winner.merchantId === null) throw err;
        return this.setSandbox(merchantId, true);
      }
      return { enabled: true, merchantId: made.merchantId, accessToken: made.accessToken };
    }
    if (state.enabled !== enabled) await this.setDisabled(state.merchantId, !enabled);
    return { enabled, merchantId: state.merchantId };
  }

  /**
   * Disables (or enables again) a merchant: its access token and its console users are
   * refused from now on (other processes: when their short cache runs out). Invoices already
   * under way run to their end, so no payer is left with a dead page.
   */
  async setDisabled(merchantId: string, disabled: boolean): Promise<void> {
    const merchant = await this.get(merchantId);
    if (!merchant) throw new AppError('NOT_FOUND', `No merchant with id ${merchantId}`);
    await this.#db
      .updateTable('merchants')
      .set({ disabled_at: disabled ? this.#clock.now() : null })
      .where('id', '=', Number(merchant.id))
      .execute();
    this.#authCache.clear();
  }

  /**
   * A new access token for the merchant (returned once, stored hashed); the old one stops
   * working at once here, and in other processes when their short cache runs out.
   */
  async reissueToken(merchantId: string): Promise<string> {
    const merchant = await this.get(merchantId);
    if (!merchant) throw new AppError('NOT_FOUND', `No merchant with id ${merchantId}`);
    const accessToken = newToken('merchant', { sandbox: merchant.sandbox });
    await this.#db
      .updateTable('merchants')
      .set({ token_hash: hashToken(accessToken) })
      .where('id', '=', Number(merchant.id))
      .execute();
    this.#authCache.clear();
    return accessToken;
  }

  /** Makes a new current key; the previous one is retired (still recognised, never accepted). */
  async rotateKey(merchantId: string): Promise<MerchantKey> {
    const merchant = await this.get(merchantId);
    if (!merchant) throw new AppError('NOT_FOUND', `No merchant with id ${merchantId}`);
    const keys = await this.#generate();
    const rotated = await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('merchant_keys')
        .set({ state: 'retired', retired_at: this.#clock.now() })
        .where('merchant_id', '=', Number(merchant.id))
        .where('state', '=', 'current')
        .execute();
      const id = await this.#insertKey(trx, Number(merchant.id), keys);
      return { id, bits: this.#keyBits, state: 'current' as const };
    });
    this.#authCache.clear();
    return rotated;
  }

  async currentPublicPem(merchantId: string): Promise<string> {
    const row = await this.#db
      .selectFrom('merchant_keys')
      .select('public_pem')
      .where('merchant_id', '=', Number(merchantId))
      .where('state', '=', 'current')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    if (!row) throw new AppError('INTERNAL', 'The merchant has no current key');
    return row.public_pem;
  }

  /** The PKCS#8 PEM of a private key, decrypted with the master key. */
  async privateKeyPem(keyId: number): Promise<string> {
    const row = await this.#db
      .selectFrom('merchant_keys')
      .select(['private_key_enc', 'merchant_id'])
      .where('id', '=', keyId)
      .executeTakeFirst();
    if (!row) throw new AppError('INTERNAL', `Key ${keyId} is missing`);
    return this.#masterKey.decrypt(row.private_key_enc, `merchant-key:${row.merchant_id}`);
  }

  async #generate(): Promise<{ publicPem: string; privatePem: string }> {
    return generateRsaKey(this.#keyBits, this.#keyPrimes || maxPrimes(this.#keyBits));
  }

  async #insertKey(trx: Kysely<Database>, merchantId: number, keys: { publicPem: string; privatePem: string }): Promise<number> {
    const row = await trx
      .insertInto('merchant_keys')
      .values({
        merchant_id: merchantId,
        public_pem: keys.publicPem,
        private_key_enc: this.#masterKey.encrypt(keys.privatePem, `merchant-key:${merchantId}`),
        bits: this.#keyBits,
        state: 'current',
        created_at: this.#clock.now(),
        retired_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }
}
