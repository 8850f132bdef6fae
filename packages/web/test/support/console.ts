import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { REPO_ROOT } from './harness.ts';

export const CONSOLE_SCREENSHOT_DIR = path.join(REPO_ROOT, 'screenshots', 'console');

/** The narrowest phone the console promises to work on, and a laptop. */
export const CONSOLE_VIEWPORTS = {
  mobile: { width: 360, height: 780 },
  desktop: { width: 1280, height: 800 },
} as const;

/** Signs in through the /console form, as a person would. */
export async function signIn(page: Page, baseUrl: string, name: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/console`);
  await page.locator('input[name="name"]').fill(name);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('input[name="password"]').press('Enter');
}

/** Both widths, full page unless told otherwise; the viewport is put back as it was. */
export async function consoleScreenshots(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  fs.mkdirSync(CONSOLE_SCREENSHOT_DIR, { recursive: true });
  const before = page.viewportSize() ?? CONSOLE_VIEWPORTS.desktop;
  for (const [label, size] of Object.entries(CONSOLE_VIEWPORTS)) {
    await page.setViewportSize(size);
    await page.screenshot({
      path: path.join(CONSOLE_SCREENSHOT_DIR, `${name}.${label}-${size.width}x${size.height}.png`),
      // A modal covers the viewport only: a full-page shot would show the page beneath it.
      fullPage: opts.fullPage ?? true,
      animations: 'disabled',
    });
  }
  await page.setViewportSize(before);
}

/** Nothing axe rates serious or critical, at both widths (a layout can break a rule at one only). */
export async function assertAccessible(page: Page, screen: string): Promise<void> {
  const before = page.viewportSize() ?? CONSOLE_VIEWPORTS.desktop;
  for (const size of Object.values(CONSOLE_VIEWPORTS)) {
    await page.setViewportSize(size);
    const result = await new AxeBuilder({ page }).analyze();
    const bad = result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}) at ${size.width}px: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    assert.deepEqual(bad, [], `${screen}: accessibility violations`);
  }
  await page.setViewportSize(before);
}

/** No part of the page is wider than the viewport (the 360 px promise). */
export async function assertNoSideScroll(page: Page, screen: string): Promise<void> {
  const before = page.viewportSize() ?? CONSOLE_VIEWPORTS.desktop;
  await page.setViewportSize(CONSOLE_VIEWPORTS.mobile);
  const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
  await page.setViewportSize(before);
  assert.ok(widths.doc <= widths.view, `${screen}: the page is ${widths.doc}px wide in a ${widths.view}px viewport`);
}

/** What every main screen must pass: axe at both widths, and no sideways scrolling at 360 px. */
export async function checkScreen(page: Page, screen: string): Promise<void> {
  await assertAccessible(page, screen);
  await assertNoSideScroll(page, screen);
}
