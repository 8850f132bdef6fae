import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { AppError, type ErrorCode, type InvoiceEvent } from '@nltrade/core';
import { Server, type Socket } from 'socket.io';
import { clientIp, compileTrust } from '../http/client-ip.ts';
import type { Invoice } from '../services/invoices.ts';
import type { System } from '../system.ts';
import { type CheckoutView, checkoutView } from '../views.ts';

export interface ClientToServerEvents {
  /** The argument is untrusted: anything may arrive, so it is typed as such. */
  'invoice:join': (uid: unknown) => void;
}

export interface ServerToClientEvents {
  'ip:send': (ip: string) => void;
  'invoce:refetch': () => void;
  'invoice:update': (view: CheckoutView) => void;
  'invoice:error': (error: { code: ErrorCode; message: string }) => void;
}

export type InterServerEvents = Record<string, never>;

export interface SocketData {
  ip: string;
  joins: number;
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

export const DEFAULT_REALTIME_OPTIONS: RealtimeOptions = { maxConnectionsPerIp: 200, maxJoinsPerSocket: 20, onError: () => {} };

export interface Realtime {
  readonly io: RealtimeServer;
  close(): Promise<void>;
}

const roomOf = (uid: string): string => `invoice:${uid}`;

function errorPayload(err: unknown): { code: ErrorCode; message: string } {
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
  const trust = compileTrust(system.config.trustProxy);
  const perIp = new Map<string, number>();
  const ipOfRequest = new WeakMap<IncomingMessage, string>();

  const io: RealtimeServer = new Server(httpServer, {
    path: '/socket.io',
    serveClient: false,
    // Merchants' own pages open the channel from their origin, as with the original service;
    // no cookies ride on it, so any origin may connect.
    cors: { origin: '*', methods: ['GET', 'POST'] },
    // Clients send one short string; a large frame can only be abuse.
    maxHttpBufferSize: 4 * 1024,
    connectTimeout: 10_000,
    allowRequest: (req, callback) => {
      const ip = clientIp(req, trust);
      ipOfRequest.set(req, ip);
      if ((perIp.get(ip) ?? 0) >= opts.maxConnectionsPerIp) callback('Too many connections from this address', false);
      else callback(null, true);
    },
  });

  // Counted at the engine level (one per connection, whatever the namespaces) and
  // synchronously after allowRequest, so a burst of handshakes cannot overshoot the limit.
  io.engine.on('connection', (raw: { request: IncomingMessage; once(event: 'close', fn: () => void): void }) => {
    const ip = ipOfRequest.get(raw.request) ?? clientIp(raw.request, trust);
    perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
    raw.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left <= 0) perIp.delete(ip);
      else perIp.set(ip, left);
    });
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

  const onEvent = (event: InvoiceEvent): void => {
    const room = roomOf(event.uid);
    const members = io.of('/').adapter.rooms.get(room);
    if (!members || members.size === 0) return;
    io.to(room).emit('invoce:refetch');
    system.invoices.findByUid(event.uid).then(
      (invoice) => {
        if (invoice) emitView(room, invoice);
      },
      (err: unknown) => opts.onError(err),
    );
  };
  const unsubscribe = system.bus.subscribe(onEvent);

  io.on('connection', (socket: RealtimeSocket) => {
    socket.data.ip = ipOfRequest.get(socket.request) ?? clientIp(socket.request, trust);
    socket.data.joins = 0;
    socket.on('invoice:join', (uid: unknown) => {
      join(socket, uid).catch((err: unknown) => {
        if (socket.connected) socket.emit('invoice:error', errorPayload(err));
      });
    });
  });

  async function join(socket: RealtimeSocket, uid: unknown): Promise<void> {
    socket.data.joins += 1;
    if (socket.data.joins > opts.maxJoinsPerSocket) throw new AppError('RATE_LIMITED', 'Too many invoice:join calls on this connection');
    if (typeof uid !== 'string' || !/^[a-z0-9]{30}$/.test(uid)) {
      throw new AppError('INVALID_UID', 'invoice:join expects the invoice UID: 30 characters of a-z and 0-9');
    }
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
    async close() {
      unsubscribe();
      io.local.disconnectSockets(true);
      // Closes the engine's clients but not the HTTP server, which Fastify owns and closes.
      io.engine.close();
      perIp.clear();
    },
  };
}
