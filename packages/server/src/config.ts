import path from 'node:path';
import { AppError, parseRate } from '@nltrade/core';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** A postgres:// URL selects PostgreSQL; absent means the embedded SQLite in dataDir. */
  readonly databaseUrl: string | undefined;
  readonly rsaKeyBits: number;
  /** UAH per unit of the settlement currency, a decimal string. */
  readonly rate: string;
  readonly paymentTimeoutSeconds: number;
  readonly acceptTimeoutSeconds: number;
  readonly traderCheckTimeoutSeconds: number;
  /** A trader who took an invoice must give a card within this, or the invoice goes back to the queue. */
  readonly cardTimeoutSeconds: number;
  /** A payer asked for a receipt photo must send it within this, or an administrator decides without. */
  readonly photoTimeoutSeconds: number;
  /** Base64 or hex 32-byte key; when absent a key file in dataDir is used (made on first start). */
  readonly masterKey: string | undefined;
  /** CIDRs whose X-Forwarded-For is believed. */
  readonly trustProxy: readonly string[];
  /** Number of RSA worker threads; 0 means one per CPU. */
  readonly rsaThreads: number;
  /** Public base URL put in front of receipt-photo links (`approve_photo`); unset, they are paths (`/v1/photos/<id>`). */
  readonly publicUrl: string | undefined;
  readonly logLevel: string;
  /** Open realtime sockets one client IP may hold. */
  readonly maxSocketsPerIp: number;
  /** Requests with an unknown token one IP may make per minute before it is refused. */
  readonly authFailuresPerMinute: number;
  /** Requests to the anonymous checkout API one IP may make per minute. */
  readonly checkoutRequestsPerMinute: number;
}

function int(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new AppError('VALIDATION_FAILED', `${name} must be an integer from ${min} to ${max} (got "${value}")`);
  }
  return n;
}

export type ConfigOverrides = Partial<{ -readonly [K in keyof Config]: Config[K] }>;

/** Reads the configuration from the environment; explicit overrides (CLI flags) win. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const databaseUrl = overrides.databaseUrl ?? (env.DATABASE_URL || undefined);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new AppError('VALIDATION_FAILED', 'DATABASE_URL must be a postgres:// URL (leave it unset for the embedded database)');
  }
  const rate = overrides.rate ?? env.NLTRADE_RATE ?? '41.50';
  parseRate(rate);
  const rsaKeyBits = overrides.rsaKeyBits ?? int('RSA_KEY_BITS', env.RSA_KEY_BITS, 4096, 2048, 8192);
  if (rsaKeyBits % 8 !== 0) throw new AppError('VALIDATION_FAILED', 'RSA_KEY_BITS must be a multiple of 8');
  const config: Config = {
    port: overrides.port ?? int('PORT', env.PORT, 8080, 0, 65535),
    host: overrides.host ?? (env.HOST || '127.0.0.1'),
    dataDir: path.resolve(overrides.dataDir ?? (env.DATA_DIR || './data')),
    databaseUrl,
    rsaKeyBits,
    rate,
    paymentTimeoutSeconds: overrides.paymentTimeoutSeconds ?? int('PAYMENT_TIMEOUT', env.PAYMENT_TIMEOUT, 960, 30, 86_400),
    acceptTimeoutSeconds: overrides.acceptTimeoutSeconds ?? int('ACCEPT_TIMEOUT', env.ACCEPT_TIMEOUT, 1800, 30, 604_800),
    traderCheckTimeoutSeconds:
      overrides.traderCheckTimeoutSeconds ?? int('TRADER_CHECK_TIMEOUT', env.TRADER_CHECK_TIMEOUT, 1800, 30, 604_800),
    cardTimeoutSeconds: overrides.cardTimeoutSeconds ?? int('CARD_TIMEOUT', env.CARD_TIMEOUT, 300, 30, 86_400),
    photoTimeoutSeconds: overrides.photoTimeoutSeconds ?? int('PHOTO_TIMEOUT', env.PHOTO_TIMEOUT, 1800, 30, 604_800),
    masterKey: overrides.masterKey ?? (env.NLTRADE_MASTER_KEY || undefined),
    trustProxy:
      overrides.trustProxy ??
      (env.TRUST_PROXY
        ? env.TRUST_PROXY.split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : []),
    rsaThreads: overrides.rsaThreads ?? int('RSA_THREADS', env.RSA_THREADS, 0, 0, 64),
    publicUrl: overrides.publicUrl ?? (env.PUBLIC_URL || undefined),
    logLevel: overrides.logLevel ?? (env.LOG_LEVEL || 'info'),
    maxSocketsPerIp: overrides.maxSocketsPerIp ?? int('MAX_SOCKETS_PER_IP', env.MAX_SOCKETS_PER_IP, 200, 1, 1_000_000),
    authFailuresPerMinute:
      overrides.authFailuresPerMinute ?? int('RATE_LIMIT_AUTH_FAILURES', env.RATE_LIMIT_AUTH_FAILURES, 60, 1, 1_000_000),
    checkoutRequestsPerMinute:
      overrides.checkoutRequestsPerMinute ?? int('RATE_LIMIT_CHECKOUT', env.RATE_LIMIT_CHECKOUT, 300, 1, 1_000_000),
  };
  return config;
}
