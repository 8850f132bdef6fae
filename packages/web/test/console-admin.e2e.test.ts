import assert from 'node:assert/strict';
import fs from 'node:fs';
import { before, describe, test } from 'node:test';
import { STATUS_LABELS } from '@nltrade/core';
import type { Page } from 'playwright-core';
import { assertAccessible, assertNoSideScroll, CONSOLE_VIEWPORTS, consoleScreenshots, signIn } from './support/console.ts';
import { browserSuite, CHROMIUM, Harness, receiptJpeg, text, type Watched, waitFor } from './support/harness.ts';

const CARD = '4441114441114442';
const ADMIN = { name: 'olena-admin', password: 'admin-password-2026' };
const TRADER_REASON = 'No such transfer in the bank statement';
const RSA_WAIT_MS = 60_000;

const noBrowser = !fs.existsSync(CHROMIUM);
if (noBrowser && process.env.CI) throw new Error(`Chromium is required in CI but ${CHROMIUM} is missing`);
if (noBrowser) console.warn(`# browser tier skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

describe('administrator console (real server, headless Chromium)', { skip: noBrowser }, () => {
  const h = new Harness();
  const { browser, open } = browserSuite(h);

  /** An invoice taken to a dispute the way it happens: the payer pays on the page, the trader disputes, the payer sends a photo. */
  const disputed = async (price: string): Promise<{ uid: string; id: string }> => {
    const uid = await h.invoice(price, `Замовлення ${price}`);
    const payer = await open({ ip: '203.0.113.7' });
    await payer.page.goto(`${h.url}/pay/${uid}`);
    await waitFor(payer.page, 'state-wait-trader');
    await payer.page.locator('.conn.is-live').waitFor();
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: CARD });
    await waitFor(payer.page, 'state-send-card');
    await payer.page.getByTestId('paid').click();
    await payer.page.getByTestId('confirm-paid').click();
    await waitFor(payer.page, 'state-pay');
    await h.traderCall(uid, 'dispute', { reason: TRADER_REASON });
    await waitFor(payer.page, 'state-photo');
    await payer.page
      .getByTestId('photo-input')
      .setInputFiles({ name: 'receipt.jpg', mimeType: 'image/jpeg', buffer: await receiptJpeg(browser()) });
    await payer.page.getByTestId('photo-send').click();
    await waitFor(payer.page, 'state-review');
    const invoice = await h.system.invoices.get(uid);
    return { uid, id: invoice.id };
  };

  const signedInAdmin = async (): Promise<Watched> => {
    const w = await open({ viewport: CONSOLE_VIEWPORTS.desktop });
    await signIn(w.page, h.url, ADMIN.name, ADMIN.password);
    await waitFor(w.page, 'admin-console');
    return w;
  };

  const tab = async (page: Page, name: 'disputes' | 'invoices' | 'people' | 'money' | 'settings') => {
    await page.getByTestId(`admin-tab-${name}`).click();
    await waitFor(page, name);
  };

  before(async () => {
    await h.system.consoleUsers.create({ ...ADMIN, role: 'admin', accountId: h.admin.id });
  });

  test('decides a dispute that arrives live, seeing the receipt photo and the trader’s reason', async () => {
    const w = await signedInAdmin();
    const { page } = w;
    // The dispute list is the first screen; the dispute arrives on it live, with no reload.
    await waitFor(page, 'disputes-empty');
    await page.getByTestId('live-state').filter({ hasText: 'Наживо' }).waitFor();
    const { uid, id } = await disputed('1400');
    await waitFor(page, `dispute-${id}`);
    assert.match(await text(page, `dispute-${id}`), new RegExp(TRADER_REASON));
    // What the merchant receives, in the settlement currency and named by it.
    const settlement = h.system.ledger.currency;
    const receives = async (testId: string) => {
      const shown = await text(page, testId);
      assert.ok(shown.endsWith(` ${settlement}`), `${testId}: ${shown}`);
      assert.equal(shown.replace(/\D/g, ''), String((await h.system.invoices.get(uid)).reciveMinor));
    };
    await receives(`dispute-${id}-receive`);
    await assertAccessible(page, 'disputes');
    await assertNoSideScroll(page, 'disputes');
    await consoleScreenshots(page, 'admin-01-disputes');

    await page.getByTestId(`open-${id}`).click();
    await waitFor(page, 'invoice-detail');
    await waitFor(page, 'photo-ours');
    assert.equal(await text(page, 'detail-reason'), TRADER_REASON);
    assert.equal(await text(page, 'detail-uid'), uid);
    await receives('detail-receive');
    assert.match(await text(page, 'detail-rate'), new RegExp(`грн за 1 ${settlement}$`));
    // The event log, oldest first: the trader's dispute (with its status and who), then the payer's photo.
    const history = page.getByTestId('history');
    const disputeStep = history.locator('li[data-action="dispute"]');
    const photoStep = history.locator('li[data-action="proofPhoto"]');
    await disputeStep.filter({ hasText: `трейдер ${h.trader.id}` }).waitFor();
    await photoStep.filter({ hasText: 'клієнт 203.0.113.7' }).waitFor();
    assert.match((await disputeStep.textContent()) ?? '', /спір трейдера/);
    assert.match((await photoStep.textContent()) ?? '', /фото квитанції надіслано/);
    const statusOf = (step: typeof photoStep) => step.locator('[data-status]').getAttribute('data-status');
    const stored = await h.system.invoices.history(id);
    assert.equal(await statusOf(disputeStep), stored.find((l) => l.action === 'dispute')?.status);
    assert.equal(await statusOf(photoStep), stored.find((l) => l.action === 'proofPhoto')?.status);
    const actions = await history.locator('li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-action')));
    assert.deepEqual(
      actions,
      stored.map((l) => l.action),
    );
    assert.ok(actions.indexOf('dispute') < actions.indexOf('proofPhoto'));
    // The photo really arrived over the session: decoded, with pixels.
    const photo = page.getByTestId('photo');
    await photo.waitFor();
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid="photo"]');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    assert.equal(await photo.evaluate((img: HTMLImageElement) => img.naturalWidth), 600);
    await assertAccessible(page, 'dispute detail');
    await assertNoSideScroll(page, 'dispute detail');
    await consoleScreenshots(page, 'admin-02-dispute-detail');

    // The full-size viewer, driven by the keyboard alone.
    await page.getByTestId('photo-open').focus();
    await page.keyboard.press('Enter');
    await waitFor(page, 'photo-viewer');
    await page.waitForFunction(() => (document.querySelector<HTMLImageElement>('[data-testid="photo-full"]')?.naturalWidth ?? 0) > 0);
    const full = page.getByTestId('photo-full');
    const width = () => full.evaluate((img: HTMLImageElement) => img.getBoundingClientRect().width);
    // It opens fitted to the screen (the 600×900 photo is taller than the viewer), then zooms.
    const fitted = await width();
    assert.ok(fitted > 0 && fitted < 600, `fitted width ${fitted}`);
    const before = await text(page, 'zoom-level');
    await page.keyboard.press('+');
    assert.notEqual(await text(page, 'zoom-level'), before);
    assert.ok(Math.abs((await width()) - fitted * 1.5) <= 1, 'zoomed in by half');
    await page.keyboard.press('1');
    assert.equal(await width(), 600);
    assert.match(await text(page, 'zoom-level'), /100%/);
    await assertAccessible(page, 'photo viewer');
    await consoleScreenshots(page, 'admin-03-photo-viewer', { fullPage: false });
    await page.keyboard.press('Escape');
    await page.getByTestId('photo-viewer').waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'photo-open');

    await page.getByTestId('decide-success').check();
    await page.getByTestId('decide-reason').fill('The receipt matches the bank statement');
    await page.getByTestId('decide-submit').click();
    await waitFor(page, 'detail-done');
    await page.locator('[data-testid="detail-status"] [data-status="success"]').waitFor();
    assert.match(await text(page, 'detail-status'), new RegExp(STATUS_LABELS.success.uk));
    assert.equal((await h.system.invoices.get(uid)).status, 'success');
    assert.equal((await h.system.invoices.get(uid)).resolution, 'The receipt matches the bank statement');
    // Decided, it is no longer a dispute: back on the list it is gone.
    await page.getByTestId('detail-back').click();
    await waitFor(page, 'disputes-empty');
    assert.deepEqual(w.problems, []);
  });

  test('says when the receipt photo is not ours, and does not load it', async () => {
    // The protocol lets a payer's photo be a URL hosted elsewhere (the merchant's own upload).
    const uid = await h.invoice('300.00', 'Фото деінде');
    const payer = { type: 'payer' as const, id: '198.51.100.4' };
    await h.system.invoices.bindIp(uid, payer.id);
    await h.traderCall(uid, 'accept');
    await h.traderCall(uid, 'card', { card: CARD });
    await h.system.invoices.act(uid, 'paid', payer);
    await h.traderCall(uid, 'dispute', { reason: TRADER_REASON });
    const external = 'https://receipts.example/r/8812734.jpg';
    const invoice = await h.system.invoices.act(uid, 'proofPhoto', payer, { photoUrl: external });
    const { page, problems } = await signedInAdmin();
    await page.getByTestId(`open-${invoice.id}`).click();
    await waitFor(page, 'photo-not-ours');
    assert.equal(await page.getByTestId('photo-external').getAttribute('href'), external);
    assert.equal(await page.getByTestId('photo').count(), 0);
    assert.equal(await page.getByTestId('photo-ours').count(), 0);
    await assertAccessible(page, 'dispute with a photo hosted elsewhere');
    await consoleScreenshots(page, 'admin-02b-dispute-photo-not-ours');
    // Decided canceled this time; the dispute is gone from the list.
    await page.getByTestId('decide-canceled').check();
    await page.getByTestId('decide-reason').fill('The receipt is not from a bank');
    await page.getByTestId('decide-submit').click();
    await page.locator('[data-testid="detail-status"] [data-status="canceled"]').waitFor();
    assert.equal((await h.system.invoices.get(uid)).status, 'canceled');
    assert.deepEqual(problems, []);
  });

  test('finds an invoice by UID, number and filters, and shows its detail', async () => {
    const uid = await h.invoice('250.00', 'Пошук за UID');
    const other = await h.invoice('99.00', 'Інший рахунок');
    const id = (await h.system.invoices.get(uid)).id;
    const otherId = (await h.system.invoices.get(other)).id;
    await h.traderCall(uid, 'accept');
    const { page, problems } = await signedInAdmin();
    await tab(page, 'invoices');

    // Each search is judged by what its own answer shows, never by the rows of the one before.
    const search = async (answers: (url: URL) => boolean) => {
      const answered = page.waitForResponse((r) => answers(new URL(r.url())) && r.ok());
      await page.getByTestId('filter-submit').click();
      await answered;
      await page.locator('[data-testid="invoice-results"][data-loading="false"]').waitFor();
    };
    await page.getByTestId('filter-ref').fill(uid);
    await search((u) => u.pathname === `/v1/admin/invoices/${uid}`);
    await waitFor(page, `invoice-row-${id}`);
    assert.equal(await page.locator('[data-testid^="invoice-row-"]').count(), 1);
    await page.getByTestId('filter-ref').fill(otherId);
    await search((u) => u.pathname === `/v1/admin/invoices/${otherId}`);
    await waitFor(page, `invoice-row-${otherId}`);
    assert.equal(await page.locator('[data-testid^="invoice-row-"]').count(), 1);

    // By status: the accepted invoice, not the one still waiting for a trader.
    await page.getByTestId('filter-ref').fill('');
    await page.getByTestId('filter-status').selectOption('wait card');
    await search((u) => u.pathname === '/v1/admin/invoices' && u.searchParams.get('status') === 'wait card');
    await waitFor(page, `invoice-row-${id}`);
    assert.equal(await page.getByTestId(`invoice-row-${otherId}`).count(), 0);
    // By merchant: another merchant has none of these.
    await page.getByLabel('ID мерчанта', { exact: true }).fill(String(Number(h.merchantId) + 1000));
    await search((u) => u.searchParams.get('merchant_id') === String(Number(h.merchantId) + 1000));
    await waitFor(page, 'invoices-empty');
    await page.getByLabel('ID мерчанта', { exact: true }).fill(h.merchantId);
    await search((u) => u.searchParams.get('merchant_id') === h.merchantId);
    await waitFor(page, `invoice-row-${id}`);
    await assertAccessible(page, 'invoices');
    await assertNoSideScroll(page, 'invoices');
    await consoleScreenshots(page, 'admin-04-invoices');

    await page.getByRole('button', { name: `Відкрити рахунок №${id}`, exact: true }).click();
    await waitFor(page, 'invoice-detail');
    assert.equal(await text(page, 'detail-uid'), uid);
    await waitFor(page, 'photo-none');
    // Not final and not a dispute: the administrator may cancel it, after confirming.
    await page.getByTestId('cancel-open').click();
    await assertAccessible(page, 'invoice detail');
    await consoleScreenshots(page, 'admin-05-invoice-detail');
    await page.getByTestId('cancel-confirm').click();
    await page.locator('[data-testid="detail-status"] [data-status="canceled"]').waitFor();
    assert.equal((await h.system.invoices.get(uid)).status, 'canceled');
    assert.deepEqual(problems, []);
  });

  test('people: creates a trader and a merchant (secrets shown once), resets a password, rotates a key, disables', async () => {
    const { page, problems } = await signedInAdmin();
    await tab(page, 'people');
    await waitFor(page, `user-${ADMIN.name}`);

    const form = page.getByTestId('create-user');
    await form.getByLabel('Імʼя для входу', { exact: true }).fill('taras-trader');
    await form.getByLabel('Пароль', { exact: true }).fill('trader-password-1');
    await form.getByLabel('Роль', { exact: true }).selectOption('trader');
    await form.getByRole('button', { name: 'Створити' }).click();
    await waitFor(page, 'create-user-done');
    await waitFor(page, 'user-taras-trader');
    // The new trader's API token, once: it works against the trader API.
    const token = await text(page, 'user-secret-value');
    assert.match(token, /^nlt_/);
    const res = await fetch(`${h.url}/v1/trader/balance`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const made = await h.system.consoleUsers.findByName('taras-trader');
    assert.equal(made?.role, 'trader');
    await assertAccessible(page, 'people');
    await assertNoSideScroll(page, 'people');
    await consoleScreenshots(page, 'admin-06-people');

    await page.getByTestId('reset-taras-trader').click();
    await page.getByTestId('reset-form').getByLabel('Новий пароль').fill('another-password-2');
    await page.getByTestId('reset-form').getByRole('button', { name: 'Зберегти пароль' }).click();
    await waitFor(page, 'reset-done');
    await assert.doesNotReject(h.system.sessions.login('taras-trader', 'another-password-2', { ip: '127.0.0.1', userAgent: 'test' }));

    // A merchant: its access token once, which works; then a new RSA key, after a confirmation.
    const merchants = page.getByTestId('merchants');
    await merchants.getByLabel('Назва мерчанта', { exact: true }).fill('Кав’ярня «Зерно»');
    await merchants.getByRole('button', { name: 'Новий мерчант' }).click();
    // Making a merchant makes its RSA key pair: seconds on a busy machine.
    await waitFor(page, 'merchant-secret-value', RSA_WAIT_MS);
    const access = await text(page, 'merchant-secret-value');
    const balance = await fetch(`${h.url}/v1/balance`, { headers: { authorization: `Bearer ${access}` } });
    assert.equal(balance.status, 200);
    const made2 = (await h.system.merchants.list()).find((m) => m.name === 'Кав’ярня «Зерно»');
    assert.ok(made2);
    const keyBefore = await h.system.merchants.currentPublicPem(made2.id);
    await page
      .getByTestId(`merchant-${made2.id}`)
      .getByRole('button', { name: /Новий ключ RSA/ })
      .click();
    await page.getByTestId('merchant-confirm-yes').click();
    await waitFor(page, 'merchant-key', RSA_WAIT_MS);
    assert.notEqual(await h.system.merchants.currentPublicPem(made2.id), keyBefore);

    await page.getByTestId('toggle-taras-trader').click();
    await waitFor(page, 'users-done');
    await page.locator('[data-testid="user-taras-trader"]', { hasText: 'вимкнений' }).waitFor();
    assert.equal((await h.system.consoleUsers.findByName('taras-trader'))?.disabled, true);
    assert.deepEqual(problems, []);
  });

  test('money: balances, a deposit through the form, the rate and the ledger', async () => {
    // An entry from ten days ago: outside the ledger's default week.
    const DAY = 86_400_000;
    h.clock.advance(-10 * DAY);
    try {
      await h.system.ledger.deposit(h.trader.id, '7.77', { type: 'admin', id: h.admin.id }, 'Старий внесок');
    } finally {
      h.clock.advance(10 * DAY);
    }
    const { page, problems } = await signedInAdmin();
    await tab(page, 'money');
    await waitFor(page, 'balances');
    await waitFor(page, 'ledger');
    const deposit = page.getByTestId('op-deposit');
    const was = await h.system.ledger.traderBalance(h.trader.id);
    await deposit.getByLabel('ID трейдера').fill(h.trader.id);
    await deposit.getByLabel('Сума (валюта розрахунку, напр. 1000.00)').fill('250.50');
    await deposit.getByRole('button', { name: 'Поповнити' }).click();
    await waitFor(page, 'op-deposit-done');
    const balance = await h.system.ledger.traderBalance(h.trader.id);
    assert.equal(balance.deposit, was.deposit + 250_50);
    // The ledger shows the entry the form made.
    await page
      .getByTestId('ledger')
      .getByText(/^250,50 /)
      .first()
      .waitFor();
    // The default is the last week: the old entry shows only once the period is widened.
    assert.match(await text(page, 'ledger-shown-period'), /останні 7 дн/);
    assert.equal(await page.getByTestId('ledger').getByText('Старий внесок').count(), 0);
    await page.getByLabel('Період', { exact: true }).selectOption('all');
    await page.getByTestId('ledger').getByText('Старий внесок').waitFor();
    assert.match(await text(page, 'ledger-shown-period'), /весь час/);
    await page.getByLabel('Період', { exact: true }).selectOption('7');
    await page.getByTestId('ledger').getByText('Старий внесок').waitFor({ state: 'detached' });

    // The fee and the reward in force, as the ledger has them; a change shows at once and in the history.
    const fees = page.getByTestId('fees');
    const feeWas = await h.system.ledger.merchantFeeBps('');
    await page
      .getByTestId('fee-now')
      .filter({ hasText: `${feeWas} б. п.` })
      .waitFor();
    assert.match(await text(page, 'reward-now'), new RegExp(`^${await h.system.ledger.traderRewardBps('')} б\\. п\\.`));
    const feeForm = fees.getByTestId('fee-form');
    await feeForm.getByLabel('Базисні пункти (100 = 1%)').fill('175');
    await feeForm.getByRole('button', { name: 'Встановити комісію' }).click();
    await page.getByTestId('fee-now').filter({ hasText: '175 б. п. (1,75%)' }).waitFor();
    assert.equal(await h.system.ledger.merchantFeeBps(''), 175);
    await page
      .getByTestId('fees-history')
      .locator('tbody tr')
      .first()
      .filter({ hasText: /Комісія мерчанта[\s\S]*усіх[\s\S]*175 б\. п\./ })
      .waitFor();
    await h.system.ledger.setMerchantFee(null, feeWas, { type: 'admin', id: h.admin.id });

    // A refused operation says why, in words.
    await deposit.getByLabel('Сума (валюта розрахунку, напр. 1000.00)').fill('1.234');
    await deposit.getByRole('button', { name: 'Поповнити' }).click();
    await deposit.getByRole('alert').waitFor();
    await page.getByLabel('Новий курс', { exact: true }).fill('42.25');
    await page.getByRole('button', { name: 'Встановити курс' }).click();
    await page.getByTestId('rate-now').filter({ hasText: '42.25' }).waitFor();
    assert.equal((await h.system.ledger.settingsHistory('rate'))[0]?.value, '42.25');
    await assertAccessible(page, 'money');
    await assertNoSideScroll(page, 'money');
    await consoleScreenshots(page, 'admin-07-money');

    // English throughout, switched by the shell.
    await page.getByTestId('lang-en').click();
    await page.getByRole('heading', { name: 'Money', exact: true }).waitFor();
    await deposit.getByLabel('Amount (settlement currency, e.g. 1000.00)').waitFor();
    await tab(page, 'disputes');
    await page.getByRole('heading', { name: 'Disputes to decide' }).waitFor();
    await consoleScreenshots(page, 'admin-08-disputes-en');
    assert.deepEqual(problems, []);
  });
  test('settings: changes CARD_TIMEOUT, lists it with its history, and says why a value is refused', async () => {
    const { page, problems } = await signedInAdmin();
    await tab(page, 'settings');
    const card = page.getByTestId('setting-CARD_TIMEOUT');
    await card.waitFor();
    const configured = await text(page, 'setting-CARD_TIMEOUT-configured');
    assert.match(configured, /^300 с/);
    assert.match(await text(page, 'setting-CARD_TIMEOUT-doc'), /картку/);
    await waitFor(page, 'settings-history-empty');

    await card.getByLabel('Нове значення, секунд').fill('420');
    await card.getByRole('button', { name: 'Змінити' }).click();
    await waitFor(page, 'setting-CARD_TIMEOUT-done');
    // The server holds it, and the screen says so from the server's answer, not from the form.
    const stored = (await h.system.runtimeSettings.list()).find((s) => s.key === 'CARD_TIMEOUT');
    assert.equal(stored?.value, 420);
    await page.getByTestId('setting-CARD_TIMEOUT-value').filter({ hasText: '420 с (7 хв)' }).waitFor();
    assert.equal(await text(page, 'setting-CARD_TIMEOUT-configured'), configured);
    assert.equal(await text(page, 'setting-CARD_TIMEOUT-by'), `адміністратор ${h.admin.id}`);
    const history = page.getByTestId('settings-history');
    await history.waitFor();
    const row = history.locator('tbody tr');
    assert.equal(await row.count(), 1);
    assert.match((await row.first().textContent()) ?? '', /CARD_TIMEOUT[\s\S]*420 с[\s\S]*адміністратор/);

    // Below the bound: the server refuses it, and the screen says so in words with the bounds.
    await card.getByLabel('Нове значення, секунд').fill('5');
    await card.getByRole('button', { name: 'Змінити' }).click();
    await waitFor(page, 'setting-CARD_TIMEOUT-error');
    assert.match(await text(page, 'setting-CARD_TIMEOUT-error'), /від 30 до 86400/);
    assert.equal((await h.system.runtimeSettings.list()).find((s) => s.key === 'CARD_TIMEOUT')?.value, 420);
    assert.equal((await h.system.runtimeSettings.history('CARD_TIMEOUT')).length, 1);
    await assertAccessible(page, 'settings');
    await assertNoSideScroll(page, 'settings');
    await consoleScreenshots(page, 'admin-09-settings');

    await page.getByTestId('lang-en').click();
    await page.getByRole('heading', { name: 'Run-time settings' }).waitFor();
    assert.match(await text(page, 'setting-CARD_TIMEOUT-doc'), /^Seconds a trader who took an invoice has to give the card/);
    await card.getByLabel('New value, seconds').fill('5');
    await card.getByRole('button', { name: 'Change' }).click();
    await page.getByTestId('setting-CARD_TIMEOUT-error').filter({ hasText: 'from 30 to 86400' }).waitFor();
    await consoleScreenshots(page, 'admin-10-settings-en');
    // Put back, so the other tests keep the configured timeout.
    await h.system.runtimeSettings.set('CARD_TIMEOUT', 300, { type: 'admin', id: h.admin.id });
    assert.deepEqual(problems, []);
  });
  test('merchants: disabling refuses the merchant’s token until it is enabled again, after a confirmation', async () => {
    const shop = await h.system.merchants.create('Квіткова крамниця');
    const invoices = () => fetch(`${h.url}/v1/invoices`, { headers: { authorization: `Bearer ${shop.accessToken}` } });
    assert.equal((await invoices()).status, 200);
    const { page, problems } = await signedInAdmin();
    await tab(page, 'people');
    const row = page.getByTestId(`merchant-${shop.merchantId}`);
    await row.waitFor();
    assert.equal(await text(page, `merchant-${shop.merchantId}-state`), 'активний');

    // Asked first; saying no changes nothing.
    await page.getByTestId(`merchant-toggle-${shop.merchantId}`).click();
    await waitFor(page, 'merchant-confirm');
    assert.match(await text(page, 'merchant-confirm'), /Вимкнути мерчанта Квіткова крамниця/);
    await page.getByTestId('merchant-confirm').getByRole('button', { name: 'Скасувати' }).click();
    await page.getByTestId('merchant-confirm').waitFor({ state: 'detached' });
    assert.equal((await invoices()).status, 200);

    await page.getByTestId(`merchant-toggle-${shop.merchantId}`).click();
    await page.getByTestId('merchant-confirm-yes').click();
    await waitFor(page, 'merchant-done');
    await page.getByTestId(`merchant-${shop.merchantId}-state`).filter({ hasText: 'вимкнений' }).waitFor();
    assert.equal((await invoices()).status, 401);
    assert.equal((await h.system.merchants.list()).find((m) => m.id === shop.merchantId)?.disabled, true);
    await assertAccessible(page, 'people with a disabled merchant');
    await consoleScreenshots(page, 'admin-11-merchant-disabled');

    await row.getByRole('button', { name: /^Увімкнути/ }).click();
    assert.match(await text(page, 'merchant-confirm'), /Увімкнути мерчанта Квіткова крамниця/);
    await page.getByTestId('merchant-confirm-yes').click();
    await page.getByTestId(`merchant-${shop.merchantId}-state`).filter({ hasText: 'активний' }).waitFor();
    assert.equal((await invoices()).status, 200);
    assert.deepEqual(problems, []);
  });
});
