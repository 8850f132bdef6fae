import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/**
 * Outbound webhook requests that cannot be turned against the server's own network (SSRF).
 *
 * A URL's host is resolved here, once, and the connection goes only to an address that
 * passed: a name that answers with a private address on the second lookup (DNS rebinding)
 * never gets a second lookup. After connecting, the address the socket is actually connected
 * to is checked again, which also covers IP literals (Node does not "look up" those) and
 * anything between us and the network that rewrites where a connection goes.
 */

/** Ranges a webhook may never reach: private, loopback, link-local, CGNAT, multicast, reserved, documentation, translated. */
// Two lists: a BlockList checks an IPv4 address against its IPv6 rules too (as ::ffff:a.b.c.d),
// so with `::ffff:0:0/96` in one list every IPv4 address would read as blocked.
const BLOCKED_V4 = (() => {
  const list = new net.BlockList();
  for (const [prefix, bits] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.88.99.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ] as const) {
    list.addSubnet(prefix, bits, 'ipv4');
  }
  return list;
})();

const BLOCKED_V6 = (() => {
  const list = new net.BlockList();
  for (const [prefix, bits] of [
    ['::', 128],
    ['::1', 128],
    // IPv4-mapped and -compatible, NAT64, 6to4, Teredo: each can carry a private IPv4 address.
    ['::ffff:0:0', 96],
    ['::', 96],
    ['64:ff9b::', 96],
    ['64:ff9b:1::', 48],
    ['2002::', 16],
    ['2001::', 32],
    ['100::', 64],
    ['2001:db8::', 32],
    ['fc00::', 7],
    ['fe80::', 10],
    ['fec0::', 10],
    ['ff00::', 8],
  ] as const) {
    list.addSubnet(prefix, bits, 'ipv6');
  }
  return list;
})();

/** Whether a webhook may connect to this address (a public unicast one). */
export function isPublicAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return false;
  return family === 4 ? !BLOCKED_V4.check(address, 'ipv4') : !BLOCKED_V6.check(address, 'ipv6');
}

export type LookupAll = (hostname: string) => Promise<{ address: string; family: number }[]>;

const systemLookup: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

export class WebhookRefused extends Error {
  readonly code = 'WEBHOOK_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'WebhookRefused';
  }
}

export interface OutboundOptions {
  /** WEBHOOK_ALLOW_PRIVATE: http and private addresses allowed (development and tests). */
  allowPrivate: boolean;
  /** Replaces the system resolver (tests make names resolve to private addresses). */
  lookup?: LookupAll;
}

/**
 * Why a URL may not be a webhook endpoint, or null when it may (the scheme and a literal
 * address only; names are checked when they are resolved).
 */
export function refuseUrl(url: URL, allowPrivate: boolean): string | null {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  if (url.username || url.password) return 'must not carry a user name or password';
  if (allowPrivate) return null;
  if (url.protocol !== 'https:') return 'must be https';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) && !isPublicAddress(host)) return `must not point at a private or reserved address (${host})`;
  if (host === 'localhost' || host.endsWith('.localhost')) return 'must not point at this machine (localhost)';
  return null;
}

/** The addresses a name resolves to, all of which must be public; refuses otherwise. */
export async function resolvePublic(hostname: string, options: OutboundOptions): Promise<{ address: string; family: number }[]> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) {
    if (!options.allowPrivate && !isPublicAddress(host)) throw new WebhookRefused(`${host} is a private or reserved address`);
    return [{ address: host, family: net.isIP(host) }];
  }
  const addresses = await (options.lookup ?? systemLookup)(host);
  if (addresses.length === 0) throw new WebhookRefused(`${host} does not resolve`);
  if (!options.allowPrivate) {
    // One private answer refuses the name: picking the public ones would let a rebinding
    // name choose by ordering which one we use.
    const bad = addresses.find((a) => !isPublicAddress(a.address));
    if (bad) throw new WebhookRefused(`${host} resolves to a private or reserved address (${bad.address})`);
  }
  return addresses;
}

/** Throws when a connected socket's peer is not a public address. */
export function assertPublicPeer(socket: net.Socket): void {
  const address = socket.remoteAddress;
  if (address === undefined || !isPublicAddress(address)) {
    throw new WebhookRefused(`connected to a private or reserved address (${address ?? 'unknown'})`);
  }
}

export interface PostResult {
  /** 0 when no answer came (refused, timed out, connection failed). */
  statusCode: number;
  /** A short excerpt of the answer or the failure, for the delivery log. */
  detail: string | null;
  ok: boolean;
}

const EXCERPT_CHARS = 200;
/** More than this of an answer is not read: a receiver has nothing to tell us at length. */
const MAX_RESPONSE_BYTES = 64 * 1024;

function excerpt(text: string): string {
  // The delivery log shows it to a merchant: one line, no control characters.
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > EXCERPT_CHARS ? `${clean.slice(0, EXCERPT_CHARS)}…` : clean;
}

/**
 * POSTs one webhook. Never follows redirects (a 3xx is a failure: a redirect could lead
 * anywhere, including inside), never lets a slow receiver hold it past `timeoutMs` (the
 * whole exchange: connection, TLS, headers and body), keeps connections to the same
 * receiver alive between deliveries.
 */
export class WebhookPoster {
  readonly #options: OutboundOptions;
  readonly #httpAgent = new http.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 4, timeout: 30_000 });
  readonly #httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 4, timeout: 30_000 });
  readonly #inFlight = new Set<http.ClientRequest>();

  constructor(options: OutboundOptions) {
    this.#options = options;
  }

  async post(target: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<PostResult> {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return { statusCode: 0, detail: 'not a valid URL', ok: false };
    }
    const refused = refuseUrl(url, this.#options.allowPrivate);
    if (refused) return { statusCode: 0, detail: `refused: the URL ${refused}`, ok: false };
    const deadline = Date.now() + timeoutMs;
    let addresses: { address: string; family: number }[];
    try {
      addresses = await withTimeout(resolvePublic(url.hostname, this.#options), timeoutMs, 'resolving the host timed out');
    } catch (err) {
      return { statusCode: 0, detail: failure(err), ok: false };
    }
    return this.#send(url, addresses, body, headers, Math.max(1, deadline - Date.now()));
  }

  /** Aborts whatever is in flight (shutdown); their deliveries are retried later. */
  abortAll(): void {
    for (const req of this.#inFlight) req.destroy(new Error('the server is shutting down'));
  }

  close(): void {
    this.abortAll();
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  #send(
    url: URL,
    addresses: { address: string; family: number }[],
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
  ): Promise<PostResult> {
    const allowPrivate = this.#options.allowPrivate;
    const isHttps = url.protocol === 'https:';
    // Connects only to what resolvePublic approved: the name is not looked up again.
    const lookup = (
      _hostname: string,
      options: dns.LookupOptions,
      callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void,
    ) => {
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
    };
    const data = Buffer.from(body, 'utf8');
    return new Promise<PostResult>((resolve) => {
      let settled = false;
      const done = (result: PostResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#inFlight.delete(req);
        resolve(result);
      };
      const req = (isHttps ? https : http).request(url, {
        method: 'POST',
        agent: isHttps ? this.#httpsAgent : this.#httpAgent,
        lookup: lookup as unknown as net.LookupFunction,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(data.length),
          'user-agent': 'NLTrade-Webhooks/1',
        },
      });
      this.#inFlight.add(req);
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 100) / 10} s`)), timeoutMs);
      req.on('socket', (socket: net.Socket) => {
        const check = () => {
          if (allowPrivate) return;
          try {
            assertPublicPeer(socket);
          } catch (err) {
            req.destroy(err as Error);
          }
        };
        // A reused keep-alive socket was checked when it connected.
        if (socket.remoteAddress !== undefined && !socket.connecting) check();
        else socket.once('connect', check);
      });
      req.on('error', (err) => done({ statusCode: 0, detail: failure(err), ok: false }));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= 1024) chunks.push(chunk);
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy();
            finish();
          }
        });
        const finish = () => {
          const text = excerpt(Buffer.concat(chunks).toString('utf8'));
          const ok = status >= 200 && status < 300;
          const redirect = status >= 300 && status < 400;
          done({
            statusCode: status,
            ok,
            detail: ok ? null : `HTTP ${status}${redirect ? ' (redirects are not followed)' : ''}${text ? `: ${text}` : ''}`,
          });
        };
        res.on('end', finish);
        res.on('error', (err) => done({ statusCode: status, detail: failure(err), ok: false }));
        res.on('close', finish);
      });
      req.end(data);
    });
  }
}

function failure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = e?.code && !String(e.message).includes(e.code) ? `${e.code}: ${e.message}` : String(e?.message ?? err);
  return excerpt(text);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
