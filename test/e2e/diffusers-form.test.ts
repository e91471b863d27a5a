/**
 * New… → diffusers UNet2DModel in Chromium: the block types are one select per level and follow
 * block_out_channels, "Import config.json" fills the form from the Hub's file (every key, the
 * learned time embedding included), a bad file is refused by name, and Create builds exactly what
 * the template builds from that config.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { diffusersUNet2D } from '../../graph/templates';
import { defaultCollapsed } from '../../graph/groups';
import { canvasItems } from '../../editor/groupView';
import { REFERENCE } from '../util';
import { tid, useAppPage } from './harness';

const TIMEOUT = 120_000;

const app = useAppPage({ webgpu: false, timeout: TIMEOUT });
let page: Page;

beforeAll(async () => {
  page = app.page;
  await page.goto(app.url);
  await page.locator(tid('summary')).waitFor();
}, TIMEOUT);

const selects = (key: string) => page.locator(`select[data-testid^="tpl-${key}-"]`);

describe('New… → diffusers UNet2DModel', () => {
  it('block-type selects per level, Import config.json (good and bad files), Create', async () => {
    const blocks = () => page.locator('.react-flow__node').count();
    await page.click(tid('templates'));
    await page.getByRole('button', { name: 'diffusers UNet2DModel' }).click();
    // google/ddpm-cifar10-32 (the defaults): four levels.
    expect(await selects('down_block_types').evaluateAll((els) => els.map((e) => (e as HTMLSelectElement).value))).toEqual(['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D']);
    await page.fill(tid('tpl-block_out_channels'), '32, 64');
    await expect.poll(() => selects('up_block_types').count()).toBe(2);
    await page.selectOption(tid('tpl-down_block_types-0'), 'ResnetDownsampleBlock2D');

    // A config.json that is not JSON, then one with an unsupported value: the error names the problem.
    const file = tid('tpl-import-config-file');
    await page.setInputFiles(file, { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from('{"block_out_channels": [') });
    await expect.poll(() => page.locator('.form-error').textContent()).toMatch(/^config\.json is not JSON: /);
    await page.setInputFiles(file, { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ time_embedding_type: 'fourier' })) });
    await expect.poll(() => page.locator('.form-error').textContent()).toContain('time_embedding_type: "fourier" is not supported');
    expect(await page.inputValue(tid('tpl-block_out_channels'))).toBe('32, 64'); // the form is untouched

    // The Hub's file as save_config writes it (df-learned: learned time embedding, mish, center_input_sample).
    const c = JSON.parse(readFileSync(`${REFERENCE}diffusers/df-learned.json`, 'utf8')) as { config: Record<string, unknown>; config_json: string };
    await page.setInputFiles(file, { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from(c.config_json) });
    await expect.poll(() => page.inputValue(tid('tpl-block_out_channels'))).toBe('16, 32');
    expect(await page.locator('.form-error').count()).toBe(0);
    expect(await page.inputValue(tid('tpl-time_embedding_type'))).toBe('learned');
    expect(await page.inputValue(tid('tpl-act_fn'))).toBe('mish');
    expect(await page.isChecked(tid('tpl-center_input_sample'))).toBe(true);
    expect(await selects('down_block_types').evaluateAll((els) => els.map((e) => (e as HTMLSelectElement).value))).toEqual(['ResnetDownsampleBlock2D', 'AttnDownBlock2D']);

    await page.click(tid('tpl-create'));
    const want = diffusersUNet2D(c.config);
    await expect.poll(() => page.locator(tid('templates-dialog')).count()).toBe(0);
    // Every block is in the document; the canvas draws them with the levels collapsed (as New… opens a template).
    await expect.poll(async () => Number(await page.locator(tid('summary-blocks')).textContent())).toBe(want.nodes.length);
    const items = canvasItems(want, defaultCollapsed(want));
    expect(items.collapsed.length).toBeGreaterThan(0);
    await expect.poll(blocks).toBe(want.nodes.filter((n) => !items.hiddenIn.has(n.id)).length + items.collapsed.length);
    const names = await page.locator('.react-flow__node').allTextContents();
    expect(names.some((t) => t.includes('center_input_sample'))).toBe(true);
  }, TIMEOUT);
});
