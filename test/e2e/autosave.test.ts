/**
 * Autosave in Chromium, as a user meets it: storage full (the banner, Save to file, nothing lost
 * after a reload), an autosave this version cannot read (kept, said on start, downloadable byte for
 * byte), two tabs editing one document (no silent overwrite; each choice), and a 20 MB document
 * autosaved to IndexedDB and restored. Each test has its own browser context, so its IndexedDB and
 * localStorage survive its reloads and no test sees another's.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ViteDevServer } from 'vite';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CURRENT_VERSION, serializeDocument } from '../../graph/document';
import { defaultDoc } from '../../editor/store';
import { launchChromium, screenshot, startApp, tid } from './harness';

const TIMEOUT = 90_000;
const VIEWPORT = { width: 1400, height: 860 };

let server: ViteDevServer;
let browser: Browser;
let url = '';
let ctx: BrowserContext | null = null;

beforeAll(async () => {
  ({ server, url } = await startApp());
  browser = await launchChromium({ webgpu: false });
}, TIMEOUT);

afterEach(async (t) => {
  if (t.task.result?.state === 'fail') await screenshot(ctx, t.task.name);
  await ctx?.close();
  ctx = null;
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const DEFAULT = defaultDoc();
const DEFAULT_BLOCKS = DEFAULT.graph.nodes.length;

async function newContext(): Promise<BrowserContext> {
  ctx = await browser.newContext({ viewport: VIEWPORT, acceptDownloads: true });
  return ctx;
}

async function ready(page: Page): Promise<void> {
  await page.locator(tid('summary')).waitFor();
}
async function open(c: BrowserContext): Promise<Page> {
  const page = await c.newPage();
  page.on('dialog', (d) => void d.accept()); // a beforeunload question would otherwise block a reload
  await page.goto(url);
  await ready(page);
  return page;
}
async function reload(page: Page): Promise<void> {
  await page.reload();
  await ready(page);
}
const blocks = async (page: Page) => Number(await page.locator(tid('summary-blocks')).textContent());
const status = (page: Page) => page.locator(tid('autosave-status')).getAttribute('data-status');

/** Renames a block through the inspector, as a user does. */
async function rename(page: Page, from: string, to: string): Promise<void> {
  await page.locator(tid(`node-${from}`)).click();
  const input = page.locator(tid('inspector-name'));
  await input.fill(to);
  await input.press('Enter');
  await page.locator(tid(`node-${to}`)).waitFor();
}

async function download(page: Page, click: () => Promise<void>): Promise<Buffer> {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  return readFileSync(await d.path());
}

/** Runs `body` (statements using `s`, the app's object store, and `done(value)`) in one IndexedDB transaction. */
function idb<T>(page: Page, mode: 'readonly' | 'readwrite', body: string): Promise<T> {
  return page.evaluate(`new Promise((resolve, reject) => {
    const r = indexedDB.open('unet-studio');
    r.onupgradeneeded = () => r.result.createObjectStore('autosave');
    r.onerror = () => reject(r.error);
    r.onsuccess = () => {
      const db = r.result;
      const tx = db.transaction('autosave', '${mode}');
      const s = tx.objectStore('autosave');
      let out = null;
      const done = (v) => { out = v; };
      tx.oncomplete = () => { db.close(); resolve(typeof out === 'function' ? out() : out); };
      tx.onerror = () => { db.close(); reject(tx.error); };
      ${body}
    };
  })`) as Promise<T>;
}
const storedDoc = (page: Page) => idb<string | null>(page, 'readonly', `const d = s.get('doc'); done(() => d.result ?? null);`);
const storedMeta = (page: Page) => idb<{ rev: number; tab: string } | null>(page, 'readonly', `const m = s.get('meta'); done(() => m.result ?? null);`);
const asideTexts = (page: Page) =>
  idb<string[]>(page, 'readonly', `const q = s.getAll(IDBKeyRange.bound('aside:', 'aside:\\uffff')); done(() => q.result.map((a) => a.text));`);
/** The block names of a stored or saved text: a document's, or a workspace's shown variant's (autosave stores the workspace). */
const nodeNames = (text: string): string[] => {
  type Doc = { graph: { nodes: { name: string }[] } };
  const j = JSON.parse(text) as Doc | { format: 'unet-studio-workspace'; active: string; variants: { id: string; document: Doc }[] };
  const doc = 'variants' in j ? j.variants.find((v) => v.id === j.active)!.document : j;
  return doc.graph.nodes.map((n) => n.name);
};

describe('autosave (browser)', { timeout: TIMEOUT }, () => {
  it('storage full: a banner says so, Save to file keeps the work, and the banner goes when a write succeeds', async () => {
    const c = await newContext();
    // Every write to IndexedDB and localStorage fails as a full disk makes them fail.
    await c.addInitScript(() => {
      const w = window as unknown as { __storageWorks?: () => void };
      const put = IDBObjectStore.prototype.put;
      const setItem = Storage.prototype.setItem;
      const full = () => {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      };
      IDBObjectStore.prototype.put = full;
      Storage.prototype.setItem = full;
      w.__storageWorks = () => {
        IDBObjectStore.prototype.put = put;
        Storage.prototype.setItem = setItem;
      };
    });
    const page = await open(c);
    expect(await blocks(page)).toBe(DEFAULT_BLOCKS);
    await rename(page, 'time_embed', 'stem_renamed');
    await page.click(tid('palette-item-SiLU'));
    await expect.poll(() => blocks(page)).toBe(DEFAULT_BLOCKS + 1);

    const banner = page.locator(tid('autosave-failed'));
    await banner.waitFor();
    expect(await banner.textContent()).toMatch(/Autosave failed:.*browser storage is full \(QuotaExceededError/);
    expect(await status(page)).toBe('failed');

    const file = await download(page, () => page.click(tid('autosave-save-file')));
    const names = nodeNames(file.toString('utf8'));
    expect(names).toContain('stem_renamed');
    expect(names).toContain('silu_1');
    expect(names).toHaveLength(DEFAULT_BLOCKS + 1);
    expect(await banner.textContent()).toMatch(/Saved to file at/);

    // Storage stayed full, so the reload starts from the template; the file brings everything back.
    await reload(page);
    expect(await blocks(page)).toBe(DEFAULT_BLOCKS);
    // The saved file is the workspace: it opens as a new tab (a new canvas), which may take over a second here.
    await page.setInputFiles(tid('file-input'), { name: 'saved.json', mimeType: 'application/json', buffer: file });
    await expect.poll(() => blocks(page), { timeout: 10_000 }).toBe(DEFAULT_BLOCKS + 1);
    await page.locator(tid('node-stem_renamed')).waitFor();
    await page.locator(tid('node-silu_1')).waitFor();
    await banner.waitFor(); // opening is an edit, and storage is still full

    // Room again: the next edit is written and the banner goes; a reload then restores it all.
    await page.evaluate(() => (window as unknown as { __storageWorks: () => void }).__storageWorks());
    await rename(page, 'silu_1', 'silu_after');
    await expect.poll(() => status(page)).toBe('saved');
    expect(await banner.count()).toBe(0);
    await reload(page);
    await page.locator(tid('node-stem_renamed')).waitFor();
    await page.locator(tid('node-silu_after')).waitFor();
    expect(await blocks(page)).toBe(DEFAULT_BLOCKS + 1);
  });

  it('an unreadable autosave is kept byte for byte, said on start, downloadable; a second one does not replace it', async () => {
    const c = await newContext();
    const page = await open(c);
    // What a newer UNet Studio would leave: a higher version (odd spacing, to check the bytes).
    const doc = JSON.parse(serializeDocument(DEFAULT.graph, DEFAULT.layout)) as Record<string, unknown>;
    const newer = `${JSON.stringify({ ...doc, version: CURRENT_VERSION + 1, graph: { ...(doc.graph as object), name: 'from the future ✓' } }, null, 3)}\n`;
    await idb(page, 'readwrite', `s.put(${JSON.stringify(newer)}, 'doc'); s.put({ rev: 5, tab: 'newer-app', time: 0 }, 'meta');`);
    await reload(page);

    const kept = page.locator(tid('autosave-kept'));
    await kept.waitFor();
    expect(await kept.textContent()).toMatch(/could not be read, so the editor started from the default template/);
    expect(await kept.textContent()).toMatch(new RegExp(`newer UNet Studio \\(format version ${CURRENT_VERSION + 1}`));
    expect(await blocks(page)).toBe(DEFAULT_BLOCKS);
    expect(await asideTexts(page)).toEqual([newer]);

    // An edit is autosaved over the main record only; after a reload the copy is still kept and offered.
    await rename(page, 'time_embed', 'after_unreadable');
    await expect.poll(() => status(page)).toBe('saved');
    await reload(page);
    await page.locator(tid('node-after_unreadable')).waitFor();
    await kept.waitFor();
    expect(await asideTexts(page)).toEqual([newer]);
    const got = await download(page, () => page.click(tid('kept-download')));
    expect(got.equals(Buffer.from(newer, 'utf8'))).toBe(true);

    // A second unreadable autosave (a bad coordinate) is kept beside the first.
    const bad = serializeDocument(DEFAULT.graph, DEFAULT.layout).replace(/"x": -?\d+(\.\d+)?/, '"x": "a"');
    expect(bad).toContain('"x": "a"');
    const meta = await storedMeta(page);
    await idb(page, 'readwrite', `s.put(${JSON.stringify(bad)}, 'doc'); s.put({ rev: ${(meta?.rev ?? 0) + 1}, tab: 'other', time: 0 }, 'meta');`);
    await reload(page);
    await expect.poll(() => kept.count()).toBe(2);
    expect((await asideTexts(page)).sort()).toEqual([newer, bad].sort());
    expect(await page.locator(tid('autosave-kept')).nth(1).textContent()).toMatch(/malformed:\s+layout\.n\d+\.x/);

    // Dismissed: not offered again, still stored.
    await page.locator(tid('kept-dismiss')).first().click();
    await page.locator(tid('kept-dismiss')).first().click();
    await expect.poll(() => kept.count()).toBe(0);
    await expect.poll(() => idb<boolean[]>(page, 'readonly', `const q = s.getAll(IDBKeyRange.bound('aside:', 'aside:\\uffff')); done(() => q.result.map((a) => a.dismissed));`)).toEqual([true, true]);
    await reload(page);
    expect(await kept.count()).toBe(0);
    expect((await asideTexts(page)).sort()).toEqual([newer, bad].sort());
  });

  it('two tabs: the second write does not silently overwrite the first; each choice does what it says', async () => {
    const c = await newContext();
    const a = await open(c);
    const b = await open(c);
    await rename(a, 'time_embed', 'from_a');
    await expect.poll(() => status(a)).toBe('saved');
    const conflictB = b.locator(tid('autosave-conflict'));
    await conflictB.waitFor(); // B heard of A's write before making any edit
    expect(await conflictB.textContent()).toMatch(/This document was changed in another tab/);

    // B edits anyway: nothing of B's is written over A's work.
    await rename(b, 'timestep_embedding', 'from_b');
    await b.waitForTimeout(1000); // longer than the debounce: a write would have happened by now
    expect(nodeNames((await storedDoc(a))!)).toContain('from_a');
    expect(nodeNames((await storedDoc(a))!)).not.toContain('from_b');
    expect(await status(b)).toBe('conflict');

    // Save mine to file: B's document, with B's edit and without A's.
    const mine = nodeNames((await download(b, () => b.click(tid('conflict-save-file')))).toString('utf8'));
    expect(mine).toContain('from_b');
    expect(mine).not.toContain('from_a');

    // Load theirs: B now shows A's work; Undo brings B's back (and that, now deliberate, is autosaved).
    await b.click(tid('conflict-load-theirs'));
    await b.locator(tid('node-from_a')).waitFor();
    expect(await conflictB.count()).toBe(0);
    expect(await b.locator(tid('node-from_b')).count()).toBe(0);
    await b.click(tid('undo'));
    await b.locator(tid('node-from_b')).waitFor();
    await expect.poll(() => status(b)).toBe('saved');
    expect(nodeNames((await storedDoc(a))!)).toContain('from_b');

    // A is told in turn, and keeps its own: written on purpose over B's.
    const conflictA = a.locator(tid('autosave-conflict'));
    await conflictA.waitFor();
    await a.click(tid('conflict-keep-mine'));
    await expect.poll(() => status(a)).toBe('saved');
    const names = nodeNames((await storedDoc(a))!);
    expect(names).toContain('from_a');
    expect(names).not.toContain('from_b');
    await conflictB.waitFor();
    expect((await storedMeta(a))?.rev).toBe(3);
  });

  it('a 20 MB document opened from a file is autosaved to IndexedDB and restored after a reload', async () => {
    const c = await newContext();
    const page = await open(c);
    // Twenty megabytes of notes in a valid graph: the size is what storage sees.
    const line = 'Notes on this UNet: widths, attention resolutions, the data it was trained on. ';
    const description = line.repeat(Math.ceil(20e6 / line.length));
    const text = serializeDocument({ ...DEFAULT.graph, name: 'twenty-megabytes', description }, DEFAULT.layout);
    expect(text.length).toBeGreaterThan(20e6);
    // From a file on disk: the browser reads it itself (a 20 MB buffer sent over the protocol takes seconds).
    const path = join(mkdtempSync(join(tmpdir(), 'unet-autosave-')), 'twenty-megabytes.json');
    writeFileSync(path, text);
    await page.setInputFiles(tid('file-input'), path);
    // Reading and checking 20 MB takes seconds while other test files share the cores: wait for it.
    await expect.poll(() => page.locator('.doc-name').textContent(), { timeout: 30_000 }).toBe('twenty-megabytes');
    await expect.poll(() => status(page), { timeout: 30_000 }).toBe('saved');
    expect(await page.locator(tid('autosave-failed')).count()).toBe(0);
    // Stored as the workspace: the document inside, description whole.
    expect(await idb<number>(page, 'readonly', `const d = s.get('doc'); done(() => JSON.parse(d.result).variants[0].document.graph.description.length);`)).toBe(description.length);

    await reload(page);
    await expect.poll(() => page.locator('.doc-name').textContent(), { timeout: 30_000 }).toBe('twenty-megabytes');
    expect(await page.evaluate(() => document.querySelector('.doc-name')?.getAttribute('title')?.length)).toBe(description.length);
    expect(await blocks(page)).toBe(DEFAULT_BLOCKS);
    expect(await status(page)).toBe('saved');
  });
});
