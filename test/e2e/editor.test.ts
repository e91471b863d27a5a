/**
 * The editor in a real browser: Vite serves the app, Debian's chromium (playwright-core) drives it
 * as a user would. One page is shared by the steps, in order.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Locator, Page } from 'playwright-core';
import { tid, useAppPage } from './harness';
import { analyze, countParameters } from '../../graph/analyze';
import { GraphBuilder } from '../../graph/builder';
import { serializeDocument } from '../../graph/document';
import { typecheckModule } from '../../codegen/targets/tfjs/typecheck';
import { canvasItems } from '../../editor/groupView';
import { defaultDoc } from '../../editor/store';

const TIMEOUT = 90_000;

const app = useAppPage({ acceptDownloads: true, timeout: TIMEOUT });
let page: Page;
let url = '';

beforeAll(() => {
  page = app.page;
  url = app.url;
});

const node = (name: string) => page.locator(tid(`node-${name}`));
const edgeCount = () => page.locator('.react-flow__edge').count();
const blocks = async () => Number(await page.locator(tid('summary-blocks')).textContent());

/** Drags from one handle to another with the mouse, as a user draws a connection. */
async function connect(from: Locator, to: Locator): Promise<void> {
  const a = await from.boundingBox();
  const b = await to.boundingBox();
  if (!a || !b) throw new Error('handle not visible');
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}
const source = (name: string) => node(name).locator('.react-flow__handle.source');
const target = (name: string, port: string) => node(name).locator(`.react-flow__handle.target[data-handleid="${port}"]`);

async function dropBlock(type: string, x: number, y: number): Promise<void> {
  await page.dragAndDrop(tid(`palette-item-${type}`), tid('canvas'), { targetPosition: { x, y } });
}

describe('editor (browser)', { timeout: TIMEOUT }, () => {
  it('opens with the iDDPM template and its parameter count', async () => {
    await page.goto(url);
    await page.waitForLoadState('networkidle');
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await page.locator(tid('summary')).waitFor();
    const expected = countParameters(analyze(defaultDoc().graph)).toLocaleString('en-US');
    await expect.poll(() => page.locator(tid('summary-params')).textContent()).toBe(expected);
    expect(await page.locator(tid('summary-status')).textContent()).toBe('valid');
    // The template opens with its levels collapsed: the blocks outside them, and one node per level.
    const d = defaultDoc();
    const items = canvasItems(d.graph, d.collapsed);
    expect(await node('time_embed').count()).toBe(1);
    expect(await node('input_blocks.0.0').count()).toBe(0);
    expect(items.collapsed.length).toBeGreaterThan(0);
    expect(await page.locator('.react-flow__node').count()).toBe(d.graph.nodes.filter((n) => !items.hiddenIn.has(n.id)).length + items.collapsed.length);
  });

  it('builds on an empty canvas: drop blocks, connect, refuse a wrong kind, show a shape error, undo', async () => {
    await page.click(tid('templates'));
    await page.getByRole('button', { name: 'Empty canvas' }).click();
    await page.click(tid('tpl-create'));
    await expect.poll(blocks).toBe(2);
    await page.waitForTimeout(400); // fitView animation
    const box = (await page.locator(tid('canvas')).boundingBox())!;

    await dropBlock('Conv2d', 60, box.height - 180);
    await dropBlock('ResBlock', 330, box.height - 180);
    await dropBlock('Add', 600, box.height - 180);
    await expect.poll(blocks).toBe(5);
    for (const n of ['conv_1', 'resblock_1', 'add_1']) await node(n).waitFor();

    const edges0 = await edgeCount();
    await connect(source('x'), target('conv_1', 'x'));
    await expect.poll(edgeCount).toBe(edges0 + 1);
    const label = page.locator('.react-flow__edge').last().locator('.react-flow__edge-text');
    expect(await label.textContent()).toBe('3×32×32');
    expect(await node('conv_1').locator(tid('shape-badge')).textContent()).toMatch(/^\d+×32×32$/);

    // A feature map into a ResBlock's embedding input is refused while drawn.
    await connect(source('x'), target('resblock_1', 'emb'));
    await page.waitForTimeout(200);
    expect(await edgeCount()).toBe(edges0 + 1);

    // Kind-valid but shape-wrong: Add(x: 3 channels, conv: 64 channels) is allowed and flagged.
    await connect(source('x'), target('add_1', 'a'));
    await connect(source('conv_1'), target('add_1', 'b'));
    await expect.poll(edgeCount).toBe(edges0 + 3);
    await expect.poll(() => node('add_1').getAttribute('title')).toMatch(/channel mismatch/);
    expect(await node('add_1').locator(tid('node-error')).count()).toBe(1);

    // Undo with the keyboard removes the last connection and its error.
    await page.locator('.react-flow__pane').click({ position: { x: 20, y: 20 } });
    await page.keyboard.press('Control+z');
    await expect.poll(edgeCount).toBe(edges0 + 2);
    expect(await node('add_1').getAttribute('title')).not.toMatch(/channel mismatch/);
    await page.keyboard.press('Control+Shift+z');
    await expect.poll(edgeCount).toBe(edges0 + 3);
    await page.keyboard.press('Control+z');
    await expect.poll(edgeCount).toBe(edges0 + 2);
  });

  it('restores the graph from autosave after a reload', async () => {
    const before = await blocks();
    const edges = await edgeCount();
    await page.reload();
    await page.locator(tid('summary')).waitFor();
    await expect.poll(blocks).toBe(before);
    await node('add_1').waitFor();
    await expect.poll(edgeCount).toBe(edges);
  });

  it('keeps the graph and shows a banner for a malformed file', async () => {
    const before = await blocks();
    await page.setInputFiles(tid('file-input'), { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"format": "something-else", "version": 1}') });
    const banner = page.locator(tid('banner'));
    await banner.waitFor();
    expect(await banner.textContent()).toMatch(/not a UNet Studio graph/);
    expect(await blocks()).toBe(before);
    await page.click(tid('banner-dismiss'));
    await expect.poll(() => banner.count()).toBe(0);
  });

  it('downloads a generated module that type-checks', async () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 3, height: 16, width: 16 });
    const c = b.add('Conv2d', 'conv_in', { out_channels: 8 }, { x });
    const n = b.add('GroupNorm', 'norm', { groups: 4 }, { x: c });
    b.add('Output', 'output', {}, { x: n });
    const doc = serializeDocument(b.build('tiny'));
    await page.setInputFiles(tid('file-input'), { name: 'tiny.json', mimeType: 'application/json', buffer: Buffer.from(doc) });
    await expect.poll(blocks).toBe(4);
    expect(await page.locator(tid('summary-status')).textContent()).toBe('valid');
    await page.click(tid('toggle-code'));
    await expect.poll(() => page.locator(tid('code-status')).textContent(), { timeout: 60_000 }).toBe('type-checked ✓');
    // One tab per export target; the tfjs module's is first and shown, highlighted as TypeScript.
    expect(await page.locator('[role="tab"]').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator(tid('code-tab-tfjs')).getAttribute('aria-selected')).toBe('true');
    expect(await page.locator(tid('code-file')).textContent()).toBe('Tiny.ts');
    expect(await page.locator(tid('code-text')).getAttribute('data-language')).toBe('typescript');
    expect(await page.locator(`${tid('code-text')} .tok-keyword`).first().textContent()).toBe('import');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('download-ts'))]);
    expect(download.suggestedFilename()).toBe('Tiny.ts');
    const path = await download.path();
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('@tensorflow/tfjs');
    expect(typecheckModule(text)).toEqual([]);

    // The ONNX tab downloads the model's bytes (the panel shows a summary of them), and ONNX Runtime runs it.
    await page.click(tid('code-tab-onnx'));
    await expect.poll(() => page.locator(tid('download-ts')).isEnabled(), { timeout: 60_000 }).toBe(true);
    const [onnx] = await Promise.all([page.waitForEvent('download'), page.click(tid('download-ts'))]);
    expect(onnx.suggestedFilename()).toMatch(/\.onnx$/);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(new Uint8Array(readFileSync((await onnx.path())!)));
    expect([session.inputNames, session.outputNames]).toEqual([['x'], ['out']]);
    const result = await session.run({ x: new ort.Tensor('float32', new Float32Array(3 * 16 * 16).fill(0.5), [1, 3, 16, 16]) });
    expect(result.out.dims).toEqual([1, 8, 16, 16]);
    await session.release();
  });
});
