import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { MasterKey } from './crypto/master-key.ts';
import { EventBus } from './events.ts';
import { AccountService } from './services/accounts.ts';
import { InvoiceService } from './services/invoices.ts';
import { MerchantService } from './services/merchants.ts';
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
  return {
    config,
    clock,
    storage,
    bus,
    masterKey,
    merchants: new MerchantService(storage.db, clock, masterKey, config.rsaKeyBits),
    accounts: new AccountService(storage.db, clock),
    invoices: new InvoiceService(storage.db, bus, clock, {
      rate: config.rate,
      paymentTimeoutSeconds: config.paymentTimeoutSeconds,
      acceptTimeoutSeconds: config.acceptTimeoutSeconds,
      traderCheckTimeoutSeconds: config.traderCheckTimeoutSeconds,
    }),
    close: () => storage.close(),
  };
}
