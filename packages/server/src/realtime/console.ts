import type { IncomingMessage } from 'node:http';
import { AppError, type ConsoleChange, type InvoiceEvent, OPEN_STATUS, type RealtimeError } from '@nltrade/core';
import { type Principal, principalOf } from '../http/auth.ts';
import type { System } from '../system.ts';
import type { RealtimeServer } from './server.ts';

const ADMIN_ROOM = 'console:admin';
/** Traders who watch the open queue: every invoice that enters or leaves it. */
const QUEUE_ROOM = 'console:queue';
const merchantRoom = (id: string) => `console:merchant:${id}`;
const traderRoom = (id: string) => `console:trader:${id}`;

/** How long a listening socket trusts the session it started with before asking again. */
const RECHECK_MS = 30_000;

export interface ConsoleListenOptions {
  countGuess: (ip: string) => Promise<number>;
  errorPayload: (err: unknown) => RealtimeError;
  onError: (err: unknown) => void;
  now: () => number;
}

/**
 * The session cookie counts only on a same-origin handshake. The socket server lets any
 * origin connect (merchants' pages open invoice rooms from their own sites), so a cookie that
 * rode along on another site's request must not make that site the console's user.
 */
function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

async function principalOfHandshake(system: System, request: IncomingMessage, token: unknown): Promise<Principal | null> {
  if (token !== undefined) return principalOf(system, token);
  if (!sameOrigin(request)) return null;
  return system.sessions.principalOfCookieHeader(request.headers.cookie);
}

function roomsOf(principal: Principal): string[] {
  if (principal.kind === 'merchant') return [merchantRoom(principal.merchant.id)];
  if (principal.account.role === 'admin') return [ADMIN_ROOM];
  return [traderRoom(principal.account.id), QUEUE_ROOM];
}

/**
 * `console:listen`: the consoles' live channel. The socket joins the rooms of whoever its
 * handshake names (the session cookie, or `auth.token`), and each change of an invoice that
 * person may see arrives as a `console:changed` hint; the console refetches over HTTP, where
 * the roles are enforced, so the hint carries nothing a list would not show. A socket whose
 * session was signed out or revoked stops hearing within RECHECK_MS. Returns what stops it.
 */
export function attachConsoleListen(io: RealtimeServer, system: System, options: ConsoleListenOptions): () => void {
  const checkedAt = new Map<string, number>();
  const size = (room: string) => io.of('/').adapter.rooms.get(room)?.size ?? 0;

  /** Sockets whose session has not been looked at for a while are looked at again (not awaited). */
  const recheck = (ids: Iterable<string>): void => {
    const now = options.now();
    for (const id of ids) {
      const at = checkedAt.get(id);
      if (at === undefined || now - at < RECHECK_MS) continue;
      checkedAt.set(id, now);
      const socket = io.of('/').sockets.get(id);
      if (!socket) continue;
      const token = (socket.handshake.auth as Record<string, unknown> | undefined)?.token;
      principalOfHandshake(system, socket.request, token).then(
        (principal) => {
          if (!principal) socket.disconnect(true);
        },
        (err: unknown) => options.onError(err),
      );
    }
  };

  const send = (room: string, change: ConsoleChange): void => {
    const members = io.of('/').adapter.rooms.get(room);
    if (!members || members.size === 0) return;
    recheck(members);
    io.to(room).emit('console:changed', change);
  };

  const onEvent = (event: InvoiceEvent): void => {
    const full: ConsoleChange = { id: event.invoiceId, uid: event.uid, status: event.to, version: event.version };
    send(ADMIN_ROOM, full);
    send(merchantRoom(event.merchantId), full);
    const queueChanged = event.from === OPEN_STATUS || event.to === OPEN_STATUS;
    if (size(QUEUE_ROOM) === 0) return;
    // Which trader holds it is not in the event: one read, only while traders listen.
    system.invoices.find(event.invoiceId).then(
      (invoice) => {
        if (!invoice || invoice.sandbox) return;
        const forTrader: ConsoleChange = { id: event.invoiceId, status: event.to, version: event.version };
        if (invoice.traderId !== null) send(traderRoom(invoice.traderId), forTrader);
        if (queueChanged) {
          // The trader who holds it has heard already; the rest learn that the queue moved.
          const except = invoice.traderId !== null ? io.except(traderRoom(invoice.traderId)) : io;
          recheck(io.of('/').adapter.rooms.get(QUEUE_ROOM) ?? []);
          except.to(QUEUE_ROOM).emit('console:changed', forTrader);
        }
      },
      (err: unknown) => options.onError(err),
    );
  };
  const unsubscribe = system.bus.subscribe(onEvent);

  io.on('connection', (socket) => {
    socket.on('console:listen', () => {
      listen().catch((err: unknown) => {
        if (socket.connected) socket.emit('console:error', options.errorPayload(err));
      });
    });
    socket.on('disconnect', () => checkedAt.delete(socket.id));

    async function listen(): Promise<void> {
      const token = (socket.handshake.auth as Record<string, unknown> | undefined)?.token;
      const principal = await principalOfHandshake(system, socket.request, token);
      if (!principal) {
        const wait = await options.countGuess(socket.data.ip);
        if (wait > 0) {
          throw new AppError('RATE_LIMITED', `Too many unknown tokens from this address; try again in ${wait} s`, {
            retryAfterSeconds: wait,
          });
        }
        throw new AppError('UNAUTHORIZED', 'console:listen needs a signed-in console session (or auth: { token })');
      }
      await socket.join(roomsOf(principal));
      checkedAt.set(socket.id, options.now());
      const role = principal.kind === 'merchant' ? 'merchant' : principal.account.role;
      if (socket.connected) socket.emit('console:listening', { role });
    }
  });

  return unsubscribe;
}
