import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Config, createSystem, loadConfig, ManualClock, type RunningServer, type System, startServer } from '@nltrade/server';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'screenshots', 'checkout');
/** Console users' password in these tests: long enough for the server's minimum. */
export const CONSOLE_PASSWORD = 'correct horse battery';
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const PAYMENT_TIMEOUT_S = 960;

export const VIEWPORTS = {
  mobile: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
} as const;

type ContextOptions = Parameters<typeof openContext>[2];

/**
 * The server and one browser for a describe block: started before its tests, closed after
 * them; the contexts a test opens are closed after that test (pages left open would keep
 * reconnecting to later tests' servers). `open` defaults to `defaults`, per call overridable.
 */
export function browserSuite(
  h: Harness,
  defaults: ContextOptions = {},
): { browser(): Browser; open(opts?: ContextOptions): Promise<Watched> } {
  let browser: Browser | undefined;
  const opened: Watched[] = [];
  before(async () => {
    await h.start();
    browser = await launchBrowser();
  });
  afterEach(async () => {
    for (const w of opened.splice(0)) await w.context.close().catch(() => {});
  });
  after(async () => {
    await browser?.close();
    await h.close();
  });
  const started = (): Browser => {
    if (!browser) throw new Error('the browser starts in the suite’s before hook');
    return browser;
  };
  return {
    browser: started,
    async open(opts) {
      const w = await openContext(started(), h, { ...defaults, ...opts });
      opened.push(w);
      return w;
    },
  };
}

/**
 * The real server (SQLite in a temp dir, a ManualClock, the sweeper driven by hand) plus the
 * accounts a walk-through needs. Loopback is a trusted proxy so a browser context can act as
 * another client IP with an X-Forwarded-For header.
 */
export class Harness {
  readonly clock = new ManualClock(Date.now());
  system!: System;
  server!: RunningServer;
  url = '';
  merchantId = '';
  trader = { id: '', token: '' };
  admin = { id: '', token: '' };
  #config!: Config;
  // Staff address invoices by number: the UID is the payer's secret (the checkout link).
  readonly #ids = new Map<string, string>();
  #dataDir = '';

  async start(): Promise<void> {
    this.#dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-web-e2e-'));
    this.#config = loadConfig(
      {},
      {
        dataDir: this.#dataDir,
        databaseUrl: undefined,
        rsaKeyBits: 2048,
        rsaThreads: 1,
        masterKey: randomBytes(32).toString('hex'),
        host: '127.0.0.1',
        port: 0,
        trustProxy: ['127.0.0.1/32', '::1/128'],
        paymentTimeoutSeconds: PAYMENT_TIMEOUT_S,
        logLevel: 'warn',
      },
    );
    this.system = await createSystem(this.#config, { clock: this.clock });
    await this.#listen(0);
    this.merchantId = (await this.system.merchants.create('Test shop')).merchantId;
    this.trader = await this.system.accounts.create('trader', 'Trader Taras');
    // With REQUIRE_TRADER_DEPOSIT on (the default) the trader needs a deposit covering what it takes.
    await this.system.ledger.deposit(this.trader.id, '100000.00', { type: 'admin', id: null });
    this.admin = await this.system.accounts.create('admin', 'Admin Olena');
  }

  async #listen(port: number): Promise<void> {
    this.server = await startServer({ ...this.#config, port }, { system: this.system, sweeper: { start: false } });
    this.url = this.server.url;
  }

  /**
   * Stops HTTP and sockets (the database stays), as a crash would: open connections are cut
   * rather than drained, or a browser's keep-alive or long-poll holds the close for a minute.
   */
  async stopServer(): Promise<void> {
    const http = this.server.app.server;
    const closing = this.server.close();
    const cut = setInterval(() => http.closeAllConnections(), 20);
    http.closeAllConnections();
    try {
      await closing;
    } finally {
      clearInterval(cut);
    }
  }

  /** Starts again on the same port, so open pages can reconnect to the same origin. */
  async restartServer(): Promise<void> {
    await this.#listen(Number(new URL(this.url).port));
  }

  async close(): Promise<void> {
    await this.server?.close();
    await this.system?.close();
    if (this.#dataDir) fs.rmSync(this.#dataDir, { recursive: true, force: true });
  }

  async invoice(
    price = '1500.50',
    title = 'Замовлення №4217 — навушники',
    returnUrl: string | null = 'https://shop.example/thanks',
  ): Promise<string> {
    const input = returnUrl ? { title, price, returnUrl } : { title, price };
    const invoice = await this.system.invoices.create(this.merchantId, input);
    this.#ids.set(invoice.uid, invoice.id);
    return invoice.uid;
  }

  #number(uid: string): string {
    const id = this.#ids.get(uid);
    if (!id) throw new Error(`no invoice ${uid} was made by this harness`);
    return id;
  }

  /** The number staff know an invoice by; also for invoices made elsewhere (a merchant's console). */
  async numberOf(uid: string): Promise<string> {
    const known = this.#ids.get(uid);
    if (known) return known;
    const invoice = await this.system.invoices.findByUid(uid);
    if (!invoice) throw new Error(`no invoice ${uid}`);
    this.#ids.set(uid, invoice.id);
    return invoice.id;
  }

  async traderCall(uid: string, action: 'accept' | 'card' | 'confirm' | 'dispute' | 'amount', body?: unknown): Promise<void> {
    await this.#post(`/v1/trader/invoices/${await this.numberOf(uid)}/${action}`, this.trader.token, body);
  }

  async adminCall(uid: string, action: 'decide' | 'cancel', body?: unknown): Promise<void> {
    await this.#post(`/v1/admin/invoices/${this.#number(uid)}/${action}`, this.admin.token, body);
  }

  /**
   * A console login: a trader acting as the harness's trader account (which has a deposit)
   * unless told otherwise, an administrator as the harness's admin, a merchant user of its shop.
   */
  async consoleUser(role: 'trader' | 'admin' | 'merchant', name: string): Promise<{ id: string; name: string }> {
    const input =
      role === 'merchant'
        ? { name, password: CONSOLE_PASSWORD, role, merchantId: this.merchantId }
        : { name, password: CONSOLE_PASSWORD, role, accountId: role === 'trader' ? this.trader.id : this.admin.id };
    const made = await this.system.consoleUsers.create(input);
    return { id: made.id, name };
  }

  /**
   * A fresh access token for the harness's merchant (the one made at start is not kept): the
   * previous token stops working, as when the merchant asks for a new one in the console.
   */
  async merchantApiToken(): Promise<string> {
    return this.system.merchants.reissueToken(this.merchantId);
  }

  async #post(p: string, token: string, body: unknown): Promise<void> {
    const res = await fetch(this.url + p, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`POST ${p} → ${res.status} ${await res.text()}`);
  }
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface Watched {
  page: Page;
  context: BrowserContext;
  /** CSP violations, page errors and requests that left the server's origin. */
  problems: string[];
}

export async function openContext(
  browser: Browser,
  h: Harness,
  opts: { ip?: string; locale?: string; viewport?: { width: number; height: number } } = {},
): Promise<Watched> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? VIEWPORTS.mobile,
    deviceScaleFactor: 1,
    locale: opts.locale ?? 'uk-UA',
    ...(opts.ip ? { extraHTTPHeaders: { 'X-Forwarded-For': opts.ip } } : {}),
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: h.url });
  const page = await context.newPage();
  const problems: string[] = [];
  const origin = new URL(h.url).origin;
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on('request', (req) => {
    const u = req.url();
    if (u.startsWith('data:') || u.startsWith('blob:')) return;
    const o = new URL(u);
    const same = o.host === new URL(origin).host;
    if (!same) problems.push(`third-party request: ${u}`);
  });
  return { page, context, problems };
}

/** Both sizes the README promises, full page so nothing below the fold is missed. */
export async function screenshots(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const before = page.viewportSize() ?? VIEWPORTS.mobile;
  // Animations (the spinner, the countdown bar) would make otherwise equal shots differ.
  const shoot = async (size: { width: number; height: number }, suffix: string) => {
    await page.setViewportSize(size);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.${suffix}.png`), fullPage: true, animations: 'disabled' });
  };
  await shoot(VIEWPORTS.mobile, '390x844');
  await shoot(VIEWPORTS.desktop, '1280x800');
  await page.setViewportSize(before);
}

/** A real JPEG, encoded by the browser, of something that looks like a bank receipt. */
export async function receiptJpeg(browser: Browser): Promise<Buffer> {
  const page = await browser.newPage();
  try {
    const dataUrl = await page.evaluate(() => {
      const c = document.createElement('canvas');
      c.width = 600;
      c.height = 900;
      const g = c.getContext('2d');
      if (!g) throw new Error('no 2d context');
      g.fillStyle = '#ffffff';
      g.fillRect(0, 0, 600, 900);
      g.fillStyle = '#1d7a46';
      g.beginPath();
      g.arc(300, 140, 60, 0, Math.PI * 2);
      g.fill();
      g.fillStyle = '#111';
      g.font = 'bold 40px sans-serif';
      g.textAlign = 'center';
      g.fillText('1 400,00 UAH', 300, 290);
      g.font = '26px sans-serif';
      const lines = ['Transfer completed', 'To card **** 4444', '2026-01-01 12:03', 'Receipt #8812734'];
      for (const [i, l] of lines.entries()) g.fillText(l, 300, 360 + i * 50);
      return c.toDataURL('image/jpeg', 0.85);
    });
    return Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
  } finally {
    await page.close();
  }
}

export async function waitFor(page: Page, testId: string, timeout = 10_000): Promise<void> {
  await page.locator(`[data-testid="${testId}"]`).first().waitFor({ state: 'visible', timeout });
}

export async function text(page: Page, testId: string): Promise<string> {
  return ((await page.locator(`[data-testid="${testId}"]`).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}
