/**
 * The parts of the SDK that run in a browser as well as in Node: the v1 client and the
 * realtime watcher. The Remote Invoice API client needs Node's RSA (`node:crypto`) and is
 * only in the main entry.
 *
 * @example
 * ```ts
 * import { NlTradeClient, watchInvoice } from '@nltrade/sdk/browser';
 * ```
 */
export {
  type CheckoutView,
  type ClientErrorCode,
  type ClientOptions,
  type ErrorCode,
  type InvoiceRef,
  type InvoiceView,
  type ListFilter,
  NlTradeClient,
  NlTradeError,
  type StaffInvoiceList,
  type StaffInvoiceView,
  type Status,
  type TraderBalanceView,
  type TraderCardView,
  type WatchView,
} from './client.ts';
export { type InvoiceWatch, type WatchHandlers, type WatchOptions, watchInvoice } from './realtime.ts';
