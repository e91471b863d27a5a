/**
 * The New… dialog builds graphs through the same bounded schemas as the CLI: a kwarg past its limit
 * shows the schema's message (naming the key and the limit) in the dialog, and the open graph stays.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { tid, useAppPage } from './harness';

const TIMEOUT = 120_000;

const app = useAppPage({ webgpu: false, timeout: TIMEOUT });
let page: Page;

beforeAll(async () => {
  page = app.page;
  await page.goto(app.url);
  await page.locator(tid('summary')).waitFor();
}, TIMEOUT);

describe('New… with kwargs past their limits', () => {
  it('shows the limit in the dialog and keeps the open graph', async () => {
    const blocks = () => page.locator('.react-flow__node').count();
    await expect.poll(blocks).toBeGreaterThan(0);
    const before = await blocks();
    await page.click(tid('templates'));
    const cases: [string, string, string][] = [
      ['num_res_blocks', '1000000', 'num_res_blocks: must be at most 32'],
      ['model_channels', '1000000000', 'model_channels: must be at most 16384'],
      ['channel_mult', Array.from({ length: 40 }, () => '1').join(', '), 'channel_mult: must have at most 16 entries'],
      ['image_size', '99999', 'UNetModel: image height must be a whole number from 1 to 4096, got 99999'],
    ];
    for (const [key, value, message] of cases) {
      await page.selectOption(tid('tpl-preset'), '');
      await page.fill(tid(`tpl-${key}`), value);
      await page.click(tid('tpl-create'));
      await expect.poll(() => page.locator('.form-error').textContent()).toContain(message);
      expect(await page.locator(tid('templates-dialog')).isVisible()).toBe(true);
    }
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await blocks()).toBe(before);
  }, TIMEOUT);
});
