import {
  AppError,
  type InvoiceEvent,
  isWebhookEventType,
  type RealtimeError,
  WEBHOOK_EVENT_TYPES,
  type WebhookEvent,
  type WebhookEventType,
} from '@nltrade/core';
import { principalOf } from '../http/auth.ts';
import { webhookEventOf } from '../services/webhooks.ts';
import type { System } from '../system.ts';
import type { RealtimeServer } from './server.ts';

/** The socket.io room of a merchant's `webhooks:listen` sockets. */
const roomOf = (merchantId: string) => `webhooks:${merchantId}`;

/** Answers to what `webhooks:listen` needs from the realtime server it lives in. */
export interface WebhookListenOptions {
  /** Counts an unknown token against the address, as HTTP does; resolves to seconds to wait (0 = fine). */
  countGuess: (ip: string) => Promise<number>;
  errorPayload: (err: unknown) => RealtimeError;
  onError: (err: unknown) => void;
}

function cleanEvents(options: unknown): WebhookEventType[] | null {
  if (options === undefined || options === null) return null;
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new AppError('VALIDATION_FAILED', 'webhooks:listen takes {events?: [...]}', { param: 'events' });
  }
  const events = (options as { events?: unknown }).events;
  if (events === undefined || events === null) return null;
  if (!Array.isArray(events) || events.length === 0 || events.length > 16 || !events.every(isWebhookEventType)) {
    throw new AppError('VALIDATION_FAILED', `events must be a non-empty list of: ${WEBHOOK_EVENT_TYPES.join(', ')}`, {
      param: 'events',
    });
  }
  return [...new Set(events)];
}

/**
 * `webhooks:listen`: a socket authenticated with a merchant's token (`auth: { token }` in the
 * handshake) receives that merchant's events as `webhooks:event`, the same body a webhook
 * carries (unsigned: `nltrade webhooks listen` signs with its own session secret). Events come
 * from the bus, which carries this process's commits and, through the event log, every other
 * process's, in the log's order. Returns what stops it.
 */
export function attachWebhookListen(io: RealtimeServer, system: System, options: WebhookListenOptions): () => void {
  // Which event types each listening socket asked for (null = all).
  const filters = new Map<string, WebhookEventType[] | null>();
  // Reads of event rows are chained, so a socket gets events in the order the bus had them.
  let tail: Promise<void> = Promise.resolve();

  const onEvent = (event: InvoiceEvent): void => {
    const room = roomOf(event.merchantId);
    if ((io.of('/').adapter.rooms.get(room)?.size ?? 0) === 0) return;
    tail = tail
      .then(async () => {
        const row = await system.webhooks.eventRow(Number(event.id));
        if (!row || row.payload === null) return;
        const body: WebhookEvent = webhookEventOf(row);
        for (const id of io.of('/').adapter.rooms.get(room) ?? []) {
          const filter = filters.get(id);
          if (filter && !filter.includes(body.type)) continue;
          io.of('/').sockets.get(id)?.emit('webhooks:event', body);
        }
      })
      .catch((err: unknown) => options.onError(err));
  };
  const unsubscribe = system.bus.subscribe(onEvent);

  io.on('connection', (socket) => {
    socket.on('webhooks:listen', (raw: unknown) => {
      listen(raw).catch((err: unknown) => {
        if (socket.connected) socket.emit('webhooks:error', options.errorPayload(err));
      });
    });
    socket.on('disconnect', () => filters.delete(socket.id));

    async function listen(raw: unknown): Promise<void> {
      const events = cleanEvents(raw);
      const auth = socket.handshake.auth as Record<string, unknown> | undefined;
      const principal = await principalOf(system, auth?.token);
      if (principal?.kind !== 'merchant') {
        if (!principal) {
          const wait = await options.countGuess(socket.data.ip);
          if (wait > 0) {
            throw new AppError('RATE_LIMITED', `Too many unknown tokens from this address; try again in ${wait} s`, {
              retryAfterSeconds: wait,
            });
          }
        }
        throw new AppError('UNAUTHORIZED', "webhooks:listen needs a merchant's access token in the handshake (auth: { token })");
      }
      filters.set(socket.id, events);
      await socket.join(roomOf(principal.merchant.id));
      if (socket.connected) socket.emit('webhooks:listening', { events });
    }
  });

  return unsubscribe;
}
