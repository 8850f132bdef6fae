import { io, type Socket } from 'socket.io-client';
import type { Clock } from '../../src/clock.ts';
import type { ConfigOverrides } from '../../src/config.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/realtime/server.ts';
import { type RunningServer, type StartOptions, startServer } from '../../src/start.ts';
import { type DbKind, type TestSystem, testSystem } from './system.ts';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface Live {
  ts: TestSystem;
  server: RunningServer;
  url: string;
  merchantId: string;
  merchantToken: string;
  /** Creates an invoice for the test merchant and returns its UID. */
  invoice(price?: string): Promise<string>;
  /** The invoice's number, which traders use instead of the UID. */
  idOf(uid: string): Promise<string>;
  account(role: 'trader' | 'admin', name?: string): Promise<{ id: string; token: string }>;
  /** Opens a socket as client `ip` (sent as X-Forwarded-For, believed from 127.0.0.1). */
  /** A socket from `ip`; `auth` is the handshake's auth object, `headers` extra handshake headers (a cookie, an Origin). */
  connect(ip?: string, options?: { auth?: Record<string, unknown>; headers?: Record<string, string> }): Promise<Recorder>;
  close(): Promise<void>;
}

/** A started server on port 0 that believes X-Forwarded-For from loopback, so tests can play many IPs. */
export async function live(kind: DbKind, clock?: Clock, overrides: ConfigOverrides = {}, options: StartOptions = {}): Promise<Live> {
  const ts = await testSystem(kind, { trustProxy: ['127.0.0.1/32', '::1/128'], host: '127.0.0.1', ...overrides }, clock);
  const server = await startServer(ts.system.config, { system: ts.system, sweeper: { start: false }, ...options });
  const { merchantId, accessToken } = await ts.system.merchants.create('Test shop');
  const sockets: Recorder[] = [];
  return {
    ts,
    server,
    url: server.url,
    merchantId,
    merchantToken: accessToken,
    async invoice(price = '1500.50') {
      return (await ts.system.invoices.create(merchantId, { title: 'Order 42', price })).uid;
    },
    idOf: async (uid) => (await ts.system.invoices.get(uid)).id,
    account: (role, name = role) => ts.system.accounts.create(role, name),
    async connect(ip = '10.0.0.1', options = {}) {
      const r = new Recorder(
        io(server.url, {
          path: '/socket.io',
          transports: ['websocket'],
          forceNew: true,
          reconnection: false,
          extraHeaders: { 'x-forwarded-for': ip, ...options.headers },
          ...(options.auth && { auth: options.auth }),
        }),
      );
      sockets.push(r);
      await r.connected();
      return r;
    },
    async close() {
      for (const s of sockets) s.socket.disconnect();
      await server.close();
      await ts.cleanup();
    },
  };
}

export interface Received {
  event: string;
  args: unknown[];
}

/** Records every event a socket receives, in order, so tests can await and assert sequences. */
export class Recorder {
  readonly socket: ClientSocket;
  readonly events: Received[] = [];
  #cursor = 0;
  #waiters: (() => void)[] = [];

  constructor(socket: ClientSocket) {
    this.socket = socket;
    socket.onAny((event: string, ...args: unknown[]) => {
      this.events.push({ event, args });
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.connected) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', (err) => reject(err));
    });
  }

  join(uid: unknown): void {
    this.socket.emit('invoice:join', uid);
  }

  /** The next not yet consumed event named `event` (skipping others), within `ms`. */
  async next(event: string, ms = 3000): Promise<unknown[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.events.findIndex((e, idx) => idx >= this.#cursor && e.event === event);
      if (i >= 0) {
        this.#cursor = i + 1;
        return this.events[i]?.args ?? [];
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${event}" within ${ms} ms; got ${JSON.stringify(this.events.map((e) => e.event))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Names of events received after the cursor, consuming them. */
  drain(): string[] {
    const names = this.events.slice(this.#cursor).map((e) => e.event);
    this.#cursor = this.events.length;
    return names;
  }
}

export interface HttpResult<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export async function call<T = Record<string, unknown>>(
  url: string,
  method: 'GET' | 'POST',
  path: string,
  opts: { token?: string; ip?: string; json?: unknown; form?: FormData } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.ip) headers['x-forwarded-for'] = opts.ip;
  let body: string | FormData | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = opts.form;
  }
  const res = await fetch(url + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed as T };
}
