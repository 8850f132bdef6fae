import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  browserSuite,
  CHROMIUM,
  Harness,
  PAYMENT_TIMEOUT_S,
  receiptJpeg,
  SCREENSHOT_DIR,
  screenshots,
  text,
  VIEWPORTS,
  waitFor,
} from './support/harness.ts';

const CARD = '4441114441114442';

// CI installs Chromium and must run this tier; on a machine without it (a fresh laptop
// running `npm test`) the tier is reported as skipped instead of failing every test.
const noBrowser = !fs.existsSync(CHROMIUM);
if (noBrowser && process.env.CI) throw new Error(`Chromium is required in CI but ${CHROMIUM} is missing`);
if (noBrowser) console.warn(`# browser tier skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

describe('hosted checkout page (real server, headless Chromium)', { skip: noBrowser }, () => {
  const h = new Harness();
  const { browser, open } = browserSuite(h);

  test('walks the whole process: trader, card, copy, pay, amount change, dispute, photo, admin, success', async () => {
    const uid = await h.invoice('1500.50');
    const w = await open();
    const { page } = w;
    const res = await page.goto(`${h.url}/pay/${uid}`);
    assert.equal(res?.status(), 200);
    const csp = res?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);

    await waitFor(page, 'state-wait-trader');
    assert.match(await text(page, 'title'), /Замовлення №4217/);
    assert.match(await text(page, 'amount'), /1\s?500,50/);
    assert.equal(await amountLabel(page), 'Сума до сплати');
    assert.deepEqual(await stepLabels(page), ['Трейдер', 'Оплата', 'Перевірка', 'Результат']);
    await waitFor(page, 'connection');
    await page.locator('.conn.is-live').waitFor();
    await screenshots(page, '01-wait-trader');

    // Every change below arrives over the socket: the page is never reloaded.
    await h.traderCall(uid, 'accept');
    await waitFor(page, 'state-wait-card');
    await screenshots(page, '02-wait-card');

    await h.traderCall(uid, 'card', { card: CARD });
    await waitFor(page, 'state-send-card');
    assert.equal(await text(page, 'card-number'), '4441 1144 4111 4442');
    assert.match(await text(page, 'countdown'), /16:00|15:5\d/);
    await screenshots(page, '03-send-card');

    await page.getByTestId('copy-card').click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), CARD);
    await page.getByTestId('copy-amount').click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), '1500.50');
    await page.getByTestId('announcer').filter({ hasText: 'Суму скопійовано' }).waitFor();

    await page.getByTestId('paid').click();
    await waitFor(page, 'confirm');
    await screenshots(page, '04-confirm-paid');
    await page.getByTestId('confirm-paid').click();
    await waitFor(page, 'state-pay');
    await screenshots(page, '05-trader-checking');

    await h.traderCall(uid, 'amount', { amount: '1400' });
    await waitFor(page, 'amount-changed');
    // The trader entered what arrived: the head says so, and each amount is on the page once.
    assert.match(await text(page, 'amount-changed'), /1\s?500,50/);
    assert.equal(await text(page, 'amount'), '1 400 грн');
    assert.equal(await amountLabel(page), 'Сплачена сума');
    assert.deepEqual(await amountsOnPage(page), { '1 400 грн': 1, '1 500,50 грн': 1 });
    await screenshots(page, '06-amount-changed');

    await h.traderCall(uid, 'dispute', { reason: 'No such transfer found' });
    await waitFor(page, 'state-photo');
    await screenshots(page, '07-photo-needed');

    // First attempt dies on the network: the page must offer a retry that then succeeds.
    const jpeg = await receiptJpeg(browser());
    await page.getByTestId('photo-input').setInputFiles({ name: 'receipt.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await waitFor(page, 'photo-preview');
    await screenshots(page, '08-photo-preview');
    await page.route('**/v1/checkout/*/photo', (route) => route.abort('connectionfailed'));
    await page.getByTestId('photo-send').click();
    await waitFor(page, 'upload-error');
    await screenshots(page, '09-photo-upload-failed');
    await page.unroute('**/v1/checkout/*/photo');
    await page.getByTestId('photo-send').click();
    await waitFor(page, 'state-review');
    await screenshots(page, '10-admin-reviewing');

    await h.adminCall(uid, 'decide', { decision: 'success', reason: 'Receipt matches the bank statement' });
    await waitFor(page, 'state-success');
    assert.equal(await page.getByTestId('return-link').getAttribute('href'), 'https://shop.example/thanks');
    assert.equal(await amountLabel(page), 'Сплачена сума');
    assert.equal((await amountsOnPage(page))['1 400 грн'], 1, 'the success panel must not repeat the amount');
    assert.deepEqual(await stepLabels(page), ['Трейдер', 'Оплата', 'Перевірка', 'Готово']);
    await screenshots(page, '11-success');
    await page.getByTestId('lang-en').click();
    await page.getByText('Payment received').waitFor();
    assert.equal(await amountLabel(page), 'Amount paid');

    assert.deepEqual(w.problems, []);
  });

  test('a payer who opens the link after the card was sent sees and copies the whole card at once', async () => {
    const uid = await h.invoice('640');
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: CARD });
    const { page, problems } = await open();
    await recordCardTexts(page);
    // The first GET races the socket's join: it may find nobody bound and get the masked card
    // at the same version the socket then sends in full.
    await page.goto(`${h.url}/pay/${uid}`);
    await waitFor(page, 'state-send-card');
    await page.getByTestId('card-number').filter({ hasText: '4441 1144 4111 4442' }).waitFor({ timeout: 5000 });
    await page.getByTestId('copy-card').click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), CARD);
    // Waiting for the join is fine; a masked number on the screen is not.
    assert.deepEqual(
      (await cardTexts(page)).filter((c) => c !== 'BINDING'),
      ['4441 1144 4111 4442'],
    );
    assert.deepEqual(problems, []);
  });

  test('an answer that knows less (masked card, same version) never replaces the whole card', async () => {
    const uid = await h.invoice('640');
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: CARD });
    const { page, problems } = await open();
    await recordCardTexts(page);
    // Hold the page's first GET until the socket has delivered the full card, then answer it
    // as a read made before the join would have been answered.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let stale: Promise<void> | null = null;
    await page.route(`**/v1/checkout/${uid}`, (route) => {
      if (stale || route.request().method() !== 'GET') return route.continue();
      stale = (async () => {
        await released;
        const res = await route.fetch();
        const view = (await res.json()) as Record<string, unknown>;
        assert.equal(view.card, CARD);
        await route.fulfill({ response: res, json: { ...view, card: '4441-11**-****-4442', boundTo: 'nobody', ip: null } });
      })();
      return stale;
    });
    await page.goto(`${h.url}/pay/${uid}`);
    await page.getByTestId('card-number').filter({ hasText: '4441 1144 4111 4442' }).waitFor({ timeout: 5000 });
    release();
    await stale;
    // A view is applied within a task of its arrival; give the page ample time to go wrong.
    await page.waitForTimeout(400);
    assert.equal(await text(page, 'card-number'), '4441 1144 4111 4442');
    assert.deepEqual(await cardTexts(page), ['4441 1144 4111 4442'], 'the page stepped back from the whole card');
    await page.getByTestId('copy-card').click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), CARD);
    assert.deepEqual(problems, []);
  });

  test('until its join lands the page waits rather than show a masked card, then shows the whole one', async () => {
    const uid = await h.invoice('640');
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: CARD });
    const { page, problems } = await open();
    // No realtime channel, so nothing binds the invoice to this browser: the GET gets the masked card.
    await page.routeWebSocket('**/socket.io/**', (ws) => ws.close());
    await page.route('**/socket.io/**', (route) => route.abort('connectionrefused'));
    await page.goto(`${h.url}/pay/${uid}`);
    await waitFor(page, 'state-binding');
    assert.equal(await page.getByTestId('card-number').count(), 0);
    assert.equal(await page.getByTestId('copy-card').count(), 0);
    assert.doesNotMatch((await page.locator('main').textContent()) ?? '', /4441|4442/);
    await screenshots(page, '03a-send-card-connecting');
    await page.unrouteAll();
    await page.routeWebSocket('**/socket.io/**', (ws) => ws.connectToServer());
    // socket.io's reconnection back-off (up to 4 s, jittered) sets the pace here.
    await page.getByTestId('card-number').filter({ hasText: '4441 1144 4111 4442' }).waitFor({ timeout: 20_000 });
    assert.ok(
      problems.every((p) => !/pageerror/.test(p)),
      problems.join('\n'),
    );
  });

  test('"I have paid" on a phone scrolls the confirmation into view', async () => {
    const uid = await h.invoice('1500.50');
    const { page, problems } = await open({ viewport: VIEWPORTS.mobile });
    await page.goto(`${h.url}/pay/${uid}`);
    await waitFor(page, 'state-wait-trader');
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: CARD });
    await waitFor(page, 'state-send-card');
    await page.getByTestId('paid').click();
    await waitFor(page, 'confirm');
    // Smooth scrolling takes a moment; the whole box, both buttons included, must end up visible.
    await page.waitForFunction(
      () => {
        const r = document.querySelector('[data-testid="confirm"]')?.getBoundingClientRect();
        return !!r && r.top >= 0 && r.bottom <= window.innerHeight;
      },
      undefined,
      { timeout: 3000 },
    );
    // Let the smooth scroll come to rest so the picture shows where the payer ends up.
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, '04b-confirm-paid-in-view.390x844.png') });
    assert.deepEqual(problems, []);
  });

  test('a second device from another IP is told the invoice is taken, with no payment details', async () => {
    const uid = await h.invoice('780');
    const first = await open();
    await first.page.goto(`${h.url}/pay/${uid}`);
    await waitFor(first.page, 'state-wait-trader');
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: CARD });
    await waitFor(first.page, 'state-send-card');

    const other = await open({ ip: '203.0.113.77' });
    await other.page.goto(`${h.url}/pay/${uid}`);
    await waitFor(other.page, 'taken');
    assert.equal(await other.page.getByTestId('card-number').count(), 0);
    assert.doesNotMatch((await other.page.textContent('body')) ?? '', /4441/);
    assert.equal(await other.page.getByTestId('return-link').getAttribute('href'), 'https://shop.example/thanks');
    await screenshots(other.page, '12-taken-by-another-device');
    assert.deepEqual(other.problems, []);
  });

  test('the last quarter of the payment time is flagged, and a timeout shows rejected', async () => {
    const uid = await h.invoice('2000');
    const { page, problems } = await open();
    await page.goto(`${h.url}/pay/${uid}`);
    await waitFor(page, 'state-wait-trader');
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: CARD });
    await waitFor(page, 'state-send-card');
    assert.equal(await page.getByTestId('countdown-warning').count(), 0);

    // The page counts from the server's clock, not the browser's: move the server's and reload.
    h.clock.advance(PAYMENT_TIMEOUT_S * 1000 * 0.8);
    await page.reload();
    await waitFor(page, 'countdown-warning');
    assert.match(await text(page, 'countdown'), /3:1\d|3:0\d/);
    await screenshots(page, '13-send-card-time-running-out');

    h.clock.advance(PAYMENT_TIMEOUT_S * 1000 * 0.25);
    const swept = await h.server.sweeper.runOnce();
    assert.ok(swept.expired >= 1);
    await waitFor(page, 'state-rejected');
    // Nothing was paid, and there is nothing left to pay.
    assert.equal(await amountLabel(page), 'Сума рахунку');
    await screenshots(page, '14-rejected-timeout');
    assert.deepEqual(problems, []);
  });

  test('canceled by an administrator shows the reason', async () => {
    const uid = await h.invoice('950.00', 'Order 77', null);
    const { page, problems } = await open({ locale: 'en-US' });
    await page.goto(`${h.url}/pay/${uid}`);
    await waitFor(page, 'state-wait-trader');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    // The status says nobody has taken it yet: no step may claim otherwise.
    assert.match(await text(page, 'status'), /Not yet taken/);
    assert.deepEqual(await stepLabels(page), ['Trader', 'Payment', 'Check', 'Result']);
    assert.equal(await amountLabel(page), 'Amount to pay');
    await h.adminCall(uid, 'cancel', { reason: 'The store canceled the order' });
    await waitFor(page, 'state-canceled');
    assert.match(await text(page, 'reason'), /The store canceled the order/);
    assert.equal(await amountLabel(page), 'Invoice amount');
    assert.deepEqual(await stepLabels(page), ['Trader', 'Payment', 'Check', 'Canceled']);
    assert.equal(await page.getByTestId('return-link').count(), 0);
    await screenshots(page, '15-canceled-en');
    assert.deepEqual(problems, []);
  });

  test('after a server restart the page reconnects and shows the current state without a reload', async () => {
    const uid = await h.invoice('1200');
    const { page, problems } = await open();
    await page.goto(`${h.url}/pay/${uid}`);
    await waitFor(page, 'state-wait-trader');
    await page.locator('.conn.is-live').waitFor();

    await h.stopServer();
    try {
      await page.locator('.conn.is-polling, .conn.is-offline').first().waitFor({ timeout: 10_000 });
      await screenshots(page, '16-connection-lost');
      // Changed while no server was listening: only a resync after reconnecting can show it.
      const trader = { type: 'trader' as const, id: h.trader.id };
      await h.system.invoices.act(uid, 'accept', trader);
      await h.system.invoices.act(uid, 'setCard', trader, { card: CARD });
    } finally {
      await h.restartServer();
    }

    await waitFor(page, 'state-send-card', 20_000);
    assert.equal(await text(page, 'card-number'), '4441 1144 4111 4442');
    await page.locator('.conn.is-live').waitFor({ timeout: 15_000 });
    assert.ok(
      problems.every((p) => !/Content Security Policy|third-party/.test(p)),
      problems.join('\n'),
    );
  });

  test('language: ?lang= wins, the switcher changes it, and 320 px wide needs no sideways scrolling', async () => {
    const uid = await h.invoice('123456.78', 'A very long order title that must wrap nicely on a narrow phone screen without overflow');
    const { page, problems } = await open({ viewport: { width: 320, height: 640 } });
    await page.goto(`${h.url}/pay/${uid}?lang=en`);
    await waitFor(page, 'state-wait-trader');
    assert.match(await text(page, 'state-wait-trader'), /Finding a trader/);
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: '4111111111111111' });
    await waitFor(page, 'state-send-card');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `horizontal overflow of ${overflow}px at 320px`);
    // Overflow hidden by a parent does not scroll the page but still cuts text off: check the text itself.
    const sticking = await page.evaluate(() => {
      const card = document.querySelector('main')?.getBoundingClientRect();
      const out: string[] = [];
      for (const el of document.querySelectorAll('main *')) {
        const r = el.getBoundingClientRect();
        if (card && r.width > 0 && (r.right > card.right + 0.5 || r.left < card.left - 0.5)) out.push(`${el.tagName}.${el.className}`);
      }
      return out;
    });
    assert.deepEqual(sticking, [], 'elements sticking out of the card at 320px');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, '17-send-card-en.320x640.png'), fullPage: true });

    await page.getByTestId('lang-uk').click();
    await page.getByText('Переказ на картку').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'uk');
    assert.match(page.url(), /lang=uk/);
    assert.deepEqual(problems, []);
  });

  test('a sandbox invoice says it is a test, in both languages; a real one does not', async () => {
    const test = await h.system.invoices.create(h.merchantId, { title: 'Sandbox order', price: '250', sandbox: true });
    const { page } = await open({ viewport: VIEWPORTS.mobile });
    await page.goto(`${h.url}/pay/${test.uid}`);
    await waitFor(page, 'sandbox');
    assert.match(await text(page, 'sandbox'), /Тестовий режим/);
    await screenshots(page, '20-sandbox');
    await page.goto(`${h.url}/pay/${test.uid}?lang=en`);
    await waitFor(page, 'sandbox');
    assert.match(await text(page, 'sandbox'), /Test mode.*do not send real money/);
    await page.goto(`${h.url}/pay/${await h.invoice('250')}`);
    await waitFor(page, 'title');
    assert.equal(await page.getByTestId('sandbox').count(), 0);
  });

  test('an unknown invoice says so', async () => {
    const { page } = await open({ viewport: VIEWPORTS.desktop });
    await page.goto(`${h.url}/pay/${'z'.repeat(30)}`);
    await waitFor(page, 'not-found');
    await screenshots(page, '18-not-found');
    const asset = await page.request.get(`${h.url}/assets/nope.js`);
    assert.equal(asset.status(), 404);
  });

  test('a malformed checkout link gets the page’s own not-found view with status 404', async () => {
    const uid = await h.invoice('100');
    const real = await fetch(`${h.url}/pay/${uid}`);
    assert.equal(real.status, 200);
    const slash = await fetch(`${h.url}/pay/${uid}/`);
    assert.equal(slash.status, 200, 'a trailing slash is still the invoice');
    const SECURITY = ['content-security-policy', 'x-frame-options', 'x-content-type-options', 'referrer-policy', 'permissions-policy'];
    const { page, problems } = await open({ viewport: VIEWPORTS.mobile });
    const links = [
      '/pay/abc',
      `/pay/${'A'.repeat(30)}`,
      `/pay/${uid.toUpperCase()}`,
      '/pay/',
      '/pay',
      `/pay/${uid}/extra`,
      `/pay/${uid}x`,
      '/pay/%41%42%43',
      '/pay/a%2Fb%2F..%2F',
      `/pay/%20${uid}`,
      '/pay/%3Cscript%3E',
    ];
    for (const link of links) {
      const res = await fetch(h.url + link);
      const body = await res.text();
      assert.equal(res.status, 404, link);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/, link);
      assert.match(body, /<div id="app">/, link);
      for (const name of SECURITY) assert.equal(res.headers.get(name), real.headers.get(name), `${link}: ${name}`);

      const nav = await page.goto(h.url + link);
      assert.equal(nav?.status(), 404, link);
      await waitFor(page, 'not-found');
      assert.match(await text(page, 'not-found'), /Рахунок не знайдено/, link);
      assert.equal(await page.getByTestId('card-number').count(), 0);
    }
    await screenshots(page, '19-malformed-link');
    assert.deepEqual(problems, []);
  });

  // A path that is not valid percent-encoding never reaches web.ts: Fastify answers it in
  // app.ts's `frameworkErrors`, which must first offer the request to web.ts's
  // `sendCheckoutNotFound`. Until it does, this is a known gap, not a failure.
  test('a checkout link with broken percent-encoding gets the not-found page too', async () => {
    const real = await fetch(`${h.url}/pay/${await h.invoice('100')}`);
    const { page } = await open({ viewport: VIEWPORTS.mobile });
    for (const link of ['/pay/%zz', '/pay/%E2%82', '/pay/abc%', '/pay/%C0%AF/x']) {
      const res = await fetch(h.url + link);
      assert.equal(res.status, 404, link);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/, link);
      assert.equal(res.headers.get('content-security-policy'), real.headers.get('content-security-policy'), link);
      await page.goto(h.url + link);
      await waitFor(page, 'not-found');
    }
  });
});

/** The label above the head amount: it must say whether the amount is still to pay. */
async function amountLabel(page: Page): Promise<string> {
  return ((await page.locator('.invoice-head .amount-label').textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

async function stepLabels(page: Page): Promise<string[]> {
  return (await page.locator('.step-label').allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
}

/** How often each hryvnia amount is written in the invoice card. */
async function amountsOnPage(page: Page): Promise<Record<string, number>> {
  const body = ((await page.locator('main').textContent()) ?? '').replace(/\s+/g, ' ');
  const counts: Record<string, number> = {};
  for (const m of body.match(/(?<!\d)\d{1,3}(?: \d{3})*(?:,\d{2})? грн/g) ?? []) counts[m] = (counts[m] ?? 0) + 1;
  return counts;
}

/**
 * Records every card number the page ever renders, and BINDING whenever it waits for its join
 * instead (which is how it treats a masked card), so a step back shown only briefly is caught.
 * No named inner functions: tsx wraps those in a `__name` helper the page does not have.
 */
async function recordCardTexts(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __cards: string[] }).__cards = seen;
    new MutationObserver(() => {
      const card = document.querySelector('[data-testid="card-number"]');
      const shown = card
        ? (card.textContent ?? '').replace(/\s+/g, ' ').trim()
        : document.querySelector('[data-testid="state-binding"]')
          ? 'BINDING'
          : '';
      if (shown && seen[seen.length - 1] !== shown) seen.push(shown);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
}

async function cardTexts(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __cards: string[] }).__cards);
}
