/**
 * The NL-Trade SDK for Node.js: the Remote Invoice API client (RSA-enveloped legacy
 * protocol), the v1 client for traders and administrators, and the realtime watcher.
 * `@nltrade/sdk/browser` has the last two for browsers.
 *
 * @example
 * ```ts
 * import { NlTradeClient, RemoteInvoiceClient, watchInvoice } from '@nltrade/sdk';
 * ```
 */
export * from './browser.ts';
export {
  historyOf,
  type LegacyCreateOptions,
  type LegacyInvoice,
  RemoteInvoiceClient,
  type RemoteInvoiceClientOptions,
} from './legacy.ts';
export {
  type CreateInvoiceInput,
  type InvoiceList,
  type InvoiceListFilter,
  MerchantApiError,
  MerchantClient,
  type MerchantClientOptions,
  type MerchantInvoice,
  type PostOptions,
  type TimeBound,
} from './v1.ts';
export {
  signWebhook,
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookVerificationCode,
  WebhookVerificationError,
} from './webhooks.ts';
