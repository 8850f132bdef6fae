import type { IncomingMessage } from 'node:http';
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
