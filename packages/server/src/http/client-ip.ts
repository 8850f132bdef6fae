import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import proxyaddr from '@fastify/proxy-addr';

export type TrustFn = (addr: string, hop: number) => boolean;

/**
 * One rule for HTTP and sockets alike: the peer address, unless the peer is a proxy listed
 * in TRUST_PROXY, in which case X-Forwarded-For is followed through trusted hops only.
 */
export function compileTrust(cidrs: readonly string[]): TrustFn {
  if (cidrs.length === 0) return () => false;
  return proxyaddr.compile([...cidrs]);
}

export function clientIp(req: IncomingMessage, trust: TrustFn): string {
  return normaliseIp(proxyaddr(req, trust));
}

/** "::ffff:1.2.3.4" and "1.2.3.4" are the same client; store the short form. */
export function normaliseIp(ip: string | undefined): string {
  if (!ip) return 'unknown';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * The client a limit counts: the IPv4 address, or the /64 of an IPv6 one. A subscriber (a
 * home, a phone) is given a whole /64, so counting single IPv6 addresses would let one
 * client rotate through 2^64 of them.
 */
export function limitKeyOf(ip: string): string {
  if (!net.isIPv6(ip) || ip.includes('.')) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export interface WarnLog {
  warn(obj: object, msg: string): void;
}

/**
 * Notices X-Forwarded-For from a peer outside TRUST_PROXY, once per process: the header is
 * then ignored, so every client behind that proxy looks like the proxy (one payer IP for
 * the invoice binding, one budget for the rate limits) until the proxy is listed.
 */
export class ForwardedForCheck {
  readonly #trust: TrustFn;
  #warned = false;

  constructor(trust: TrustFn) {
    this.#trust = trust;
  }

  check(req: IncomingMessage, log: WarnLog): void {
    if (this.#warned || req.headers['x-forwarded-for'] === undefined) return;
    const peer = req.socket?.remoteAddress;
    if (peer === undefined || this.#trust(peer, 0)) return;
    this.#warned = true;
    log.warn(
      { peer: normaliseIp(peer) },
      `X-Forwarded-For arrived from ${normaliseIp(peer)}, which is not in TRUST_PROXY: the header is ignored, so client IPs ` +
        '(the invoice IP binding, the limits per IP) are that peer. If it is your reverse proxy, add it to TRUST_PROXY. ' +
        'This is logged once.',
    );
  }
}
