import { io, type Socket } from 'socket.io-client';

/** The public view of an invoice the server pushes with `invoice:update`. */
export interface InvoiceUpdate {
  uid: string;
  title: string;
  amount: string;
  currency: string;
  status: string;
  version: number;
  card: string | null;
  deadlineAt: string | null;
  ip: string | null;
  [field: string]: unknown;
}

export interface WatchHandlers {
  /** The IP bound to the invoice (the first to join); compare it with your own. */
  onBoundIp?: (ip: string) => void;
  /** A newer view of the invoice; stale and duplicate versions are dropped. */
  onUpdate?: (view: InvoiceUpdate) => void;
  /** The original protocol's bare "something changed" signal (`invoce:refetch`). */
  onRefetch?: () => void;
  onError?: (error: { code: string; message: string }) => void;
}

export interface InvoiceWatch {
  readonly socket: Socket;
  close(): void;
}

/**
 * Follows one invoice over the realtime channel: joins its room on every (re)connect and
 * hands each newer view to `onUpdate`.
 *
 * @example
 * ```ts
 * import { watchInvoice } from '@nltrade/sdk';
 * const watch = watchInvoice('http://127.0.0.1:8080', uid, {
 *   onUpdate: (v) => console.log(v.status, v.amount),
 * });
 * // later: watch.close();
 * ```
 */
export function watchInvoice(baseUrl: string, uid: string, handlers: WatchHandlers): InvoiceWatch {
  const socket = io(baseUrl, { path: '/socket.io' });
  let version = 0;
  socket.on('connect', () => socket.emit('invoice:join', uid));
  socket.on('ip:send', (ip: string) => handlers.onBoundIp?.(ip));
  socket.on('invoce:refetch', () => handlers.onRefetch?.());
  socket.on('invoice:update', (view: InvoiceUpdate) => {
    if (view.uid !== uid || view.version <= version) return;
    version = view.version;
    handlers.onUpdate?.(view);
  });
  socket.on('invoice:error', (error: { code: string; message: string }) => handlers.onError?.(error));
  return { socket, close: () => socket.disconnect() };
}
