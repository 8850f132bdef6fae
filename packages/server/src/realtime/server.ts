import type { Server as HttpServer, IncomingMessage } from 'node:http';
import {
  AppError,
  assertUid,
  type ClientToServerEvents,
  type InvoiceEvent,
  isInvoiceId,
  isUid,
  REALTIME_PATH,
  type RealtimeError,
  type ServerToClientEvents,
} from '@nltrade/core';
import { Server, type Socket } from 'socket.io';
import { defaultConfig } from '../config.ts';
import { type Principal, principalOf } from '../http/auth.ts';
import { clientIp, compileTrust } from '../http/client-ip.ts';
import type { Slot } from '../limits/index.ts';
import type { Invoice } from '../services/invoices.ts';
import type { System } from '../system.ts';
import { checkoutView, watchView } from '../views.ts';
import { attachConsoleListen } from './console.ts';
import { attachWebhookListen } from './webhooks.ts';

export type { ClientToServerEvents, ServerToClientEvents };

export type InterServerEvents = Record<string, never>;

export interface SocketData {
  ip: string;
  /** `invoice:join` and `invoice:watch` calls made on this connection. */
  joins: number;
  /** Who the handshake's `auth.token` names, once a watch has looked it up. */
  principal: Principal | null | undefined;
}

export type RealtimeServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type RealtimeSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface RealtimeOptions {
  /** Open sockets one IP may hold; a bench from one host raises it. */
  maxConnectionsPerIp: number;
  /** `invoice:join` calls one socket may make; a checkout page needs one. */
  maxJoinsPerSocket: number;
  /** Unexpected failures (a database read for a room update); clients only ever see catalog errors. */
  onError: (err: unknown) => void;
}

export const DEFAULT_REALTIME_OPTIONS: RealtimeOptions = {
  maxConnectionsPerIp: defaultConfig().maxSocketsPerIp,
  maxJoinsPerSocket: 20,
  onError: () => {},
};

/** Traders name invoices by number; the UID would let them open the payer's page first. */
function showsUid(principal: Principal | null | undefined): boolean {
  return !(principal?.kind === 'account' && principal.account.role === 'trader');
}

function mayWatch(principal: Principal, invoice: Invoice): boolean {
  if (principal.kind === 'merchant') return principal.merchant.id === invoice.merchantId;
  if (principal.account.role === 'admin') return true;
  // Sandbox invoices are the simulated trader's, which has no token: no real trader watches one.
  return !invoice.sandbox && invoice.traderId === principal.account.id;
}

/** `{uid}` or `{id}` (or the bare string); anything else names no invoice. */
function watchKey(target: unknown): string {
  const value =
    typeof target === 'string'
      ? target
      : target && typeof target === 'object'
        ? ((target as Record<string, unknown>).uid ?? (target as Record<string, unknown>).id)
        : undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && isInvoiceId(String(value))) return String(value);
  if (isUid(value) || isInvoiceId(value)) return value;
  throw new AppError('INVOICE_NOT_FOUND');
}

export interface Realtime {
  readonly io: RealtimeServer;
  /** Open sockets by what they did: joined a payer room, watched an invoice, or neither yet (metrics). */
  stats(): { payer: number; watcher: number; other: number };
  close(): Promise<void>;
}

const roomOf = (uid: string): string => `invoice:${uid}`;
/** Watchers have rooms of their own: they get the watch view, never the payer's. */
const watchRoomOf = (uid: string): string => `watch:${uid}`;

function errorPayload(err: unknown): RealtimeError {
  // Only catalog errors are described; anything else would leak internals.
  if (err instanceof AppError) return { code: err.code, message: err.message };
  const internal = new AppError('INTERNAL');
  return { code: internal.code, message: internal.message };
}

/**
 * The socket.io server on the HTTP server's port. Rooms are per invoice; every domain event
 * of an invoice reaches its room as `invoce:refetch` (what legacy pages listen for) followed
 * by `invoice:update` with the public view, so newer clients need no extra request.
 */
export function attachRealtime(system: System, httpServer: HttpServer, options: Partial<RealtimeOptions> = {}): Realtime {
  const opts: RealtimeOptions = { ...DEFAULT_REALTIME_OPTIONS, ...options };
  const guesses = system.limits.window('auth', system.config.authFailuresPerMinute);
  const trust = compileTrust(system.config.trustProxy);
  const ipOfRequest = new WeakMap<IncomingMessage, string>();
  const slotOfRequest = new WeakMap<IncomingMessage, Slot>();

  const io: RealtimeServer = new Server(httpServer, {
    path: REALTIME_PATH,
    serveClient: false,
    // Merchants' own pages open the channel from their origin, as with the original service;
    // no cookies ride on it, so any origin may connect.
    cors: { origin: '*', methods: ['GET', 'POST'] },
    // Clients send one short string; a large frame can only be abuse.
    maxHttpBufferSize: 4 * 1024,
    connectTimeout: 10_000,
    allowRequest: (req, callback) => {
      system.limits.noticeForwardedFor(req);
      const ip = clientIp(req, trust);
      ipOfRequest.set(req, ip);
      // Taken here, atomically against every process (the check and the increment are one
      // step in the store), so a burst of handshakes cannot overshoot the limit.
      system.limits.acquire('sockets', ip, opts.maxConnectionsPerIp).then(
        (slot) => {
          if (!slot) return callback('Too many connections from this address', false);
          slotOfRequest.set(req, slot);
          callback(null, true);
        },
        (err: unknown) => {
          opts.onError(err);
          callback('Try again later', false);
        },
      );
    },
  });

  // Held at the engine level (one per connection, whatever the namespaces) until it closes.
  // A handshake let in that never becomes a connection gives its slot back by itself.
  io.engine.on('connection', (raw: { request: IncomingMessage; once(event: 'close', fn: () => void): void }) => {
    const slot = slotOfRequest.get(raw.request);
    slot?.confirm();
    raw.once('close', () => slot?.release());
  });

  // The highest version sent to each room, so out-of-order reads never send an older view.
  const lastVersion = new Map<string, number>();
  io.of('/').adapter.on('delete-room', (room: string) => {
    lastVersion.delete(room);
  });

  // Each socket gets its own view: the full card goes only to sockets from the bound IP.
  const emitView = (room: string, invoice: Invoice): void => {
    if ((lastVersion.get(room) ?? 0) >= invoice.version) return;
    lastVersion.set(room, invoice.version);
    const members = io.of('/').adapter.rooms.get(room);
    if (!members) return;
    const now = system.clock.now();
    for (const id of members) {
      const socket = io.of('/').sockets.get(id);
      if (socket) socket.emit('invoice:update', checkoutView(invoice, now, socket.data.ip));
    }
  };

  const emitWatchView = (room: string, invoice: Invoice): void => {
    if ((lastVersion.get(room) ?? 0) >= invoice.version) return;
    lastVersion.set(room, invoice.version);
    const members = io.of('/').adapter.rooms.get(room);
    if (!members) return;
    for (const id of members) {
      const socket = io.of('/').sockets.get(id);
      if (socket) socket.emit('invoice:status', watchView(invoice, showsUid(socket.data.principal)));
    }
  };

  const onEvent = (event: InvoiceEvent): void => {
    const room = roomOf(event.uid);
    const watchRoom = watchRoomOf(event.uid);
    const rooms = io.of('/').adapter.rooms;
    const payers = (rooms.get(room)?.size ?? 0) > 0;
    const watchers = (rooms.get(watchRoom)?.size ?? 0) > 0;
    if (!payers && !watchers) return;
    if (payers) io.to(room).emit('invoce:refetch');
    if (watchers) io.to(watchRoom).emit('invoce:refetch');
    system.invoices.findByUid(event.uid).then(
      (invoice) => {
        if (!invoice) return;
        if (payers) emitView(room, invoice);
        if (watchers) emitWatchView(watchRoom, invoice);
      },
      (err: unknown) => opts.onError(err),
    );
  };
  const unsubscribe = system.bus.subscribe(onEvent);
  // `webhooks:listen` (the CLI's `nltrade webhooks listen`): a merchant's events on this socket.
  const stopWebhookListen = attachWebhookListen(io, system, {
    countGuess: (ip) => guesses.count(ip),
    errorPayload,
    onError: (err) => opts.onError(err),
  });

  // `console:listen` (the web consoles): hints that an invoice the console's user may see changed.
  const stopConsoleListen = attachConsoleListen(io, system, {
    countGuess: (ip) => guesses.count(ip),
    errorPayload,
    onError: (err) => opts.onError(err),
    now: () => system.clock.now(),
  });

  io.on('connection', (socket: RealtimeSocket) => {
    socket.data.ip = ipOfRequest.get(socket.request) ?? clientIp(socket.request, trust);
    socket.data.joins = 0;
    socket.data.principal = undefined;
    const failed = (err: unknown) => {
      if (socket.connected) socket.emit('invoice:error', errorPayload(err));
    };
    socket.on('invoice:join', (uid: unknown) => {
      join(socket, uid).catch(failed);
    });
    socket.on('invoice:watch', (target: unknown) => {
      watch(socket, target).catch(failed);
    });
  });

  function countJoin(socket: RealtimeSocket): void {
    socket.data.joins += 1;
    if (socket.data.joins > opts.maxJoinsPerSocket) {
      throw new AppError('RATE_LIMITED', 'Too many invoice:join or invoice:watch calls on this connection');
    }
  }

  /**
   * Follows an invoice for its merchant, the trader who holds it or an administrator, without
   * binding it: only the payer's page may be the first to `invoice:join`.
   */
  async function watch(socket: RealtimeSocket, target: unknown): Promise<void> {
    countJoin(socket);
    if (socket.data.principal === undefined) {
      const auth = socket.handshake.auth as Record<string, unknown> | undefined;
      socket.data.principal = await principalOf(system, auth?.token);
    }
    const principal = socket.data.principal;
    if (!principal) {
      // An unknown token over a socket counts against the address like one over HTTP.
      const wait = await guesses.count(socket.data.ip);
      if (wait > 0) {
        throw new AppError('RATE_LIMITED', `Too many unknown tokens from this address; try again in ${wait} s`, {
          retryAfterSeconds: wait,
        });
      }
      throw new AppError(
        'UNAUTHORIZED',
        'invoice:watch needs a merchant, trader or administrator token in the handshake (auth: { token })',
      );
    }
    const invoice = await system.invoices.find(watchKey(target));
    // Someone else's invoice looks exactly like a missing one.
    if (!invoice || !mayWatch(principal, invoice)) throw new AppError('INVOICE_NOT_FOUND');
    await socket.join(watchRoomOf(invoice.uid));
    // Read again after joining, so a change committed in between is not missed.
    const fresh = (await system.invoices.findByUid(invoice.uid)) ?? invoice;
    if (socket.connected) socket.emit('invoice:status', watchView(fresh, showsUid(principal)));
  }

  async function join(socket: RealtimeSocket, value: unknown): Promise<void> {
    countJoin(socket);
    // A malformed UID names no invoice: the same answer as an unknown one.
    const uid = assertUid(value);
    const room = roomOf(uid);
    // Join before reading: a change committed meanwhile then reaches this socket as an
    // update (at worst a duplicate, which `version` lets the client drop), never not at all.
    await socket.join(room);
    let invoice: Invoice;
    try {
      invoice = await system.invoices.bindIp(uid, socket.data.ip);
    } catch (err) {
      await socket.leave(room);
      throw err;
    }
    if (!socket.connected) return;
    socket.emit('ip:send', invoice.ip ?? socket.data.ip);
    socket.emit('invoice:update', checkoutView(invoice, system.clock.now(), socket.data.ip));
  }

  return {
    io,
    stats() {
      const counts = { payer: 0, watcher: 0, other: 0 };
      for (const socket of io.of('/').sockets.values()) {
        let kind: keyof typeof counts = 'other';
        for (const room of socket.rooms) {
          if (room.startsWith('invoice:')) {
            kind = 'payer';
            break;
          }
          if (room.startsWith('watch:')) kind = 'watcher';
        }
        counts[kind]++;
      }
      return counts;
    },
    async close() {
      unsubscribe();
      stopWebhookListen();
      stopConsoleListen();
      io.local.disconnectSockets(true);
      // Closes the engine's clients but not the HTTP server, which Fastify owns and closes.
      io.engine.close();
    },
  };
}
