import os from 'node:os';
import path from 'node:path';
import { AppError, parseRate } from '@nltrade/core';
import { maxPrimes } from './crypto/rsa-keygen.ts';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** A postgres:// URL selects PostgreSQL; absent means the embedded SQLite in dataDir. */
  readonly databaseUrl: string | undefined;
  /** PostgreSQL: statements with parameters run as named prepared statements (off for poolers that cannot carry them). */
  readonly pgPreparedStatements: boolean;
  readonly rsaKeyBits: number;
  /** Primes in new merchant keys (2, classic, by default); 0 means the most the key size allows (see crypto/rsa-keygen.ts). */
  readonly rsaKeyPrimes: number;
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
  /** RSA jobs one merchant may have waiting; beyond it its requests get 503 (others are unaffected). */
  readonly rsaQueuePerMerchant: number;
  /** Public base URL put in front of receipt-photo links (`approve_photo`); unset, they are paths (`/v1/photos/<id>`). */
  readonly publicUrl: string | undefined;
  readonly logLevel: string;
  /** Open realtime sockets one client IP may hold. */
  readonly maxSocketsPerIp: number;
  /** Open HTTP connections (sockets included) one client IP may hold. */
  readonly maxConnectionsPerIp: number;
  /** A request (headers and body) must arrive whole within this. */
  readonly httpRequestTimeoutSeconds: number;
  /** The request headers must arrive within this. */
  readonly httpHeadersTimeoutSeconds: number;
  /** An idle keep-alive connection is closed after this. */
  readonly httpKeepAliveTimeoutSeconds: number;
  /** Requests with an unknown token one IP may make per minute before it is refused. */
  readonly authFailuresPerMinute: number;
  /** Requests to the anonymous checkout API one IP may make per minute. */
  readonly checkoutRequestsPerMinute: number;
  /** redis:// URL: limits shared by every process through Redis; unset, through PostgreSQL (or in-process on SQLite). */
  readonly redisUrl: string | undefined;
  /** Receipt photos decoded at once; 0 means one per CPU. */
  readonly photoDecodeThreads: number;
  /** Receipt photos waiting for a decoder; beyond it uploads get 503 with Retry-After. */
  readonly photoDecodeQueue: number;
  /** The largest receipt photo accepted, in pixels (width × height). */
  readonly photoMaxPixels: number;
  /** Serve /metrics on this port instead of the main one; unset, on the main port. */
  readonly metricsPort: number | undefined;
  /** Seconds a SIGTERM waits for in-flight requests before closing what is left. */
  readonly shutdownTimeoutSeconds: number;
  /** Server processes `nltrade serve` runs (PostgreSQL only for more than one). */
  readonly workers: number;
  /** The first retry of a failed webhook delivery waits about this long; each next one longer. */
  readonly webhookRetryBaseMs: number;
  /** How long a webhook delivery is retried before it fails, and an endpoint failing that long is disabled. */
  readonly webhookRetryForSeconds: number;
  /** One attempt of a webhook delivery may take this long. */
  readonly webhookTimeoutSeconds: number;
  /** Development and tests only: webhook URLs may be http and reach private or loopback addresses. */
  readonly webhookAllowPrivate: boolean;
  /** How long the first answer to an Idempotency-Key is kept and replayed. */
  readonly idempotencyTtlSeconds: number;
  /** How long the simulated sandbox trader takes for each of its moves. */
  readonly sandboxDelayMs: number;
  /** The code of the settlement currency merchants are credited in (`recive_value`). */
  readonly settlementCurrency: string;
  /** A merchant's fee, in basis points of the settlement value, unless set for that merchant. */
  readonly merchantFeeBps: number;
  /** A trader's reward, in basis points of the settlement value, unless set for that trader. */
  readonly traderRewardBps: number;
  /** Whether a trader needs an available deposit covering an invoice to take it. */
  readonly requireTraderDeposit: boolean;
}

export type ConfigOverrides = Partial<{ -readonly [K in keyof Config]: Config[K] }>;

type Parse<T> = (raw: string) => T;

/** One setting: where it comes from, its default, how it is read, and what it means. */
export interface Setting<K extends keyof Config = keyof Config> {
  readonly key: K;
  readonly env: string;
  /** The `nltrade serve` flag that sets it, when there is one. */
  readonly flag?: string;
  /** The default as written in the environment; undefined = unset. */
  readonly default: string | undefined;
  readonly parse: Parse<Config[K]>;
  /** One line for the README and the CLI usage. */
  readonly doc: string;
}

class Invalid extends Error {}

const integer =
  (min: number, max: number): Parse<number> =>
  (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new Invalid(`must be an integer from ${min} to ${max}`);
    return n;
  };
/** A switch: `1` on, `0` off. */
const flag: Parse<boolean> = (raw) => {
  if (raw !== '0' && raw !== '1') throw new Invalid('must be 0 or 1');
  return raw === '1';
};
const text: Parse<string> = (raw) => raw;
const optional = (raw: string): string | undefined => (raw === '' ? undefined : raw);

/**
 * Every setting, defined once: `loadConfig` reads them, `nltrade --help` prints their
 * defaults, and a test checks that the README's table says the same.
 */
export const SETTINGS: readonly Setting[] = [
  { key: 'port', env: 'PORT', flag: '--port', default: '8080', parse: integer(0, 65535), doc: 'HTTP and socket.io port' },
  { key: 'host', env: 'HOST', flag: '--host', default: '127.0.0.1', parse: text, doc: 'listen address' },
  {
    key: 'dataDir',
    env: 'DATA_DIR',
    flag: '--data',
    default: './data',
    parse: (raw) => path.resolve(raw),
    doc: 'embedded database, master key file, uploaded photos',
  },
  {
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    flag: '--database-url',
    default: undefined,
    parse: (raw) => {
      if (raw === '') return undefined;
      if (!/^postgres(ql)?:\/\//.test(raw)) throw new Invalid('must be a postgres:// URL (leave it unset for the embedded database)');
      return raw;
    },
    doc: 'a `postgres://` URL selects PostgreSQL; unset = embedded SQLite in `DATA_DIR`',
  },
  {
    key: 'pgPreparedStatements',
    env: 'PG_PREPARED_STATEMENTS',
    default: '1',
    parse: flag,
    doc: 'PostgreSQL: `1` keeps each statement prepared per connection; `0` for a pooler that cannot carry prepared statements (PgBouncer in transaction mode before 1.21)',
  },
  {
    key: 'masterKey',
    env: 'NLTRADE_MASTER_KEY',
    default: undefined,
    parse: optional,
    doc: "32 bytes (64 hex chars or base64) that encrypt merchants' RSA private keys at rest; unset = `DATA_DIR/master.key` (made on first start)",
  },
  {
    key: 'rsaKeyBits',
    env: 'RSA_KEY_BITS',
    default: '4096',
    parse: (raw) => {
      const n = integer(2048, 8192)(raw);
      if (n % 8 !== 0) throw new Invalid('must be a multiple of 8');
      return n;
    },
    doc: 'size of new merchant keys (a 264-byte photo update does not fit 2048-bit keys)',
  },
  {
    key: 'rsaKeyPrimes',
    env: 'RSA_KEY_PRIMES',
    default: '2',
    parse: integer(0, 5),
    doc: 'primes in new merchant keys: 2 = classic RSA; 0 = the most OpenSSL allows for the size (4 at 4096 bits: multi-prime RSA, RFC 8017), which makes the private-key operation of every legacy request about 3× cheaper; the public key merchants fetch is the same kind either way',
  },
  {
    key: 'rsaThreads',
    env: 'RSA_THREADS',
    default: '0',
    parse: integer(0, 64),
    doc: 'worker threads doing RSA private-key operations; 0 = one per CPU',
  },
  {
    key: 'rsaQueuePerMerchant',
    env: 'RSA_QUEUE_PER_MERCHANT',
    default: '64',
    parse: integer(1, 100_000),
    doc: 'legacy requests one merchant may have waiting for RSA; beyond it that merchant gets `503` (others are served fairly)',
  },
  {
    key: 'rate',
    env: 'NLTRADE_RATE',
    default: '41.50',
    parse: (raw) => {
      try {
        return parseRate(raw).text;
      } catch {
        throw new Invalid('must be a positive decimal such as 41.50');
      }
    },
    doc: 'exchange rate: UAH per unit of the settlement currency (`currency` field)',
  },
  {
    key: 'paymentTimeoutSeconds',
    env: 'PAYMENT_TIMEOUT',
    default: '960',
    parse: integer(30, 86_400),
    doc: 'seconds the payer has to pay once the card is shown',
  },
  {
    key: 'acceptTimeoutSeconds',
    env: 'ACCEPT_TIMEOUT',
    default: '1800',
    parse: integer(30, 604_800),
    doc: 'seconds an invoice waits for a trader before it is `rejected`',
  },
  {
    key: 'traderCheckTimeoutSeconds',
    env: 'TRADER_CHECK_TIMEOUT',
    default: '1800',
    parse: integer(30, 604_800),
    doc: 'seconds a trader has to confirm or dispute before an administrator gets it',
  },
  {
    key: 'cardTimeoutSeconds',
    env: 'CARD_TIMEOUT',
    default: '300',
    parse: integer(30, 86_400),
    doc: 'seconds a trader who took an invoice has to give the card; then it goes back to the open queue',
  },
  {
    key: 'photoTimeoutSeconds',
    env: 'PHOTO_TIMEOUT',
    default: '1800',
    parse: integer(30, 604_800),
    doc: 'seconds a payer asked for a receipt photo has to send it; then an administrator decides',
  },
  {
    key: 'trustProxy',
    env: 'TRUST_PROXY',
    default: undefined,
    parse: (raw) =>
      raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    doc: 'comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` is believed (HTTP and sockets)',
  },
  {
    key: 'publicUrl',
    env: 'PUBLIC_URL',
    default: undefined,
    parse: (raw) => {
      if (raw === '') return undefined;
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new Invalid('must be an http(s) URL such as https://pay.example.com');
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Invalid('must be an http(s) URL');
      return raw.replace(/\/+$/, '');
    },
    doc: "the server's public base URL, put in front of receipt-photo links (`approve_photo`); unset = a path such as `/v1/photos/<id>`",
  },
  {
    key: 'logLevel',
    env: 'LOG_LEVEL',
    default: 'info',
    parse: (raw) => {
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(raw)) {
        throw new Invalid('must be one of fatal, error, warn, info, debug, trace, silent');
      }
      return raw;
    },
    doc: 'pino log level',
  },
  {
    key: 'maxConnectionsPerIp',
    env: 'MAX_CONNECTIONS_PER_IP',
    default: '256',
    parse: integer(1, 1_000_000),
    doc: 'open HTTP connections one client IP may hold; the excess is refused without touching other IPs',
  },
  {
    key: 'maxSocketsPerIp',
    env: 'MAX_SOCKETS_PER_IP',
    default: '200',
    parse: integer(1, 1_000_000),
    doc: 'open realtime connections one client IP may hold',
  },
  {
    key: 'httpRequestTimeoutSeconds',
    env: 'HTTP_REQUEST_TIMEOUT',
    default: '30',
    parse: integer(1, 3600),
    doc: 'seconds a request (headers and body) has to arrive whole; a slower one is cut',
  },
  {
    key: 'httpHeadersTimeoutSeconds',
    env: 'HTTP_HEADERS_TIMEOUT',
    default: '10',
    parse: integer(1, 3600),
    doc: 'seconds the request headers have to arrive',
  },
  {
    key: 'httpKeepAliveTimeoutSeconds',
    env: 'HTTP_KEEPALIVE_TIMEOUT',
    default: '5',
    parse: integer(1, 3600),
    doc: 'seconds an idle keep-alive connection is kept open',
  },
  {
    key: 'authFailuresPerMinute',
    env: 'RATE_LIMIT_AUTH_FAILURES',
    default: '60',
    parse: integer(1, 1_000_000),
    doc: 'requests with an unknown token one IP may make per minute; then its unknown tokens get `429` until the minute ends (valid tokens are never refused)',
  },
  {
    key: 'checkoutRequestsPerMinute',
    env: 'RATE_LIMIT_CHECKOUT',
    default: '300',
    parse: integer(1, 1_000_000),
    doc: 'requests to the anonymous `/v1/checkout` API one IP may make per minute',
  },
  {
    key: 'redisUrl',
    env: 'REDIS_URL',
    default: undefined,
    parse: (raw) => {
      if (raw === '') return undefined;
      if (!/^rediss?:\/\//.test(raw)) throw new Invalid('must be a redis:// URL');
      return raw;
    },
    doc: 'a `redis://` URL: rate limits, lockouts and sockets per IP are counted there, shared by every process; unset = in PostgreSQL (or in the one process on SQLite)',
  },
  {
    key: 'photoDecodeThreads',
    env: 'PHOTO_DECODE_THREADS',
    default: '0',
    parse: integer(0, 64),
    doc: 'receipt photos decoded at once; 0 = one per CPU',
  },
  {
    key: 'photoDecodeQueue',
    env: 'PHOTO_DECODE_QUEUE',
    default: '8',
    parse: integer(0, 10_000),
    doc: 'receipt photos waiting for a decoder; beyond it an upload gets `503` with `Retry-After`',
  },
  {
    key: 'photoMaxPixels',
    env: 'PHOTO_MAX_PIXELS',
    default: '40000000',
    parse: integer(1_000_000, 268_000_000),
    doc: 'largest receipt photo accepted, in pixels (a 48-megapixel phone photo is refused; its 12-megapixel default fits)',
  },
  {
    key: 'metricsPort',
    env: 'METRICS_PORT',
    default: undefined,
    parse: (raw) => (raw === '' ? undefined : integer(1, 65535)(raw)),
    doc: 'serve Prometheus `/metrics` on this port (on `HOST`) instead of the main one',
  },
  {
    key: 'shutdownTimeoutSeconds',
    env: 'SHUTDOWN_TIMEOUT',
    default: '10',
    parse: integer(1, 600),
    doc: 'seconds a SIGTERM waits for in-flight requests before it closes what is left',
  },
  {
    key: 'workers',
    env: 'WORKERS',
    flag: '--workers',
    default: '1',
    parse: integer(1, 256),
    doc: '`nltrade serve` processes on this machine, sharing the port (more than one needs PostgreSQL)',
  },
  {
    key: 'webhookRetryBaseMs',
    env: 'WEBHOOK_RETRY_BASE_MS',
    default: '30000',
    parse: integer(10, 86_400_000),
    doc: 'the first retry of a failed webhook delivery waits about this long (ms); each next one twice as long, with jitter',
  },
  {
    key: 'webhookRetryForSeconds',
    env: 'WEBHOOK_RETRY_FOR',
    default: '259200',
    parse: integer(1, 31_536_000),
    doc: 'seconds a webhook delivery is retried (3 days); an endpoint failing that long is disabled',
  },
  {
    key: 'webhookTimeoutSeconds',
    env: 'WEBHOOK_TIMEOUT',
    default: '10',
    parse: integer(1, 120),
    doc: 'seconds one webhook attempt may take',
  },
  {
    key: 'webhookAllowPrivate',
    env: 'WEBHOOK_ALLOW_PRIVATE',
    default: '0',
    parse: flag,
    doc: 'development and tests only: `1` lets webhook URLs be http and reach loopback or private addresses',
  },
  {
    key: 'idempotencyTtlSeconds',
    env: 'IDEMPOTENCY_TTL',
    default: '86400',
    parse: integer(60, 2_592_000),
    doc: 'seconds the first answer to an `Idempotency-Key` is kept and replayed',
  },
  {
    key: 'sandboxDelayMs',
    env: 'SANDBOX_DELAY_MS',
    default: '2000',
    parse: integer(0, 600_000),
    doc: "how long the sandbox's simulated trader takes for each of its moves (ms)",
  },
  {
    key: 'settlementCurrency',
    env: 'SETTLEMENT_CURRENCY',
    default: 'USDT',
    parse: (raw) => {
      if (!/^[A-Z][A-Z0-9]{1,9}$/.test(raw)) throw new Invalid('must be a currency code such as USDT (2 to 10 capital letters or digits)');
      return raw;
    },
    doc: 'the currency merchants are credited in and trader deposits are held in (`recive_value` is in it)',
  },
  {
    key: 'merchantFeeBps',
    env: 'MERCHANT_FEE_BPS',
    default: '0',
    parse: integer(0, 10_000),
    doc: "a merchant's fee in basis points of each successful invoice's settlement value, unless set for that merchant",
  },
  {
    key: 'traderRewardBps',
    env: 'TRADER_REWARD_BPS',
    default: '0',
    parse: integer(0, 10_000),
    doc: "a trader's reward in basis points of each successful invoice's settlement value, unless set for that trader",
  },
  {
    key: 'requireTraderDeposit',
    env: 'REQUIRE_TRADER_DEPOSIT',
    default: '1',
    parse: flag,
    doc: 'whether a trader needs an available deposit covering an invoice to take it (`1`) or not (`0`)',
  },
];

/** The README's configuration table, from the settings themselves. */
export function configTable(): string {
  const rows = SETTINGS.map(
    (s) => `| \`${s.env}\`${s.flag ? ` / \`${s.flag}\`` : ''} | ${s.default === undefined ? 'unset' : `\`${s.default}\``} | ${s.doc} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** The settings' defaults as the code uses them (what an empty environment gives). */
export function defaultConfig(): Config {
  return loadConfig({});
}

/**
 * Reads the configuration from the environment; explicit overrides (CLI flags) win. Every
 * bad value is reported, each on its own line naming the variable, in one error.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const s of SETTINGS) {
    const override = Object.hasOwn(overrides, s.key) ? overrides[s.key] : undefined;
    // A flag's text (`--data ./x`, `--database-url …`) is read like the variable; typed values stand.
    if (override !== undefined && typeof override !== 'string') {
      values[s.key] = override;
      continue;
    }
    const raw = override ?? env[s.env];
    const source = raw === undefined || raw === '' ? s.default : raw;
    if (source === undefined) {
      values[s.key] = s.key === 'trustProxy' ? [] : undefined;
      continue;
    }
    try {
      values[s.key] = s.parse(source);
    } catch (err) {
      const why = err instanceof Invalid ? err.message : String((err as Error).message ?? err);
      const name = override !== undefined && s.flag ? s.flag : s.env;
      problems.push(`${name} ${why} (got "${source.slice(0, 80)}")`);
    }
  }
  const config = values as unknown as Config;
  if (problems.length === 0 && config.workers > 1 && config.databaseUrl === undefined) {
    problems.push('WORKERS above 1 needs PostgreSQL (DATABASE_URL): the embedded database takes one process');
  }
  if (
    problems.length === 0 &&
    config.rsaKeyPrimes !== 0 &&
    (config.rsaKeyPrimes < 2 || config.rsaKeyPrimes > maxPrimes(config.rsaKeyBits))
  ) {
    problems.push(
      `RSA_KEY_PRIMES must be 0 or 2 to ${maxPrimes(config.rsaKeyBits)} for ${config.rsaKeyBits}-bit keys (got ${config.rsaKeyPrimes})`,
    );
  }
  if (problems.length > 0) {
    throw new AppError('VALIDATION_FAILED', `Invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  }
  return config;
}

/** One per CPU where a setting says 0. */
export function threadsFor(configured: number): number {
  return configured > 0 ? configured : Math.max(1, os.availableParallelism());
}
