/**
 * New… → Trained models → Digits (trained) in Chromium: the graph opens on the canvas, the run
 * panel opens with the model's weights named and its sampling settings, and Sample draws an image.
 */
import { describe, expect, it } from 'vitest';
import { tid, useAppPage } from './harness';

const TIMEOUT = 240_000;

describe('Digits (trained) preset (browser)', { timeout: TIMEOUT }, () => {
  const app = useAppPage({ webgpu: false });

  it('opens the graph with its weights; Sample draws an image', async () => {
    const { page } = app;
    await page.goto(app.url);
    await page.waitForSelector('.react-flow__node', { timeout: 60_000 });

    await page.click(tid('templates'));
    await page.click(tid('tab-trained'));
    expect(await page.locator(tid('trained-digits')).isChecked()).toBe(true);
    await page.click(tid('tpl-create'));
    await expect.poll(() => page.locator(tid('templates-dialog')).count(), { timeout: 30_000 }).toBe(0);

    // The canvas shows the model's graph: 29 blocks, 756,289 parameters, valid.
    expect(await page.locator('.doc-name').textContent()).toBe('iddpm-32ch-16x16');
    await expect.poll(() => page.locator('.react-flow__node').count()).toBe(29);
    expect(await page.locator(tid('summary-params')).textContent()).toBe('756,289');
    expect(await page.locator(tid('summary-status')).textContent()).toBe('valid');
    // Undoable like any New…
    expect(await page.locator(tid('undo')).isEnabled()).toBe(true);

    // The run panel opened with the trained weights and the model's sampling settings.
    const panel = page.locator(tid('runtime-panel'));
    await panel.waitFor({ timeout: 60_000 });
    await page.locator(tid('backend-select')).selectOption('wasm');
    await expect.poll(() => page.locator(tid('backend')).textContent(), { timeout: 60_000 }).toMatch(/^wasm/);
    await expect.poll(() => panel.textContent(), { timeout: 120_000 }).toContain('module ');
    await expect.poll(() => page.locator(tid('weights-label')).textContent(), { timeout: 30_000 }).toBe('digits (trained)');
    expect(await page.locator(tid('mismatch')).count()).toBe(0);
    expect(await page.locator(tid('weights-note')).textContent()).toContain('not its weights');
    expect(await page.locator(tid('sample-steps')).inputValue()).toBe('100');
    expect(await page.locator(tid('train-steps')).textContent()).toBe('of 1000');
    expect(await page.locator(tid('label')).inputValue()).toBe('3');

    // Sample, 3 steps: the output canvas gets a 16×16 picture that is not blank.
    await page.locator(tid('sample-steps')).fill('3');
    await expect.poll(() => page.locator(tid('sample')).isEnabled(), { timeout: 60_000 }).toBe(true);
    await page.click(tid('sample'));
    await expect.poll(() => page.locator(tid('out-checksum')).count(), { timeout: 120_000 }).toBe(1);
    expect(await page.locator(tid('runtime-error')).count()).toBe(0);
    const drawn = await page.locator(tid('output-image')).evaluate((el) => {
      const cv = el as HTMLCanvasElement;
      const px = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      const grey = new Set<number>();
      for (let i = 0; i < px.length; i += 4) grey.add(px[i]);
      return { width: cv.width, height: cv.height, levels: grey.size, alpha: px[3] };
    });
    expect(drawn).toMatchObject({ width: 16, height: 16, alpha: 255 });
    expect(drawn.levels).toBeGreaterThan(1);
  });
});
