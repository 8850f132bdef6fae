import type { Account } from './accounts.ts';
import type { Merchant } from './merchants.ts';

/** Whoever a token names: a trader or administrator account, or a merchant. */
export type Principal = { kind: 'account'; account: Account } | { kind: 'merchant'; merchant: Merchant };
