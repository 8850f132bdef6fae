import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { MasterKey } from './crypto/master-key.ts';
import { RsaPool } from './crypto/rsa-pool.ts';
import { EventLog } from './event-log.ts';
import { EventBus } from './events.ts';
import { createLimits, type Limits, type LimitsOptions } from './limits/index.ts';
import { flushLogger, type Logger, silentLogger } from './log.ts';
import { Metrics } from './metrics.ts';
import { AccountService } from './services/accounts.ts';
import { TraderCardService } from './services/cards.ts';
import { ConsoleUserService } from './services/console-users.ts';
import { InvoiceService } from './services/invoices.ts';
import { LedgerService } from './services/ledger.ts';
import { MerchantService } from './services/merchants.ts';
import { PasswordHasher } from './services/passwords.ts';
import { PhotoService } from './services/photos.ts';
import { RuntimeSettingsService } from './services/runtime-settings.ts';
import { SessionService } from './services/sessions.ts';
import { WebhookService } from './services/webhooks.ts';
import { openStorage, type Storage, secureDataDir } from './storage/db.ts';
import { Freshness } from './storage/freshness.ts';

/** Everything a server process (or an admin command) works with, without the HTTP layer. */
export interface System {
  readonly config: Config;
  readonly clock: Clock;
  readonly storage: Storage;
  readonly bus: EventBus;
  readonly masterKey: MasterKey;
  readonly traderCards: TraderCardService;
  readonly runtimeSettings: RuntimeSettingsService;
  readonly merchants: MerchantService;
  readonly accounts: AccountService;
  /** Web console logins (name and password), each acting as an account or a merchant. */
  readonly consoleUsers: ConsoleUserService;
  /** Web console sessions: sign-in with its throttle, the cookie's principal, sign-out. */
  readonly sessions: SessionService;
  readonly invoices: InvoiceService;
  /** The double-entry ledger: balances, deposits, fees, rates; its hook commits with every invoice change. */
  readonly ledger: LedgerService;
  readonly photos: PhotoService;
  /** Merchants' webhook endpoints; every invoice change queues its deliveries in its own transaction. */
  readonly webhooks: WebhookService;
  /** RSA private-key operations (legacy API decryption) in worker threads, started on first use. */
  readonly rsa: RsaPool;
  /** The durable event log: other processes' changes reach this one's bus through it (once started). */
  readonly eventLog: EventLog;
  /** The process's one logger (Fastify's too): workers, the sweeper and the event log report through it. */
  readonly log: Logger;
  /** Prometheus metrics, in a registry of this system's own. */
  readonly metrics: Metrics;
  /** Per-client limits (rate limits, lockouts, sockets per IP), shared by every process through Redis or PostgreSQL. */
  readonly limits: Limits;
  close(): Promise<void>;
}

export interface SystemOptions {
  clock?: Clock;
  /** Where log lines go; none are written without one (tests, admin commands). */
  logger?: Logger;
  /** Heartbeat and expiry of the shared limits (tests shorten them). */
  limits?: LimitsOptions;
}

export async function createSystem(config: Config, options: SystemOptions = {}): Promise<System> {
  const clock = options.clock ?? systemClock;
  // Made (or tightened to) 0700 before the key file or the database is written into it.
  secureDataDir(config.dataDir, { create: !config.masterKey || !config.databaseUrl });
  const masterKey = MasterKey.load(config.masterKey, config.dataDir);
  const storage = await openStorage({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    preparedStatements: config.pgPreparedStatements,
  });
  const bus = new EventBus();
  const log = options.logger ?? silentLogger();
  const freshness = new Freshness(storage.dialect, storage.dataVersion);
  const eventLog = new EventLog(storage.db, bus, storage.dialect, config.databaseUrl, {
    freshness,
    onError: (err) => log.error({ err }, 'event log error'),
  });
  const merchants = new MerchantService(storage.db, clock, masterKey, config.rsaKeyBits, config.rsaKeyPrimes);
  const rsa = new RsaPool({
    threads: config.rsaThreads,
    queuePerMerchant: config.rsaQueuePerMerchant,
    loadPem: (keyId) => merchants.privateKeyPem(keyId),
    onWarning: (message) => log.warn(message),
  });
  const ledger = new LedgerService(
    storage.db,
    clock,
    {
      currency: config.settlementCurrency,
      merchantFeeBps: config.merchantFeeBps,
      traderRewardBps: config.traderRewardBps,
      requireTraderDeposit: config.requireTraderDeposit,
      rate: config.rate,
      freshness,
    },
    storage.dialect,
  );
  const runtimeSettings = new RuntimeSettingsService(storage.db, clock, config);
  const invoices = new InvoiceService(storage.db, bus, eventLog, clock, {
    rate: config.rate,
    rateOf: (merchantId) => ledger.rateFor(merchantId),
    paymentTimeoutSeconds: config.paymentTimeoutSeconds,
    acceptTimeoutSeconds: config.acceptTimeoutSeconds,
    traderCheckTimeoutSeconds: config.traderCheckTimeoutSeconds,
    cardTimeoutSeconds: config.cardTimeoutSeconds,
    photoTimeoutSeconds: config.photoTimeoutSeconds,
    timeoutsOf: () => runtimeSettings.timeouts(),
    publicUrl: config.publicUrl,
  });
  const webhooks = new WebhookService(storage.db, clock, masterKey, { allowPrivate: config.webhookAllowPrivate, freshness });
  invoices.onChange(webhooks.hook);
  invoices.onChange(ledger.hook);
  const metrics = new Metrics(log);
  const limits = createLimits(config, storage, clock, options.limits);
  const consoleUsers = new ConsoleUserService(storage.db, clock, new PasswordHasher());
  limits.log = log;
  const system: System = {
    config,
    clock,
    storage,
    bus,
    masterKey,
    merchants,
    accounts: new AccountService(storage.db, clock),
    consoleUsers,
    sessions: new SessionService(storage.db, clock, consoleUsers),
    traderCards: new TraderCardService(storage.db, clock, masterKey),
    runtimeSettings,
    invoices,
    ledger,
    photos: new PhotoService(storage.db, invoices, clock, config.dataDir, config.publicUrl, {
      decodeThreads: config.photoDecodeThreads,
      decodeQueue: config.photoDecodeQueue,
      maxPixels: config.photoMaxPixels,
    }),
    webhooks,
    rsa,
    eventLog,
    log,
    metrics,
    limits,
    close: async () => {
      metrics.close();
      await eventLog.stop();
      await rsa.close();
      await limits.close();
      await storage.close();
      await flushLogger(log);
    },
  };
  metrics.attach(system);
  return system;
}
