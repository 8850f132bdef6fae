import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { checkoutUid } from '@nltrade/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The built checkout page: `@nltrade/web`'s dist/, made at build time (`npm run build`),
 * never by the server. Found through the package, so it works from any working directory and
 * from an installed copy as well as from the monorepo.
 */
export function defaultWebDistDir(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.resolve('@nltrade/web/package.json'))), 'dist');
}

// Matched against the raw path, as the page matches `location.pathname`: a UID spelled with
// percent-escapes is no UID to the page, so the server must not call it one either.
const isCheckoutPath = (urlPath: string) => checkoutUid(urlPath) !== null;
const UNDER_PAY_RE = /^\/pay(?:[/?]|$)/;
// Only what a Host header may legally hold; anything else never reaches the CSP.
const HOST_RE = /^(?:[a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(?::\d{1,5})?$/i;

/**
 * Same-origin sockets are listed explicitly as well as 'self': browsers that predate CSP 3
 * do not count ws:/wss: as 'self'.
 */
export function contentSecurityPolicy(host: string | undefined): string {
  const sockets = host && HOST_RE.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    `connect-src 'self'${sockets}`,
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function securityHeaders(reply: FastifyReply): void {
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Referrer-Policy', 'no-referrer');
  reply.header('Cross-Origin-Resource-Policy', 'same-origin');
}

const ROOT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>NL-Trade gateway</title></head>
<body>
<h1>NL-Trade gateway</h1>
<p>This server is running. It has no page of its own at this address; what it serves:</p>
<ul>
<li><code>/pay/&lt;invoice uid&gt;</code> — the checkout page for payers (a merchant sends its payer there)</li>
<li><a href="/console">/console</a> — the web console for traders, administrators and merchants (sign in with a console user)</li>
<li><code>POST /method/RemoteInvoiceApi</code>, <code>POST /helpers/getLatestPublicRemoteRsaKey.php</code> — the NL-Trade Remote Invoice API</li>
<li><code>/socket.io</code> — the realtime channel (<code>invoice:join</code>, <code>ip:send</code>, <code>invoce:refetch</code>)</li>
<li><code>/v1/trader/…</code>, <code>/v1/admin/…</code>, <code>/v1/checkout/…</code> — the v1 API</li>
<li><a href="/health">/health</a> — liveness</li>
</ul>
<p>With <code>npm start</code>, the demo invoice's checkout link and the demo tokens are printed in the terminal.</p>
</body>
</html>
`;

export interface WebRoutesOptions {
  distDir: string;
}

/**
 * index.html as the not-found answer: read from disk (it is a few hundred bytes), so a page
 * rebuilt while the server runs is served at once. Null before the page is built.
 */
function notFoundHtml(distDir: string): Buffer | null {
  try {
    return fs.readFileSync(path.join(distDir, 'index.html'));
  } catch {
    return null;
  }
}

/** The page's own headers; the browser must treat its not-found answer exactly like the page. */
function pageHeaders(request: FastifyRequest, reply: FastifyReply): void {
  securityHeaders(reply);
  reply.header('Content-Security-Policy', contentSecurityPolicy(request.headers.host));
  reply.header('X-Frame-Options', 'DENY');
  reply.header('Cross-Origin-Opener-Policy', 'same-origin');
  reply.header('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=()');
  // The HTML names the current asset hashes: always revalidate it (the ETag makes that cheap).
  reply.header('Cache-Control', 'no-cache');
}

/**
 * Answers a URL under /pay that names no invoice with the page itself and status 404: the page
 * sees no UID in its address and shows its not-found view, in the payer's language, instead of
 * a JSON error. Returns false (and sends nothing) for other URLs or before the page is built.
 *
 * Exported for the app's `frameworkErrors`: a path with broken percent-encoding (`/pay/%zz`)
 * fails in Fastify's router and never reaches the routes below.
 */
export function sendCheckoutNotFound(request: FastifyRequest, reply: FastifyReply, distDir: string): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  if (!UNDER_PAY_RE.test(request.raw.url ?? '')) return false;
  const html = notFoundHtml(distDir);
  if (!html) return false;
  pageHeaders(request, reply);
  // No ETag: a 304 would turn this 404 into a success.
  void reply.code(404).type('text/html; charset=utf-8').send(html);
  return true;
}

/**
 * The hosted checkout page: `GET /pay/:uid` answers the built index.html (any other path
 * under /pay the same page with status 404), `/assets/*` the hashed files Vite made, both
 * through @fastify/static with the build's precompressed .br/.gz siblings. A missing build
 * is looked for again on each request, so a server started before the build finished
 * recovers without a restart.
 */
export async function webRoutes(app: FastifyInstance, opts: WebRoutesOptions): Promise<void> {
  const { distDir } = opts;
  const built = () => fs.existsSync(path.join(distDir, 'index.html'));
  if (!built()) app.log.warn({ distDir }, 'checkout page not built; /pay/:uid answers 503 until it is (npm run build)');

  await app.register(fastifyStatic, {
    root: path.join(distDir, 'assets'),
    prefix: '/assets/',
    preCompressed: true,
    // Names carry a content hash: a changed file is a new URL, so the old one never changes.
    immutable: true,
    maxAge: '365d',
    index: false,
    // Looked up per request, so files built after the start are found too.
    wildcard: true,
    setHeaders: (res) => {
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    },
  });

  // Every path under /pay is the page's: a mangled link (cut short, case changed, a segment
  // added) gets the page's own not-found view, never the API's JSON 404.
  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    const urlPath = (request.raw.url ?? '').split('?', 1)[0] ?? '';
    if (!isCheckoutPath(urlPath)) {
      if (sendCheckoutNotFound(request, reply, distDir)) return reply;
      reply.callNotFound();
      return reply;
    }
    if (!built()) {
      securityHeaders(reply);
      return reply
        .code(503)
        .header('Cache-Control', 'no-store')
        .send({ status: false, code: 'UNAVAILABLE', message: 'The checkout page is not built yet (npm run build)' });
    }
    pageHeaders(request, reply);
    // The HTML names the current asset hashes: revalidated every time (no max-age), cheaply by ETag.
    return reply.sendFile('index.html', distDir, { maxAge: 0, immutable: false, cacheControl: false });
  };
  app.get('/pay', page);
  app.get('/pay/*', page);

  // The staff console: one page for every path under /console (it routes by itself), with the
  // checkout's headers; the session cookie, not the URL, decides what it shows.
  const consoleBuilt = () => fs.existsSync(path.join(distDir, 'console.html'));
  const consolePage = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!consoleBuilt()) {
      securityHeaders(reply);
      return reply
        .code(503)
        .header('Cache-Control', 'no-store')
        .send({ status: false, code: 'UNAVAILABLE', message: 'The console is not built yet (npm run build)' });
    }
    pageHeaders(request, reply);
    return reply.sendFile('console.html', distDir, { maxAge: 0, immutable: false, cacheControl: false });
  };
  app.get('/console', consolePage);
  app.get('/console/*', consolePage);

  // Whoever opens the URL `npm start` prints should see what is here, not a JSON 404.
  app.get('/', async (_request, reply) => {
    securityHeaders(reply);
    reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    reply.header('Cache-Control', 'no-cache');
    return reply.type('text/html; charset=utf-8').send(ROOT_PAGE);
  });
}
