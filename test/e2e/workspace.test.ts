/**
 * Variants in Chromium: duplicate as variant, rename, reorder, switch (each variant keeps its own graph),
 * a reload brings the workspace back (tabs, names, active one); a share link opens in a fresh
 * browser as new variants beside that browser's own work, and a damaged link says so.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ViteDevServer } from 'vite';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { defaultDoc } from '../../editor/store';
import { launchChromium, screenshot, startApp, tid } from './harness';

const TIMEOUT = 60_000;
let server: ViteDevServer;
let browser: Browser;
let url = '';
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  ({ server, url } = await startApp());
  browser = await launchChromium({ webgpu: false });
}, TIMEOUT);
afterEach(async (t) => {
  if (t.task.result?.state === 'fail') await screenshot(contexts[contexts.length - 1] ?? null, t.task.name);
});
afterAll(async () => {
  for (const c of contexts.splice(0)) await c.close();
  await browser?.close();
  await server?.close();
});

const DEFAULT_NAME = defaultDoc().graph.name;
/** The share link the first test makes. */
let link = '';

/** A page in a browser context of its own (its own IndexedDB). */
async function fresh(at = url): Promise<Page> {
  const c = await browser.newContext({ viewport: { width: 1400, height: 860 } });
  contexts.push(c);
  const page = await c.newPage();
  page.on('dialog', (d) => void d.accept());
  await page.goto(at);
  await page.locator(tid('summary')).waitFor();
  return page;
}
const tabNames = (page: Page) => page.locator(tid('variant-tab-name')).allTextContents();
const activeTab = (page: Page) => page.locator(`${tid('variant-tab')}[data-active="true"] ${tid('variant-tab-name')}`).textContent();
const status = (page: Page) => page.locator(tid('autosave-status')).getAttribute('data-status');
const tab = (page: Page, name: string) => page.locator(tid('variant-tab-name'), { hasText: name });

async function renameBlock(page: Page, from: string, to: string): Promise<void> {
  await page.locator(tid(`node-${from}`)).click();
  const input = page.locator(tid('inspector-name'));
  await input.fill(to);
  await input.press('Enter');
  await page.locator(tid(`node-${to}`)).waitFor();
}

describe('workspace (browser)', { timeout: TIMEOUT }, () => {
  it('duplicate as variant, rename, switch; a reload keeps the workspace', async () => {
    const page = await fresh();
    expect(await tabNames(page)).toEqual([DEFAULT_NAME]);

    await page.click(tid('duplicate-variant'));
    await expect.poll(() => tabNames(page)).toEqual([DEFAULT_NAME, `${DEFAULT_NAME} copy`]);
    expect(await activeTab(page)).toBe(`${DEFAULT_NAME} copy`);

    await tab(page, `${DEFAULT_NAME} copy`).dblclick();
    const input = page.locator(tid('variant-rename-input'));
    await input.fill('wide');
    await input.press('Enter');
    await expect.poll(() => tabNames(page)).toEqual([DEFAULT_NAME, 'wide']);
    // Reorder from the keyboard, and back.
    await tab(page, DEFAULT_NAME).press('Alt+ArrowRight');
    await expect.poll(() => tabNames(page)).toEqual(['wide', DEFAULT_NAME]);
    await tab(page, DEFAULT_NAME).press('Alt+ArrowLeft');
    await expect.poll(() => tabNames(page)).toEqual([DEFAULT_NAME, 'wide']);

    // An edit in the copy stays in the copy.
    await renameBlock(page, 'time_embed', 'only_in_wide');
    await tab(page, DEFAULT_NAME).click();
    await page.locator(tid('node-time_embed')).waitFor();
    expect(await page.locator(tid('node-only_in_wide')).count()).toBe(0);
    expect(await activeTab(page)).toBe(DEFAULT_NAME);

    await expect.poll(() => status(page)).toBe('saved');
    await page.reload();
    await page.locator(tid('summary')).waitFor();
    expect(await tabNames(page)).toEqual([DEFAULT_NAME, 'wide']);
    expect(await activeTab(page)).toBe(DEFAULT_NAME);
    await tab(page, 'wide').click();
    await page.locator(tid('node-only_in_wide')).waitFor();
    // Undo belongs to the variant: in this session the copy's history starts afresh, the original's too.
    expect(await page.locator(tid('undo')).isDisabled()).toBe(true);

    // The link of the whole workspace, for the next test.
    await page.click(tid('copy-link'));
    await page.click(tid('copy-link-workspace'));
    link = await page.locator(tid('share-link')).inputValue();
    expect(link.startsWith(`${url}#w=`)).toBe(true);
  });

  it('a link opens in a fresh browser as new variants beside its own work; a damaged link says so', async () => {
    expect(link).not.toBe('');
    // Another browser with work of its own: the link adds two tabs, its active one shown.
    const b = await fresh();
    await renameBlock(b, 'time_embed', 'b_own_work');
    await expect.poll(() => status(b)).toBe('saved');
    await b.goto(link);
    await b.locator(tid('summary')).waitFor();
    await expect.poll(() => tabNames(b)).toEqual([DEFAULT_NAME, `${DEFAULT_NAME} (2)`, 'wide']);
    expect(await activeTab(b)).toBe('wide'); // the variant shown when the link was made
    await b.locator(tid('node-only_in_wide')).waitFor();
    expect(await b.locator(tid('workspace-banner')).textContent()).toMatch(/Opened the shared design as 2 new variants/);
    expect(new URL(b.url()).hash).toBe('');
    await tab(b, DEFAULT_NAME).first().click();
    await b.locator(tid('node-b_own_work')).waitFor();

    // A link opened in a page already showing the app: the hash changes, the page stays.
    await b.goto(`${url}#w=AAAAA`);
    await expect.poll(() => b.locator(tid('workspace-banner')).textContent()).toMatch(
      /This link is damaged: its data is not valid base64url \(5 characters cannot be whole bytes\)\. It may have been cut off when it was copied\. Your own work is unchanged\./,
    );
    expect(await tabNames(b)).toEqual([DEFAULT_NAME, `${DEFAULT_NAME} (2)`, 'wide']);
  });
});
