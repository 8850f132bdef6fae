import {
  type Actor,
  AppError,
  RUNTIME_SETTING_KEYS,
  type RuntimeSettingChange,
  type RuntimeSettingKey,
  type RuntimeSettingView,
} from '@nltrade/core';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import { type Config, SETTINGS } from '../config.ts';
import type { Database } from '../storage/schema.ts';

/** The timeouts, as the invoice lifecycle reads them (seconds). */
export interface TimeoutSettings {
  readonly paymentTimeoutSeconds: number;
  readonly acceptTimeoutSeconds: number;
  readonly traderCheckTimeoutSeconds: number;
  readonly cardTimeoutSeconds: number;
  readonly photoTimeoutSeconds: number;
}

/**
 * What may change while the system runs. Only the timeouts: each applies from the next
 * transition on (a deadline already set stays as it was), so a change never moves a deadline
 * a payer or a trader was shown. Keys are the configuration's environment names.
 */
const RUNTIME_KEYS = {
  PAYMENT_TIMEOUT: 'paymentTimeoutSeconds',
  ACCEPT_TIMEOUT: 'acceptTimeoutSeconds',
  TRADER_CHECK_TIMEOUT: 'traderCheckTimeoutSeconds',
  CARD_TIMEOUT: 'cardTimeoutSeconds',
  PHOTO_TIMEOUT: 'photoTimeoutSeconds',
} as const satisfies Record<RuntimeSettingKey, keyof TimeoutSettings>;

const isKey = (key: unknown): key is RuntimeSettingKey => typeof key === 'string' && Object.hasOwn(RUNTIME_KEYS, key);

/**
 * Another process's change is seen within this long; this process's at once. The lifecycle
 * reads the timeouts on every transition, and a read per transition would cost each one a
 * round trip to the database for a value that changes a few times a year.
 */
export const RUNTIME_SETTINGS_CACHE_MS = 5000;

/** Settings an administrator changes at run time, each change kept with who made it and when. */
export class RuntimeSettingsService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #config: Config;
  #cached: { values: TimeoutSettings; until: number } | undefined;
  #loading: Promise<TimeoutSettings> | undefined;
  /** Bumped by every local change, so a read that began before it is not cached after it. */
  #generation = 0;

  constructor(db: Kysely<Database>, clock: Clock, config: Config) {
    this.#db = db;
    this.#clock = clock;
    this.#config = config;
  }

  /** The timeouts in force now. */
  async timeouts(): Promise<TimeoutSettings> {
    const cached = this.#cached;
    if (cached && cached.until > Date.now()) return cached.values;
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async list(): Promise<RuntimeSettingView[]> {
    const newest = await this.#newest();
    return RUNTIME_SETTING_KEYS.map((key) => {
      const configKey = RUNTIME_KEYS[key];
      const row = newest.get(key);
      return {
        key,
        value: row ? Number(row.value) : this.#config[configKey],
        configured: this.#config[configKey],
        doc: SETTINGS.find((s) => s.key === configKey)?.doc ?? '',
        changed_at: row ? Number(row.at) : null,
        changed_by: row ? `${row.actor_type}${row.actor_id ? `:${row.actor_id}` : ''}` : null,
      };
    });
  }

  /** Sets `key`, checked with the same bounds as its environment variable. */
  async set(key: unknown, value: unknown, actor: Actor): Promise<RuntimeSettingChange> {
    if (!isKey(key)) {
      throw new AppError('VALIDATION_FAILED', `key must be one of ${RUNTIME_SETTING_KEYS.join(', ')}`, { param: 'key' });
    }
    const spec = SETTINGS.find((s) => s.env === key);
    if (!spec) throw new AppError('INTERNAL', `No configuration entry for ${key}`);
    let parsed: number;
    try {
      parsed = spec.parse(typeof value === 'number' ? String(value) : typeof value === 'string' ? value : '') as number;
    } catch (err) {
      throw new AppError('VALIDATION_FAILED', `${key} ${err instanceof Error ? err.message : 'is not valid'}`, { param: 'value' });
    }
    const at = this.#clock.now();
    const row = await this.#db
      .insertInto('runtime_settings')
      .values({ key, value: String(parsed), actor_type: actor.type, actor_id: actor.id, at })
      .returning('id')
      .executeTakeFirstOrThrow();
    this.#generation++;
    this.#cached = undefined;
    this.#loading = undefined;
    return { id: String(row.id), key, value: parsed, actor_type: actor.type, actor_id: actor.id, at };
  }

  /** Changes, newest first (of one key when given). */
  async history(key?: unknown, limit = 100): Promise<RuntimeSettingChange[]> {
    if (key !== undefined && !isKey(key)) {
      throw new AppError('VALIDATION_FAILED', `key must be one of ${RUNTIME_SETTING_KEYS.join(', ')}`, { param: 'key' });
    }
    let q = this.#db
      .selectFrom('runtime_settings')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(Math.min(Math.max(limit, 1), 500));
    if (key !== undefined) q = q.where('key', '=', key);
    return (await q.execute())
      .filter((r) => isKey(r.key))
      .map((r) => ({
        id: String(r.id),
        key: r.key as RuntimeSettingKey,
        value: Number(r.value),
        actor_type: r.actor_type,
        actor_id: r.actor_id,
        at: Number(r.at),
      }));
  }

  async #newest() {
    const rows = await this.#db.selectFrom('runtime_settings').selectAll().orderBy('id', 'asc').execute();
    const newest = new Map<string, (typeof rows)[number]>();
    for (const r of rows) newest.set(r.key, r);
    return newest;
  }

  async #load(): Promise<TimeoutSettings> {
    const generation = this.#generation;
    const newest = await this.#newest();
    const values = Object.fromEntries(
      RUNTIME_SETTING_KEYS.map((key) => {
        const configKey = RUNTIME_KEYS[key];
        const row = newest.get(key);
        return [configKey, row ? Number(row.value) : this.#config[configKey]];
      }),
    ) as unknown as TimeoutSettings;
    if (generation === this.#generation) this.#cached = { values, until: Date.now() + RUNTIME_SETTINGS_CACHE_MS };
    return values;
  }
}
