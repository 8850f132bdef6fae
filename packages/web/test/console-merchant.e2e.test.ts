import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { checkScreen, consoleScreenshots, signIn } from './support/console.ts';
import { browserSuite, CHROMIUM, CONSOLE_PASSWORD, Harness, VIEWPORTS, waitFor } from './support/harness.ts';

const CARD = '4441114441114442';

const noBrowser = !fs.existsSync(CHROMIUM);
if (noBrowser && process.env.CI) throw new Error(`Chromium is required in CI but ${CHROMIUM} is missing`);

const row = (page: Page, uid: string) => page.locator(`[data-testid="merchant-invoice"][data-uid="${uid}"]`);

describe('merchant console (real server, headless Chromium)', { skip: noBrowser }, () => {
  const h = new Harness();
  const { open } = browserSuite(h, { viewport: VIEWPORTS.desktop });

  test('a merchant creates an invoice by hand and sees it paid live, its balance grown', async () => {
    const user = await h.consoleUser('merchant', 'shop-anna');
    const w = await open();
    const { page } = w;
    await signIn(page, h.url, user.name, CONSOLE_PASSWORD);
    await page.getByTestId('merchant-invoices').waitFor();
    await page.locator('[data-testid="live-state"].is-live').waitFor();
    await checkScreen(page, 'invoices (empty)');
    await consoleScreenshots(page, 'merchant-01-invoices-empty');

    await page.getByTestId('tab-new').click();
    await page.getByLabel('Назва').fill('Замовлення №501 — лампа');
    await page.getByLabel('Сума, грн').fill('1200,50');
    await checkScreen(page, 'new invoice form');
    await consoleScreenshots(page, 'merchant-02-new-invoice');
    await page.getByTestId('create-submit').click();
    await waitFor(page, 'invoice-created');
    const link = await page.getByTestId('checkout-link').inputValue();
    const m = new RegExp(`^${h.url}/pay/([A-Za-z0-9_-]+)$`).exec(link);
    assert.ok(m?.[1], `an absolute checkout link: ${link}`);
    const uid = m[1];
    await page.getByTestId('copy-link').click();
    await page.getByTestId('copy-link').getByText('Скопійовано').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
    await checkScreen(page, 'invoice created');
    await consoleScreenshots(page, 'merchant-03-invoice-created');

    // The trader side, through the API: takes it and gives a card.
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: CARD });

    const payer = await open({ ip: '198.51.100.23', viewport: VIEWPORTS.mobile });
    await payer.page.goto(link);
    await waitFor(payer.page, 'state-send-card');
    await payer.page.getByTestId('paid').click();
    await payer.page.getByTestId('confirm-paid').click();
    await waitFor(payer.page, 'state-pay');

    // The balance before the trader confirms, then watched as the confirmation lands.
    await page.getByTestId('tab-balance').click();
    const available = page.getByTestId('balance-available').locator('dd');
    await available.waitFor();
    const before = (await available.textContent()) ?? '';
    assert.match(before, /^0,00/);
    await checkScreen(page, 'balance');
    await h.traderCall(uid, 'confirm');
    await page.waitForFunction((was) => document.querySelector('[data-testid="balance-available"] dd')?.textContent !== was, before);
    assert.doesNotMatch((await available.textContent()) ?? '', /^0,00/);
    // An administrator pays part of it out: the payout is listed (after the next refresh).
    await page.getByTestId('payouts').getByText('Виплат ще не було.').waitFor();
    await h.system.ledger.payout(h.merchantId, '1.00', { type: 'admin', id: h.admin.id }, 'Bank transfer #1');
    await page.getByTestId('tab-invoices').click();
    await page.getByTestId('tab-balance').click();
    await page.getByTestId('payout-row').getByText('Bank transfer #1').waitFor();
    await consoleScreenshots(page, 'merchant-04-balance');
    await waitFor(payer.page, 'state-success');

    await page.getByTestId('tab-invoices').click();
    await row(page, uid).and(page.locator('[data-status="success"]')).waitFor();
    await row(page, uid).getByRole('button').click();
    await page.locator('[data-testid="merchant-detail"][data-status="success"]').waitFor();
    assert.equal(await page.locator('[data-testid="history"] li').count(), 5);
    // Paid invoices cannot be canceled: the table says so, and no button offers it.
    assert.equal(await page.getByTestId('cancel').count(), 0);
    await checkScreen(page, 'invoice detail');
    await consoleScreenshots(page, 'merchant-05-invoice-detail');
    assert.deepEqual(w.problems, []);
  });

  test('integration: the public key shown, copied, downloaded and rotated; a new token shown once replaces the old', async () => {
    const user = await h.consoleUser('merchant', 'shop-iryna');
    const w = await open();
    const { page } = w;
    await signIn(page, h.url, user.name, CONSOLE_PASSWORD);
    await page.getByTestId('merchant-invoices').waitFor();
    const badge = page.getByTestId('sandbox-badge');
    assert.equal(await badge.getAttribute('data-sandbox'), 'false');
    assert.equal(((await badge.textContent()) ?? '').trim(), 'Робочий режим');

    await page.getByTestId('tab-integration').click();
    await waitFor(page, 'public-key');
    const pem = await h.system.merchants.currentPublicPem(h.merchantId);
    const shownKey = async () => (await page.getByTestId('public-key').locator('span').allTextContents()).join('\n');
    assert.match(pem, /-----BEGIN (RSA )?PUBLIC KEY-----/);
    assert.equal(await shownKey(), pem.trim(), 'the current key, line by line');

    await page.getByTestId('copy-key').click();
    await page.getByTestId('copy-key').getByText('Скопійовано').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), pem);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-key').click()]);
    assert.match(download.suggestedFilename(), /\.pem$/);
    assert.equal(fs.readFileSync(await download.path()).toString('utf8'), pem);

    const addresses = await page.getByTestId('integration-address').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
    assert.deepEqual(
      addresses,
      ['/method/RemoteInvoiceApi', '/helpers/getLatestPublicRemoteRsaKey.php', '/v1', '/socket.io'].map((p) => h.url + p),
    );
    assert.equal(await page.getByTestId('docs-link').getAttribute('href'), '/docs');
    await checkScreen(page, 'integration');
    await consoleScreenshots(page, 'merchant-08-integration');

    // Rotation asks first, saying what it does to integrations.
    await page.getByTestId('rotate-key').click();
    assert.match((await page.getByTestId('rotate-confirm').textContent()) ?? '', /виведено з ужитку/);
    await checkScreen(page, 'rotate confirmation');
    await page.getByTestId('rotate-sure').click();
    await waitFor(page, 'integration-message');
    const rotated = await h.system.merchants.currentPublicPem(h.merchantId);
    assert.notEqual(rotated, pem, 'a new key is current');
    assert.equal(await shownKey(), rotated.trim(), 'the page shows the new key');

    // The token the integration uses now; the console's new one replaces it at once.
    const old = await h.merchantApiToken();
    const invoicesWith = async (token: string) =>
      (await fetch(`${h.url}/v1/invoices`, { headers: { authorization: `Bearer ${token}` } })).status;
    assert.equal(await invoicesWith(old), 200);
    await page.getByTestId('new-token-start').click();
    assert.match((await page.getByTestId('token-confirm').textContent()) ?? '', /перестане працювати негайно/);
    await page.getByTestId('token-sure').click();
    await waitFor(page, 'new-token');
    const token = ((await page.getByTestId('new-token-value').textContent()) ?? '').trim();
    assert.ok(token.length > 20, `a token: ${token}`);
    assert.match((await page.getByTestId('new-token').textContent()) ?? '', /більше він не показується/);
    await page.getByTestId('new-token-copy').click();
    await page.getByTestId('new-token-copy').getByText('Скопійовано').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
    await checkScreen(page, 'new token');
    await consoleScreenshots(page, 'merchant-09-new-token');
    assert.equal(await invoicesWith(token), 200);
    assert.equal(await invoicesWith(old), 401);

    await page.getByTestId('new-token-done').click();
    assert.equal(await page.getByTestId('new-token').count(), 0);
    await page.getByTestId('tab-invoices').click();
    await page.getByTestId('tab-integration').click();
    await waitFor(page, 'public-key');
    assert.doesNotMatch((await page.locator('main').textContent()) ?? '', new RegExp(token), 'the token is shown once');

    // The merchant's own sandbox: on gives a test merchant's token (shown once) whose invoices
    // the simulated trader serves; off makes that token stop working.
    await page.locator('[data-testid="sandbox-state"][data-enabled="false"]').waitFor();
    await page.getByTestId('sandbox-toggle').click();
    await page.locator('[data-testid="sandbox-state"][data-enabled="true"]').waitFor();
    const testToken = ((await page.getByTestId('sandbox-token-value').textContent()) ?? '').trim();
    assert.match(testToken, /^nlm_test_/);
    const made = await fetch(`${h.url}/v1/invoices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${testToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Sandbox order', amount: '100.00' }),
    });
    assert.equal(made.status, 201);
    assert.equal(((await made.json()) as { sandbox: boolean }).sandbox, true);
    await checkScreen(page, 'sandbox on');
    await consoleScreenshots(page, 'merchant-11-sandbox-on');
    await page.getByTestId('sandbox-toggle').click();
    await page.locator('[data-testid="sandbox-state"][data-enabled="false"]').waitFor();
    assert.equal(await invoicesWith(testToken), 401);

    await page.getByTestId('lang-en').click();
    await page.getByRole('heading', { name: 'RSA public key' }).waitFor();
    assert.equal(((await badge.textContent()) ?? '').trim(), 'Live mode');
    assert.deepEqual(w.problems, []);
  });

  test('a sandbox merchant sees so in the header of its workspace', async () => {
    const shop = await h.system.merchants.create('Sandbox shop', { sandbox: true });
    await h.system.consoleUsers.create({ name: 'sandbox-shop', password: CONSOLE_PASSWORD, role: 'merchant', merchantId: shop.merchantId });
    const { page } = await open({ viewport: VIEWPORTS.mobile });
    await signIn(page, h.url, 'sandbox-shop', CONSOLE_PASSWORD);
    const badge = page.locator('[data-testid="sandbox-badge"][data-sandbox="true"]');
    await badge.waitFor();
    assert.match((await badge.textContent()) ?? '', /^Пісочниця/);
    await checkScreen(page, 'sandbox header');
    await consoleScreenshots(page, 'merchant-10-sandbox-header');
  });

  test('the invoice list updates live, and an unpaid invoice can be canceled from its detail', async () => {
    const user = await h.consoleUser('merchant', 'shop-bohdan');
    const { page } = await open({ viewport: VIEWPORTS.mobile });
    await signIn(page, h.url, user.name, CONSOLE_PASSWORD);
    await page.getByTestId('merchant-invoices').waitFor();
    await page.locator('[data-testid="live-state"].is-live').waitFor();
    // Made elsewhere (the merchant's API): the list shows it without a reload.
    const uid = await h.invoice('99.00', 'API-made invoice');
    await row(page, uid).waitFor();
    await h.traderCall(uid, 'accept');
    await row(page, uid).and(page.locator('[data-status="wait card"]')).waitFor();

    await row(page, uid).getByRole('button').click();
    await page.getByTestId('cancel').click();
    await page.getByTestId('cancel-sure').click();
    await page.locator('[data-testid="merchant-detail"][data-status="canceled"]').waitFor();
    assert.equal((await h.system.invoices.get(uid)).status, 'canceled');
    assert.equal(await page.getByTestId('cancel').count(), 0);
  });

  test('webhooks: an endpoint made (secret once), its log, a redelivery, deleted; a merchant session gets 403 on admin routes', async () => {
    const user = await h.consoleUser('merchant', 'shop-olena');
    const { page } = await open();
    await signIn(page, h.url, user.name, CONSOLE_PASSWORD);
    await page.getByTestId('tab-webhooks').click();
    await page.getByTestId('webhooks').getByText('Адрес ще немає.').waitFor();
    await checkScreen(page, 'webhooks');

    // `.example` never resolves: accepted at registration (the deliverer checks each attempt),
    // and nothing is ever sent anywhere.
    await page.getByLabel('Адреса (https)').fill('https://hooks.shop.example/nltrade');
    await page.getByTestId('webhook-create').click();
    await waitFor(page, 'webhook-secret');
    assert.match((await page.getByTestId('webhook-secret').textContent()) ?? '', /whsec_/);
    await page.getByTestId('webhook-endpoint').waitFor();
    await checkScreen(page, 'webhook created');
    await consoleScreenshots(page, 'merchant-06-webhooks');
    await page.getByTestId('webhook-secret').getByRole('button', { name: 'Готово' }).click();
    assert.equal(await page.getByTestId('webhook-secret').count(), 0, 'the secret is shown once');

    await h.invoice('75.00', 'Webhook test');
    await page.getByTestId('webhook-log').click();
    await page.getByTestId('delivery-row').first().waitFor();
    await page.getByTestId('delivery-row').first().getByRole('button').click();
    await page.getByText('Подію поставлено в чергу на повторну доставку.').waitFor();
    await checkScreen(page, 'delivery log');
    await consoleScreenshots(page, 'merchant-07-webhook-log');

    await page.getByTestId('webhook-delete').click();
    await page.getByTestId('webhook-delete-sure').click();
    await page.getByTestId('webhook-endpoint').waitFor({ state: 'detached' });
    assert.deepEqual(await h.system.webhooks.list(h.merchantId), []);

    const statuses = await page.evaluate(
      async (list) => Promise.all(list.map(async (p) => (await fetch(p, { credentials: 'same-origin' })).status)),
      ['/v1/admin/invoices', '/v1/trader/invoices', '/v1/balance'],
    );
    assert.equal(statuses[0], 403);
    assert.ok(statuses[1] === 401 || statuses[1] === 403, `trader routes refuse a merchant: ${statuses[1]}`);
    assert.equal(statuses[2], 200);
  });
});
