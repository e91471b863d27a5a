/**
 * Groups on the canvas, in a real browser: the iDDPM template opens with its levels collapsed,
 * a level expands and collapses, Ctrl+G groups two blocks and Ctrl+Shift+G ungroups them, Undo
 * brings the group back, and Save → Open keeps the groups and what was collapsed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { tid, useAppPage } from './harness';
import { parseDocument, serializeDocument } from '../../graph/document';
import { GraphBuilder } from '../../graph/builder';
import { defaultCollapsed } from '../../graph/groups';
import { defaultDoc } from '../../editor/store';
import { canvasItems } from '../../editor/groupView';

const TIMEOUT = 60_000;
const app = useAppPage({ acceptDownloads: true, webgpu: false, timeout: TIMEOUT });
let page: Page;

beforeAll(() => {
  page = app.page;
});

const drawn = () => page.locator('.react-flow__node').count();
const node = (name: string) => page.locator(tid(`node-${name}`));
const group = (name: string) => page.locator(tid(`group-${name}`));
const frame = (name: string) => page.locator(tid(`frame-${name}`));

/**
 * In the page: dispatches `event` on the element `target` selects, then waits (frame by frame) until
 * `present` is there (or gone, with `gone`); returns the milliseconds between, as the user sees it.
 */
function timed(target: string, event: 'dblclick' | 'click', watch: string, gone: boolean): Promise<number> {
  return page.evaluate(
    ([target, event, watch, gone]) =>
      new Promise<number>((resolve, reject) => {
        const el = document.querySelector(target);
        if (!el) return reject(new Error(`no ${target}`));
        const t0 = performance.now();
        if (event === 'click') (el as HTMLElement).click();
        else el.dispatchEvent(new MouseEvent('dblclick', { bubbles: true, cancelable: true }));
        const check = () => {
          if ((document.querySelector(watch) === null) === gone) resolve(performance.now() - t0);
          else if (performance.now() - t0 > 10_000) reject(new Error(`${watch} did not ${gone ? 'go' : 'come'}`));
          else requestAnimationFrame(check);
        };
        check();
      }),
    [target, event, watch, gone] as const,
  );
}

describe('groups (browser)', { timeout: TIMEOUT }, () => {
  const d = defaultDoc();
  const items = canvasItems(d.graph, d.collapsed);
  // Blocks outside the collapsed levels, plus one node per level.
  const expected = d.graph.nodes.filter((n) => !items.hiddenIn.has(n.id)).length + items.collapsed.length;
  const times: Record<string, number> = {};

  it('opens the iDDPM template with its levels collapsed: at most 30 nodes drawn', async () => {
    await page.goto(app.url);
    await page.waitForLoadState('networkidle');
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await group('encoder.1').waitFor();
    expect(expected).toBeLessThanOrEqual(30);
    await expect.poll(drawn).toBe(expected);
    expect(await node('input_blocks.4.0').count()).toBe(0);
    // The level shows its ports with shapes, and its sums.
    const level = group('encoder.1');
    expect(await level.locator(tid('group-stats')).textContent()).toMatch(/^5 blocks · [\d.]+[kM]? params · \d+\.\d\d GFLOP$/);
    // encoder.1 = input_blocks.4, input_blocks.5 (ResBlock + attention, 64 → 128 channels at 16×16) and
    // the downsample input_blocks.6: in, the time embedding and encoder.0's 64×16×16 (forward order);
    // out, the two 16×16 skips and the downsampled 128×8×8.
    const shapes = async (id: string) => (await level.locator(tid(id)).allTextContents()).map((t) => t.split(' ').at(-1));
    expect(await shapes('group-input')).toEqual(['256', '64×16×16']);
    expect(await shapes('group-output')).toEqual(['128×16×16', '128×16×16', '128×8×8']);
    console.log(`encoder.1 ports: ${(await level.locator(tid('group-input')).allTextContents()).join(', ')} → ${(await level.locator(tid('group-output')).allTextContents()).join(', ')}`);
  });

  it('expands a level to show its blocks in frames, and collapses it again', async () => {
    times.expand = await timed(tid('group-encoder.1'), 'dblclick', tid('node-input_blocks.4.0'), false);
    expect(await frame('encoder.1').count()).toBe(1);
    expect(await frame('input_blocks.4').count()).toBe(1);
    // The level's 5 blocks and its 3 frames replace its one node.
    await expect.poll(drawn).toBe(expected - 1 + 5 + 3);
    // A frame is selected by its title bar: the inspector shows the group.
    await frame('encoder.1').locator('.frame-head .group-name').first().click();
    await expect.poll(() => page.locator(tid('inspector-group-name')).inputValue()).toBe('encoder.1');
    expect(await page.locator(tid('inspector-group-blocks')).textContent()).toBe('5');
    times.collapse = await timed(`${tid('frame-encoder.1')} ${tid('frame-toggle')}`, 'click', tid('node-input_blocks.4.0'), true);
    await expect.poll(drawn).toBe(expected);
    expect(await group('encoder.1').count()).toBe(1);
  });

  it('groups two blocks with Ctrl+G, ungroups them with Ctrl+Shift+G, and Undo brings the group back', async () => {
    await node('timestep_embedding').click();
    await node('time_embed').click({ modifiers: ['Control'] });
    await page.keyboard.press('Control+g');
    await group('group_1').waitFor();
    await expect.poll(drawn).toBe(expected - 1);
    expect(await node('time_embed').count()).toBe(0);
    // The new group is selected: the inspector shows it.
    expect(await page.locator(tid('inspector-group-name')).inputValue()).toBe('group_1');
    expect(await page.locator(tid('inspector-group-blocks')).textContent()).toBe('2');

    await page.keyboard.press('Control+Shift+g');
    await node('time_embed').waitFor();
    await expect.poll(drawn).toBe(expected);
    expect(await group('group_1').count()).toBe(0);

    await page.keyboard.press('Control+z');
    await group('group_1').waitFor();
    await expect.poll(drawn).toBe(expected - 1);
  });

  it('keeps groups and what was collapsed through Save and Open', async () => {
    await group('decoder.1').dblclick();
    await frame('decoder.1').waitFor();
    const before = await drawn();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('save'))]);
    const text = readFileSync(await download.path(), 'utf8');
    const saved = parseDocument(text);
    expect(saved.graph.groups?.find((g) => g.name === 'group_1')?.nodes.length).toBe(2);
    const names = new Map((saved.graph.groups ?? []).map((g) => [g.id, g.name]));
    expect((saved.collapsed ?? []).map((id) => names.get(id)).sort()).toEqual(
      ['decoder.0', 'decoder.2', 'encoder.0', 'encoder.1', 'encoder.2', 'group_1', 'middle_block', 'out'].sort(),
    );

    // Back to the template as it opens, then the saved file.
    await page.click(tid('templates'));
    await page.click(tid('tpl-create'));
    await expect.poll(drawn).toBe(expected);
    await page.setInputFiles(tid('file-input'), { name: 'grouped.json', mimeType: 'application/json', buffer: Buffer.from(text) });
    await group('group_1').waitFor();
    await frame('decoder.1').waitFor();
    await expect.poll(drawn).toBe(before);
  });

  it('marks a collapsed group with a problem inside and names the block; the inspector lists it', async () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
    const sum = b.group('core', () => {
      const c = b.add('Conv2d', 'core.conv', { out_channels: 8 }, { x });
      return b.add('Add', 'core.add', {}, { a: c, b: x });
    });
    b.add('Output', 'output', {}, { x: sum });
    const g = b.build('broken');
    const text = serializeDocument(g, {}, undefined, defaultCollapsed(g));
    await page.setInputFiles(tid('file-input'), { name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from(text) });
    const core = group('core');
    await core.waitFor();
    expect(await core.locator(tid('group-error')).count()).toBe(1);
    expect(await core.locator(tid('group-problem')).textContent()).toMatch(/^Add "core\.add": .*channel/);
    await core.click();
    expect(await page.locator(tid('inspector-group-blocks')).textContent()).toBe('2');
    expect(await page.locator(tid('inspector-group-problems')).textContent()).toMatch(/core\.add/);
    console.log(`groups e2e: ${expected} nodes drawn at open; expand ${times.expand} ms, collapse ${times.collapse} ms (in the page, until the blocks are in or out of the DOM)`);
  });
});
