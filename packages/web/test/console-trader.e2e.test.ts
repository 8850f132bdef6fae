import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { checkScreen, consoleScreenshots, signIn } from './support/console.ts';
import { browserSuite, CHROMIUM, CONSOLE_PASSWORD, Harness, VIEWPORTS, waitFor } from './support/harness.ts';

const CARD = '4441114441114442';

const noBrowser = !fs.existsSync(CHROMIUM);
if (noBrowser && process.env.CI) throw new Error(`Chromium is required in CI but ${CHROMIUM} is missing`);

/** An invoice's card in the trader's lists, wherever it is. */
const item = (page: Page, id: string) => page.locator(`[data-testid="invoice"][data-id="${id}"]`);
const inGroup = (page: Page, status: string, id: string) =>
  page.locator(`[data-testid="mine-group"][data-status="${status}"] [data-testid="invoice"][data-id="${id}"]`);

/** Signs in through the form and waits for the signed-in shell. */
async function signInConsole(page: Page, h: Harness, name: string): Promise<void> {
  await signIn(page, h.url, name, CONSOLE_PASSWORD);
  await page.getByTestId('sign-out').waitFor();
}

/** Every main screen: no serious or critical axe finding, nothing wider than 360 px. */
describe('trader console (real server, headless Chromium)', { skip: noBrowser }, () => {
  const h = new Harness();
  const { open } = browserSuite(h, { viewport: VIEWPORTS.desktop });

  test('a trader takes an invoice to success while the payer pays on the checkout page', async () => {
    const user = await h.consoleUser('trader', 'taras');
    const w = await open();
    const { page } = w;

    const res = await page.goto(`${h.url}/console`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await page.locator('form[data-testid="signin-form"]').waitFor();
    await checkScreen(page, 'sign-in');
    await consoleScreenshots(page, 'trader-01-sign-in');

    // A wrong password is refused in words, and the form stays.
    await page.locator('input[name="name"]').fill(user.name);
    await page.locator('input[name="password"]').fill('not the password at all');
    await page.getByTestId('signin-submit').click();
    await waitFor(page, 'signin-error');

    await signInConsole(page, h, user.name);
    await waitFor(page, 'queue-empty');
    await page.locator('[data-testid="live-state"].is-live').waitFor();
    await checkScreen(page, 'empty queue');
    await consoleScreenshots(page, 'trader-02-queue-empty');

    // Made after the page loaded: it must arrive over the socket, never by a reload.
    const navigations: string[] = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations.push(f.url()));
    const uid = await h.invoice('1500.50', 'Замовлення №77 — чайник');
    const id = await h.numberOf(uid);
    await item(page, id).waitFor();
    // The number waiting is in the tab's title.
    await page.waitForFunction(() => /^\(1\) /.test(document.title));
    await checkScreen(page, 'queue with an invoice');
    await consoleScreenshots(page, 'trader-03-queue-new-invoice');

    await item(page, id).getByTestId('accept').click();
    await inGroup(page, 'wait card', id).waitFor();
    await page.waitForFunction(() => !/^\(\d+\)/.test(document.title));
    await inGroup(page, 'wait card', id).getByTestId('card-input').fill('4441 1144 4111 4442');
    await checkScreen(page, 'card entry');
    await consoleScreenshots(page, 'trader-04-card-entry');
    await inGroup(page, 'wait card', id).getByTestId('card-submit').click();
    await inGroup(page, 'send card', id).waitFor();
    await inGroup(page, 'send card', id).getByTestId('deadline').waitFor();
    // The card was saved on the server (encrypted there), is listed masked, and is never shown whole.
    assert.ok((await h.system.traderCards.list(h.trader.id)).some((c) => c.masked === '4441-11**-****-4442'));
    assert.equal((await h.system.invoices.get(uid)).card, CARD);
    assert.doesNotMatch((await page.locator('main').textContent()) ?? '', new RegExp(CARD));

    // The payer, elsewhere, opens the link and says they paid.
    const payer = await open({ ip: '203.0.113.50', viewport: VIEWPORTS.mobile });
    await payer.page.goto(`${h.url}/pay/${uid}`);
    await waitFor(payer.page, 'state-send-card');
    await payer.page.getByTestId('paid').click();
    await payer.page.getByTestId('confirm-paid').click();
    await waitFor(payer.page, 'state-pay');

    await inGroup(page, 'pay', id).waitFor();
    await inGroup(page, 'pay', id).getByTestId('change-amount').waitFor();
    await checkScreen(page, 'payment to check');
    await consoleScreenshots(page, 'trader-05-payment-to-check');
    await inGroup(page, 'pay', id).getByTestId('confirm').click();
    await item(page, id).waitFor({ state: 'detached' });

    await waitFor(payer.page, 'state-success');
    await page.getByTestId('tab-history').click();
    await page.locator(`[data-testid="history-row"][data-status="success"]`).waitFor();
    assert.match((await page.getByTestId('history-totals').textContent()) ?? '', /1\s?500,50/);
    await checkScreen(page, 'history');
    await consoleScreenshots(page, 'trader-06-history');

    await page.getByTestId('tab-balance').click();
    await waitFor(page, 'balance-available');
    await checkScreen(page, 'balance');
    await consoleScreenshots(page, 'trader-07-balance');

    assert.deepEqual(navigations, [], 'the console never reloaded');
    assert.deepEqual(w.problems, []);
  });

  test('keyboard (j, a, ?), mistakes and refusals said in words, and the workspace in English', async () => {
    const user = await h.consoleUser('trader', 'kateryna');
    const w = await open();
    const { page } = w;
    await signInConsole(page, h, user.name);
    await page.getByTestId('queue').waitFor();
    const id = await h.numberOf(await h.invoice('320.00', 'Keyboard test'));
    await item(page, id).waitFor();
    await page.keyboard.press('?');
    await waitFor(page, 'shortcuts');
    await consoleScreenshots(page, 'trader-08-shortcuts');
    await page.keyboard.press('Escape');
    // Other tests' invoices may be in the queue too: move until this one is selected.
    for (let n = 0; n < 20 && (await item(page, id).getAttribute('aria-current')) !== 'true'; n++) await page.keyboard.press('j');
    assert.equal(await item(page, id).getAttribute('aria-current'), 'true');
    await page.keyboard.press('a');
    await inGroup(page, 'wait card', id).waitFor();

    // A mistyped card is caught on the page, by core's own check, before any request.
    const cardRequests: string[] = [];
    page.on('request', (r) => r.url().endsWith('/card') && cardRequests.push(r.url()));
    // The trader's saved cards (another test may have saved one) come first: type a new one.
    await inGroup(page, 'wait card', id).locator('[data-testid="card-form"][data-ready="true"]').waitFor();
    const typeNew = inGroup(page, 'wait card', id).getByTestId('card-other');
    if ((await typeNew.count()) > 0) await typeNew.check();
    await inGroup(page, 'wait card', id).getByTestId('card-input').fill('4441 1144 4111 4443');
    await inGroup(page, 'wait card', id).getByTestId('card-submit').click();
    await inGroup(page, 'wait card', id).getByText('Невірний номер картки').waitFor();
    assert.deepEqual(cardRequests, []);

    // The sound is off until asked for, and remembered once it is; a new invoice then beeps.
    assert.equal(await page.getByTestId('sound').isChecked(), false);
    await page.getByTestId('sound').check();
    assert.equal(await page.evaluate(() => localStorage.getItem('nltrade:console:sound')), 'on');

    // A refusal from the server (another trader was quicker) is said on screen, in words.
    const other = await h.numberOf(await h.invoice('410.00', 'Taken elsewhere'));
    await item(page, other).waitFor();
    await page.route(`**/v1/trader/invoices/${other}/accept`, (route) =>
      route.fulfill({
        status: 409,
        contentType: 'application/json',
        body: JSON.stringify({ status: false, code: 'ALREADY_TAKEN', message: 'taken' }),
      }),
    );
    await item(page, other).getByTestId('accept').click();
    await page.getByTestId('action-error').getByText('Цей рахунок уже взяв інший трейдер.').waitFor();

    await page.getByTestId('lang-en').click();
    await page.getByRole('heading', { name: 'My invoices' }).waitFor();
    await consoleScreenshots(page, 'trader-09-workspace-english');
    assert.deepEqual(w.problems, []);
  });

  test('the next invoice offers the card saved on the first, and an amount change carries its reason', async () => {
    // A trader of its own, so the saved-card list holds only what this test saves.
    const account = await h.system.accounts.create('trader', 'Trader Marta');
    await h.system.ledger.deposit(account.id, '10000.00', { type: 'admin', id: null });
    await h.system.consoleUsers.create({ name: 'marta', password: CONSOLE_PASSWORD, role: 'trader', accountId: account.id });
    const w = await open();
    const { page } = w;
    await signInConsole(page, h, 'marta');
    await page.getByTestId('queue').waitFor();

    const firstUid = await h.invoice('250.00', 'First with a new card');
    const first = await h.numberOf(firstUid);
    await item(page, first).getByTestId('accept').click();
    const firstForm = inGroup(page, 'wait card', first).locator('[data-testid="card-form"][data-ready="true"]');
    await firstForm.waitFor();
    assert.equal(await firstForm.getByRole('radio').count(), 0, 'nothing saved yet: no choice offered');
    assert.equal(await firstForm.getByTestId('card-save').isChecked(), true, 'saving is the default');
    await firstForm.getByTestId('card-input').fill('4441 1144 4111 4442');
    await firstForm.getByTestId('card-submit').click();
    await inGroup(page, 'send card', first).waitFor();
    assert.deepEqual(
      (await h.system.traderCards.list(account.id)).map((c) => c.masked),
      ['4441-11**-****-4442'],
    );

    const uid = await h.invoice('320.00', 'Second, paid with the saved card');
    const id = await h.numberOf(uid);
    await item(page, id).getByTestId('accept').click();
    const form = inGroup(page, 'wait card', id).locator('[data-testid="card-form"][data-ready="true"]');
    await form.waitFor();
    const saved = form.getByRole('radio', { name: '4441 11•• •••• 4442' });
    assert.equal(await saved.isChecked(), true, 'the saved card is chosen by default');
    assert.equal(await form.getByTestId('card-input').count(), 0, 'no number to type');
    await checkScreen(page, 'saved card offered');
    await consoleScreenshots(page, 'trader-10-saved-card');
    await form.getByTestId('card-submit').click();
    await inGroup(page, 'send card', id).waitFor();
    assert.equal((await h.system.invoices.get(uid)).card, CARD);
    assert.doesNotMatch((await page.locator('main').textContent()) ?? '', new RegExp(CARD));

    const payer = await open({ ip: '203.0.113.77', viewport: VIEWPORTS.mobile });
    await payer.page.goto(`${h.url}/pay/${uid}`);
    await waitFor(payer.page, 'state-send-card');
    await payer.page.getByTestId('paid').click();
    await payer.page.getByTestId('confirm-paid').click();
    await waitFor(payer.page, 'state-pay');

    // The payer sent less than asked: the trader records what arrived, and why.
    const reason = 'Клієнт переказав 300 грн замість 320';
    const paying = inGroup(page, 'pay', id);
    await paying.getByTestId('change-amount').click();
    await paying.getByLabel('Сума, що фактично надійшла, грн').fill('300,00');
    await paying.getByTestId('amount-reason').fill(reason);
    await checkScreen(page, 'amount change with a reason');
    await consoleScreenshots(page, 'trader-11-amount-change');
    await paying.getByTestId('amount-submit').click();
    await paying
      .getByTestId('amount')
      .getByText(/^300,00/)
      .waitFor();
    const changed = await h.system.invoices.get(uid);
    assert.equal(changed.resolution, reason);
    assert.equal(changed.sendMinor, 30_000);
    assert.deepEqual(w.problems, []);
  });

  test('role isolation and CSRF in the browser: a trader session gets 403 on admin routes and needs the token to act', async () => {
    const user = await h.consoleUser('trader', 'bohdan');
    const { page } = await open();
    await signInConsole(page, h, user.name);
    // No named functions inside evaluate: tsx's transform would reference a helper the page lacks.
    const paths = ['/v1/admin/invoices', '/v1/admin/balances', '/v1/admin/users', '/v1/trader/balance'];
    const statuses = await page.evaluate(
      async (list) => Promise.all(list.map(async (p) => (await fetch(p, { credentials: 'same-origin' })).status)),
      paths,
    );
    assert.deepEqual(statuses, [403, 403, 403, 200]);

    // The cookie alone does not act: a state-changing request without the session's token is refused.
    const id = await h.numberOf(await h.invoice('100.00', 'CSRF test'));
    const refused = await page.evaluate(async (ref) => {
      const res = await fetch(`/v1/trader/invoices/${ref}/accept`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      return { status: res.status, code: ((await res.json()) as { code?: string }).code };
    }, id);
    assert.deepEqual(refused, { status: 403, code: 'CSRF_FAILED' });
    assert.equal((await h.system.invoices.get(id, { numbers: true })).status, 'not approve exchange');
  });

  test('sessions: listed, another revoked, then signing out ends this one', async () => {
    const user = await h.consoleUser('trader', 'olha');
    const first = await open();
    const second = await open({ viewport: VIEWPORTS.mobile });
    await signInConsole(first.page, h, user.name);
    await signInConsole(second.page, h, user.name);

    await first.page.getByTestId('nav-sessions').click();
    await first.page.locator('[data-testid="session-row"]').nth(1).waitFor();
    assert.equal(await first.page.locator('[data-testid="session-row"]').count(), 2);
    assert.equal(await first.page.locator('[data-testid="session-row"][data-current="true"]').count(), 1);
    await checkScreen(first.page, 'sessions');
    await consoleScreenshots(first.page, 'shell-01-sessions');

    await first.page.locator('[data-testid="session-row"][data-current="false"]').getByTestId('session-revoke').click();
    await first.page.locator('[data-testid="session-row"][data-current="false"]').waitFor({ state: 'detached' });
    // The revoked browser finds out at its next request and is back at the sign-in form.
    await second.page.getByTestId('nav-sessions').click();
    await second.page.locator('form[data-testid="signin-form"]').waitFor();

    // English is remembered on this device across a reload.
    await first.page.getByTestId('lang-en').click();
    await first.page.getByRole('heading', { name: 'Your sessions' }).waitFor();
    await first.page.reload();
    await first.page.getByRole('heading', { name: 'Your sessions' }).waitFor();

    await first.page.getByTestId('sign-out').click();
    await first.page.locator('form[data-testid="signin-form"]').waitFor();
    assert.equal(await first.page.evaluate(async () => (await fetch('/v1/session')).status), 401);
    await first.page.reload();
    await first.page.locator('form[data-testid="signin-form"]').waitFor();
    await checkScreen(first.page, 'signed out');
  });
});
