/**
 * `nltrade webhooks listen`: the merchant's events, received over the realtime channel and
 * forwarded signed to a local URL, like `stripe listen`. The server's own deliveries need a
 * public https endpoint; this lets a developer's laptop receive the same events meanwhile.
 */
import { randomBytes } from 'node:crypto';
import {
  type ClientToServerEvents,
  isWebhookEventType,
  REALTIME_PATH,
  type RealtimeError,
  type ServerToClientEvents,
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_SECRET_PREFIX,
  WEBHOOK_SIGNATURE_HEADER,
  type WebhookEvent,
  type WebhookEventType,
} from '@nltrade/core';
import type { Socket } from 'socket.io-client';

export const WEBHOOKS_USAGE = `  webhooks listen --forward-to URL [--events TYPE,TYPE] --url URL --token T [--json]
      receives your events over the realtime channel and POSTs each one, signed with a
      secret made for this session (printed first, whsec_…), to URL; one line per event with
      the local answer's status. Types: ${WEBHOOK_EVENT_TYPES.join(', ')}. Ctrl-C stops it`;

/** Refused arguments; main.ts prints the usage for errors of this name. */
export class WebhooksUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ListenOptions {
  url: string | undefined;
  token: string | undefined;
  forwardTo: string | undefined;
  events: string | undefined;
  json: boolean;
}

/** One forwarding attempt may take this long (the server's own deliveries allow 10 s too). */
const FORWARD_TIMEOUT_MS = 10_000;

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new WebhooksUsageError(`${what} is required`);
  return value;
}

function parseEvents(value: string | undefined): WebhookEventType[] | undefined {
  if (value === undefined) return undefined;
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((t) => !isWebhookEventType(t));
  if (list.length === 0 || bad.length > 0) {
    throw new WebhooksUsageError(`--events takes a comma-separated list of: ${WEBHOOK_EVENT_TYPES.join(', ')}`);
  }
  return list as WebhookEventType[];
}

function httpUrl(value: string, what: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new WebhooksUsageError(`${what} must be an http(s) URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new WebhooksUsageError(`${what} must be an http(s) URL`);
  return u.toString();
}

export async function webhooksCommand(sub: string | undefined, options: ListenOptions): Promise<number> {
  if (sub !== 'listen') throw new WebhooksUsageError(`unknown webhooks command "${sub ?? ''}"`);
  const base = httpUrl(need(options.url, '--url (or NLTRADE_URL)'), '--url');
  const token = need(options.token, '--token (or NLTRADE_TOKEN)');
  const forwardTo = httpUrl(need(options.forwardTo, '--forward-to'), '--forward-to');
  const events = parseEvents(options.events);
  return listen({ base, token, forwardTo, events, json: options.json });
}

async function listen(o: { base: string; token: string; forwardTo: string; events: WebhookEventType[] | undefined; json: boolean }) {
  const [{ io }, { signWebhook }] = await Promise.all([import('socket.io-client'), import('@nltrade/sdk')]);
  const secret = `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
  const out = (text: string, json: Record<string, unknown>) => process.stdout.write(`${o.json ? JSON.stringify(json) : text}\n`);
  out(`Your webhook signing secret for this session is ${secret} (verify with it; it is not shown again)`, { secret });

  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(o.base, {
    path: REALTIME_PATH,
    transports: ['websocket', 'polling'],
    auth: { token: o.token },
  });
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  // Forwarded one at a time, in the order they came: the receiver sees what a webhook endpoint would.
  let tail: Promise<void> = Promise.resolve();

  const forward = async (event: WebhookEvent): Promise<void> => {
    const body = JSON.stringify(event);
    const started = Date.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(o.forwardTo, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
        headers: {
          'content-type': 'application/json',
          [WEBHOOK_SIGNATURE_HEADER]: signWebhook(body, secret),
          [WEBHOOK_EVENT_ID_HEADER]: event.id,
          'user-agent': 'nltrade-cli webhooks listen',
        },
        body,
      });
      status = res.status;
      await res.body?.cancel();
    } catch (err) {
      error = (err as Error).message;
    }
    const invoice = event.data.invoice;
    const change = event.data.from ? `${event.data.from} → ${event.data.to}` : event.data.to;
    out(
      `${new Date().toISOString()}  ${event.type.padEnd(22)} ${event.id}  invoice ${invoice.id} (${change})  → ${
        status === null ? `failed: ${error}` : `${status}`
      } in ${Date.now() - started} ms`,
      { event: event.id, type: event.type, invoice: invoice.uid, sequence: event.sequence, status, error },
    );
  };

  socket.on('connect', () => socket.emit('webhooks:listen', o.events ? { events: o.events } : {}));
  socket.on('webhooks:listening', (info) => {
    const what = info.events ? info.events.join(', ') : 'all events';
    out(`Ready: forwarding ${what} to ${o.forwardTo}`, { listening: true, events: info.events, forwardTo: o.forwardTo });
  });
  socket.on('webhooks:event', (event) => {
    tail = tail.then(() => forward(event));
  });
  socket.on('webhooks:error', (e: RealtimeError) => {
    process.stderr.write(`nltrade: ${e.message} (${e.code})\n`);
    finish(1);
  });
  socket.on('connect_error', (err) => {
    // socket.io retries by itself; say so once per failure so a wrong --url is visible.
    process.stderr.write(`nltrade: cannot reach ${o.base}: ${err.message}; retrying\n`);
  });
  const stop = () => finish(0);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await finished;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    socket.disconnect();
    await tail;
  }
}
