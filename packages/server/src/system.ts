import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { MasterKey } from './crypto/master-key.ts';
import { RsaPool } from './crypto/rsa-pool.ts';
import { EventLog } from './event-log.ts';
import { EventBus } from './events.ts';
import { AccountService } from './services/accounts.ts';
import { InvoiceService } from './services/invoices.ts';
import { MerchantService } from './services/merchants.ts';
import { PhotoService } from './services/photos.ts';
import { openStorage, type Storage } from './storage/db.ts';

/** Everything a server process (or an admin command) works with, without the HTTP layer. */
export interface System {
  readonly config: Config;
  readonly clock: Clock;
  readonly storage: Storage;
  readonly bus: EventBus;
  readonly masterKey: MasterKey;
  readonly merchants: MerchantService;
  readonly accounts: AccountService;
  readonly invoices: InvoiceService;
  readonly photos: PhotoService;
  /** RSA private-key operations (legacy API decryption) in worker threads, started on first use. */
  readonly rsa: RsaPool;
  /** The durable event log: other processes' changes reach this one's bus through it (once started). */
  readonly eventLog: EventLog;
  close(): Promise<void>;
}

export interface SystemOptions {
  clock?: Clock;
}

export async function createSystem(config: Config, options: SystemOptions = {}): Promise<System> {
  const clock = options.clock ?? systemClock;
  const masterKey = MasterKey.load(config.masterKey, config.dataDir);
  const storage = await openStorage({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const bus = new EventBus();
  const eventLog = new EventLog(storage.db, bus, storage.dialect, config.databaseUrl, {
    onError: (err) => console.error('nltrade: event log:', err),
  });
  const merchants = new MerchantService(storage.db, clock, masterKey, config.rsaKeyBits);
  const rsa = new RsaPool({ threads: config.rsaThreads, loadPem: (keyId) => merchants.privateKeyPem(keyId) });
  const invoices = new InvoiceService(storage.db, bus, eventLog, clock, {
    rate: config.rate,
    paymentTimeoutSeconds: config.paymentTimeoutSeconds,
    acceptTimeoutSeconds: config.acceptTimeoutSeconds,
    traderCheckTimeoutSeconds: config.traderCheckTimeoutSeconds,
    cardTimeoutSeconds: config.cardTimeoutSeconds,
    photoTimeoutSeconds: config.photoTimeoutSeconds,
  });
  return {
    config,
    clock,
    storage,
    bus,
    masterKey,
    merchants,
    accounts: new AccountService(storage.db, clock),
    invoices,
    photos: new PhotoService(storage.db, invoices, clock, config.dataDir, config.publicUrl),
    rsa,
    eventLog,
    close: async () => {
      await eventLog.stop();
      await rsa.close();
      await storage.close();
    },
  };
}
