import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { MasterKey } from './crypto/master-key.ts';
import { RsaPool } from './crypto/rsa-pool.ts';
import { EventBus } from './events.ts';
import { PgEventBridge } from './events-pg.ts';
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
  /** With PostgreSQL: events travel between processes on the same database. */
  readonly bridge: PgEventBridge | undefined;
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
  const bridge =
    storage.dialect === 'postgres' && config.databaseUrl
      ? new PgEventBridge(storage.db, bus, config.databaseUrl, (err) => console.error('nltrade: event bridge:', err))
      : undefined;
  bridge?.forward();
  const merchants = new MerchantService(storage.db, clock, masterKey, config.rsaKeyBits);
  const rsa = new RsaPool({ threads: config.rsaThreads, loadPem: (keyId) => merchants.privateKeyPem(keyId) });
  const invoices = new InvoiceService(storage.db, bus, clock, {
    rate: config.rate,
    paymentTimeoutSeconds: config.paymentTimeoutSeconds,
    acceptTimeoutSeconds: config.acceptTimeoutSeconds,
    traderCheckTimeoutSeconds: config.traderCheckTimeoutSeconds,
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
    bridge,
    close: async () => {
      await bridge?.close();
      await rsa.close();
      await storage.close();
    },
  };
}
