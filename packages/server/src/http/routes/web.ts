import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync, constants as zlibConstants } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** packages/web, found from this file so it works from any working directory. */
export const WEB_DIR = fileURLToPath(new URL('../../../../web/', import.meta.url));
const CORE_SRC = fileURLToPath(new URL('../../../../core/src/', import.meta.url));
export const DEFAULT_DIST_DIR = path.join(WEB_DIR, 'dist');

// Matched against the raw path, as the page matches `location.pathname`: a UID spelled with
// percent-escapes is no UID to the page, so the server must not call it one either.
const CHECKOUT_PATH_RE = /^\/pay\/[a-z0-9]{30}\/?$/;
const UNDER_PAY_RE = /^\/pay(?:[/?]|$)/;
// Only what a Host header may legally hold; anything else never reaches the CSP.
const HOST_RE = /^(?:[a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(?::\d{1,5})?$/i;

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.js', '.css', '.svg', '.json', '.txt', '.html']);

interface StaticFile {
  readonly type: string;
  readonly raw: Buffer;
  readonly gzip: Buffer | null;
  readonly br: Buffer | null;
  readonly etag: string;
}

interface Site {
  readonly html: StaticFile;
  readonly assets: ReadonlyMap<string, StaticFile>;
}

function prepare(raw: Buffer, ext: string): StaticFile {
  const compress = COMPRESSIBLE.has(ext) && raw.length > 512;
  return {
    type: ext === '.html' ? 'text/html; charset=utf-8' : (TYPES[ext] ?? 'application/octet-stream'),
    raw,
    gzip: compress ? gzipSync(raw, { level: 9 }) : null,
    br: compress ? brotliCompressSync(raw, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } }) : null,
    etag: `"${createHash('sha256').update(raw).digest('base64url').slice(0, 27)}"`,
  };
}

/** The whole built page is a few files of some tens of KB: held in memory, compressed once. */
function loadSite(distDir: string): Site | null {
  const indexPath = path.join(distDir, 'index.html');
  if (!fs.existsSync(indexPath)) return null;
  const assets = new Map<string, StaticFile>();
  const assetsDir = path.join(distDir, 'assets');
  if (fs.existsSync(assetsDir)) {
    for (const entry of fs.readdirSync(assetsDir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      assets.set(entry.name, prepare(fs.readFileSync(path.join(assetsDir, entry.name)), path.extname(entry.name).toLowerCase()));
    }
  }
  return { html: prepare(fs.readFileSync(indexPath), '.html'), assets };
}

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

/** `status` other than 200: no ETag, since a 304 would turn a 404 into a success. */
function send(request: FastifyRequest, reply: FastifyReply, file: StaticFile, status = 200): FastifyReply {
  reply.header('Vary', 'Accept-Encoding');
  if (status === 200) {
    reply.header('ETag', file.etag);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  }
  reply.code(status);
  const accept = String(request.headers['accept-encoding'] ?? '');
  let body = file.raw;
  if (file.br && /\bbr\b/.test(accept)) {
    body = file.br;
    reply.header('Content-Encoding', 'br');
  } else if (file.gzip && /\bgzip\b/.test(accept)) {
    body = file.gzip;
    reply.header('Content-Encoding', 'gzip');
  }
  return reply.type(file.type).send(body);
}

const ROOT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>NL-Trade gateway</title></head>
<body>
<h1>NL-Trade gateway</h1>
<p>This server is running. It has no page of its own at this address; what it serves:</p>
<ul>
<li><code>/pay/&lt;invoice uid&gt;</code> — the checkout page for payers (a merchant sends its payer there)</li>
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

/** The built page per dist directory, shared with `sendCheckoutNotFound`, which runs outside the plugin. */
const sites = new Map<string, Site>();

function siteOf(distDir: string): Site | null {
  let site = sites.get(distDir) ?? null;
  if (!site) {
    site = loadSite(distDir);
    if (site) sites.set(distDir, site);
  }
  return site;
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
export function sendCheckoutNotFound(request: FastifyRequest, reply: FastifyReply, distDir: string = DEFAULT_DIST_DIR): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  if (!UNDER_PAY_RE.test(request.raw.url ?? '')) return false;
  const site = siteOf(distDir);
  if (!site) return false;
  pageHeaders(request, reply);
  void send(request, reply, site.html, 404);
  return true;
}

/**
 * The hosted checkout page: `GET /pay/:uid` answers the built index.html (any other path
 * under /pay the same page with status 404), `/assets/*` the hashed files Vite made. A missing build is looked for again on each request, so a server
 * started before the build finished recovers without a restart.
 */
export async function webRoutes(app: FastifyInstance, opts: WebRoutesOptions): Promise<void> {
  // A build made since an earlier server in this process loaded it (tests restart servers).
  sites.delete(opts.distDir);
  const current = (): Site | null => siteOf(opts.distDir);
  if (!current()) app.log.warn({ distDir: opts.distDir }, 'checkout page not built; /pay/:uid answers 503 until it is');

  // Every path under /pay is the page's: a mangled link (cut short, case changed, a segment
  // added) gets the page's own not-found view, never the API's JSON 404.
  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = (request.raw.url ?? '').split('?', 1)[0] ?? '';
    if (!CHECKOUT_PATH_RE.test(path)) {
      if (sendCheckoutNotFound(request, reply, opts.distDir)) return reply;
      reply.callNotFound();
      return reply;
    }
    const s = current();
    if (!s) {
      securityHeaders(reply);
      return reply
        .code(503)
        .header('Cache-Control', 'no-store')
        .send({ status: false, code: 'UNAVAILABLE', message: 'The checkout page is not built yet (npm run build -w packages/web)' });
    }
    pageHeaders(request, reply);
    return send(request, reply, s.html);
  };
  app.get('/pay', page);
  app.get('/pay/*', page);

  // Whoever opens the URL `npm start` prints should see what is here, not a JSON 404.
  app.get('/', async (_request, reply) => {
    securityHeaders(reply);
    reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    reply.header('Cache-Control', 'no-cache');
    return reply.type('text/html; charset=utf-8').send(ROOT_PAGE);
  });

  app.get<{ Params: { '*': string } }>('/assets/*', async (request, reply) => {
    const name = request.params['*'];
    const file = current()?.assets.get(name);
    if (!file) {
      reply.callNotFound();
      return reply;
    }
    securityHeaders(reply);
    // Names carry a content hash: a changed file is a new URL, so the old one never changes.
    reply.header('Cache-Control', 'public, max-age=31536000, immutable');
    return send(request, reply, file);
  });
}

function newestMtime(target: string): number {
  let newest = 0;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  for (const entry of fs.readdirSync(target, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    newest = Math.max(newest, newestMtime(path.join(target, entry.name)));
  }
  return newest;
}

/** True when dist/index.html is missing or older than anything the bundle is made from. */
export function webBuildStale(distDir: string = DEFAULT_DIST_DIR): boolean {
  let built: number;
  try {
    built = fs.statSync(path.join(distDir, 'index.html')).mtimeMs;
  } catch {
    return true;
  }
  const sources = ['index.html', 'vite.config.ts', 'package.json', 'src'].map((p) => path.join(WEB_DIR, p));
  const newest = Math.max(...sources.map(newestMtime), newestMtime(CORE_SRC));
  return newest > built;
}

function viteBin(): string | null {
  try {
    const require = createRequire(path.join(WEB_DIR, 'package.json'));
    return path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
  } catch {
    return null;
  }
}

function runVite(bin: string, outDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
      cwd: WEB_DIR,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`vite build failed (${signal ?? `exit ${code}`})`));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Several processes may start at once (test files run in parallel): a lock directory lets
 * one build while the others wait, and the result is swapped in with renames so nobody
 * reads a half-written dist.
 */
async function buildLocked(distDir: string): Promise<void> {
  const lock = path.join(WEB_DIR, '.build-lock');
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let age = 0;
      try {
        age = Date.now() - fs.statSync(lock).mtimeMs;
      } catch {
        continue;
      }
      // A builder that died leaves its lock behind; builds take seconds, not minutes.
      if (age > 200_000) fs.rmSync(lock, { recursive: true, force: true });
      else await sleep(250);
      if (!webBuildStale(distDir)) return;
    }
  }
  try {
    if (!webBuildStale(distDir)) return;
    const bin = viteBin();
    if (!bin) throw new Error('vite is not installed (npm ci installs it); cannot build packages/web');
    const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const tmp = `${distDir}.tmp-${tag}`;
    const old = `${distDir}.old-${tag}`;
    try {
      await runVite(bin, tmp);
      if (fs.existsSync(distDir)) fs.renameSync(distDir, old);
      fs.renameSync(tmp, distDir);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.rmSync(old, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

let building: Promise<string> | null = null;

/**
 * Builds packages/web when its dist is missing or older than its sources; returns the dist
 * directory. A deployment that ships a prebuilt dist without vite still starts.
 */
export function ensureWebBuilt(distDir: string = DEFAULT_DIST_DIR): Promise<string> {
  if (!webBuildStale(distDir)) return Promise.resolve(distDir);
  if (!viteBin() && fs.existsSync(path.join(distDir, 'index.html'))) return Promise.resolve(distDir);
  building ??= buildLocked(distDir)
    .then(() => distDir)
    .finally(() => {
      building = null;
    });
  return building;
}
