/**
 * Blocks of your own in a real browser: the iDDPM template's middle level is saved as a block, an
 * instance is added from "My blocks", a parameter changed in the new instance is followed by the
 * original, Undo takes it back from both, and after a reload (autosave) the instance, the shared
 * definition and My blocks are still there.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { tid, useAppPage } from './harness';
import { parseDocument, type Document } from '../../graph/document';

const TIMEOUT = 60_000;
const app = useAppPage({ acceptDownloads: true, webgpu: false, timeout: TIMEOUT });
let page: Page;

beforeAll(() => {
  page = app.page;
});

const group = (name: string) => page.locator(tid(`group-${name}`));
const node = (name: string) => page.locator(tid(`node-${name}`));

async function saved(): Promise<Document> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('save'))]);
  return parseDocument(readFileSync((await download.path())!, 'utf8'));
}
const heads = (d: Document, name: string) => d.graph.nodes.find((n) => n.name === name)?.params.num_heads;

describe('my blocks (browser)', { timeout: TIMEOUT }, () => {
  it('save a level as a block, add an instance, edit one and the other follows, undo, reload', async () => {
    await page.goto(app.url);
    await page.waitForLoadState('networkidle');
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await group('middle_block').waitFor();

    // Save the middle level as a block: it appears in My blocks.
    await group('middle_block').click();
    await page.locator(tid('inspector-block-label')).fill('Middle');
    await page.click(tid('inspector-save-block'));
    await page.locator(tid('my-block-block_middle')).waitFor();
    await expect.poll(() => page.locator(tid('inspector-instance-of')).textContent()).toBe('Instance of block “Middle”');
    const before = await saved();
    const h0 = heads(before, 'middle_block.1');
    expect(before.graph.definitions?.map((d) => d.name)).toEqual(['Middle']);

    // Add an instance from My blocks; open it and change its attention's heads.
    await page.click(tid('my-block-block_middle'));
    await group('middle_1').waitFor();
    // It goes right of everything, and the canvas pans there: the new instance is in view.
    await expect
      .poll(async () => {
        const [b, c] = await Promise.all([group('middle_1').boundingBox(), page.locator(tid('canvas')).boundingBox()]);
        return b !== null && c !== null && b.x >= c.x && b.y >= c.y && b.x + b.width <= c.x + c.width && b.y + b.height <= c.y + c.height;
      })
      .toBe(true);
    // Its ▸ button (one click): a double-click's second press can land on the pane once the group has opened.
    await group('middle_1').locator(tid('group-toggle')).click();
    await page.locator(tid('frame-middle_1')).waitFor();
    await node('middle_1.1').click();
    await page.locator(tid('inspector-instance')).waitFor();
    const next = h0 === 2 ? 4 : 2;
    await page.locator(tid('param-num_heads')).fill(String(next));
    const edited = await saved();
    expect([heads(edited, 'middle_block.1'), heads(edited, 'middle_1.1')]).toEqual([next, next]);
    expect(edited.graph.definitions?.[0].nodes.find((n) => n.name === '1')?.params.num_heads).toBe(next);

    // Undo: both go back.
    await page.locator(tid('summary')).click();
    await page.keyboard.press('Control+z');
    const undone = await saved();
    expect([heads(undone, 'middle_block.1'), heads(undone, 'middle_1.1')]).toEqual([h0, h0]);
    await page.keyboard.press('Control+Shift+z');

    // Reload: the autosave brings the instances and their definition back; My blocks is kept in the browser.
    await expect.poll(() => page.locator(tid('autosave-status')).getAttribute('data-status')).toBe('saved');
    await page.reload();
    // Expanded when the page was left: its frame comes back.
    await page.locator(tid('frame-middle_1')).waitFor();
    await page.locator(tid('my-block-block_middle')).waitFor();
    const after = await saved();
    expect([heads(after, 'middle_block.1'), heads(after, 'middle_1.1')]).toEqual([next, next]);
    expect((after.graph.groups ?? []).filter((g) => g.definition === 'block_middle').map((g) => g.name).sort()).toEqual(['middle_1', 'middle_block']);
  });
});
