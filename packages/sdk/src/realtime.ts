import {
  type ClientToServerEvents,
  isInvoiceId,
  REALTIME_PATH,
  type RealtimeError,
  type ServerToClientEvents,
  type WatchTarget,
  type WatchView,
} from '@nltrade/core';
import { io, type Socket } from 'socket.io-client';

export interface WatchOptions {
  /**
   * A merchant access token (its own invoices), a trader token (the invoices it holds, named
   * by `id`) or an administrator token (any invoice).
   */
  token: string;
}

export interface WatchHandlers {
  /** The invoice now, right after watching starts and after every change; stale versions are dropped. */
  onUpdate?: (view: WatchView) => void;
  /** The original protocol's bare "something changed" signal (`invoce:refetch`). */
  onRefetch?: () => void;
  /** UNAUTHORIZED (bad token), INVOICE_NOT_FOUND (unknown, or not yours), RATE_LIMITED. */
  onError?: (error: RealtimeError) => void;
}

export interface InvoiceWatch {
  readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  close(): void;
}

/**
 * Follows one invoice over the realtime channel from a merchant's server, a trader's tool or
 * an administrator's, **without binding it**: the protocol makes the first IP that sends
 * `invoice:join` the invoice's payer, so only the payer's page may join. This uses
 * `invoice:watch`, authenticated by `token`, and watches again after every reconnect.
 *
 * @example
 * ```ts
 * import { watchInvoice } from '@nltrade/sdk';
 * const watch = watchInvoice('http://127.0.0.1:8080', uid, { token: accessToken }, {
 *   onUpdate: (v) => console.log(v.status, v.amount),
 * });
 * // later: watch.close();
 * ```
 *
 * @param invoice the UID (merchants, administrators) or the invoice number `id` (traders)
 */
export function watchInvoice(baseUrl: string, invoice: string, options: WatchOptions, handlers: WatchHandlers): InvoiceWatch {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(baseUrl, {
    path: REALTIME_PATH,
    auth: { token: options.token },
    transports: ['websocket', 'polling'],
  });
  const target: WatchTarget = isInvoiceId(invoice) ? { id: invoice } : { uid: invoice };
  let version = 0;
  socket.on('connect', () => socket.emit('invoice:watch', target));
  socket.on('invoce:refetch', () => handlers.onRefetch?.());
  socket.on('invoice:status', (view) => {
    if (view.version <= version) return;
    version = view.version;
    handlers.onUpdate?.(view);
  });
  socket.on('invoice:error', (error) => handlers.onError?.(error));
  return { socket, close: () => socket.disconnect() };
}
