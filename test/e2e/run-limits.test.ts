/**
 * The run panel's limits in Chromium: seed 0 repeats bit for bit (weights and noise), and the
 * guided-diffusion 512×512 preset's Run shows the estimate and refuses or asks, with the page
 * answering within a second throughout (no 35 s freeze making 559M random weights).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { serializeDocument } from '../../graph/document';
import { vanilla } from '../../graph/templates';
import { fixtureConfig } from '../util';
import { tid, useAppPage, watchPage } from './harness';

const TIMEOUT = 120_000;
// No WebGPU flags: WebGL starts, and the test switches to WASM (the fastest here).
const app = useAppPage({ webgpu: false, viewport: { width: 1600, height: 1000 }, timeout: TIMEOUT });
let page: Page;
let url = '';

beforeAll(() => {
  page = app.page;
  url = app.url;
});

/** Clicks Run and returns the output's fingerprint (the panel clears it when a run starts). */
async function runOnce(): Promise<string> {
  await expect.poll(() => page.locator(tid('run')).isEnabled(), { timeout: 60_000 }).toBe(true);
  await page.locator(tid('run')).click();
  await expect.poll(() => page.locator(tid('out-checksum')).count(), { timeout: 60_000 }).toBe(1);
  return (await page.locator(tid('out-checksum')).textContent()) ?? '';
}

describe('run limits (browser)', { timeout: TIMEOUT }, () => {
  it('seed 0 gives the same output twice, bit for bit (random weights and noise); seed 1 another', async () => {
    // milesial's UNet: random weights give a non-zero output (an iDDPM's last conv starts at zero).
    const c = fixtureConfig('vanilla-small');
    const json = serializeDocument({ ...vanilla(c.kwargs, c.imageSize), name: 'vanilla-small' });
    await page.goto(url);
    await page.waitForSelector('.react-flow__node', { timeout: 60_000 });
    await page.locator(tid('file-input')).setInputFiles({ name: 'vanilla-small.json', mimeType: 'application/json', buffer: Buffer.from(json) });
    await page.locator(tid('toggle-run')).click();
    await page.waitForFunction(() => (document.querySelector('[data-testid="backend"]')?.textContent ?? 'starting…') !== 'starting…', null, { timeout: 60_000 });
    await page.locator(tid('backend-select')).selectOption('wasm');
    await expect.poll(() => page.locator(tid('backend')).textContent(), { timeout: 30_000 }).toMatch(/^wasm/);
    await expect.poll(() => page.locator(tid('runtime-panel')).textContent(), { timeout: 90_000 }).toContain('module VanillaSmall');
    expect(await page.locator(tid('seed')).inputValue()).toBe('0');

    const a = await runOnce();
    expect(a).toMatch(/^[0-9a-f]{8}·2048$/); // 1 × 2 × 32 × 32 values
    expect(await page.locator(tid('out-stats')).textContent()).not.toMatch(/std 0\.0$/); // not a zero output
    // New weights from seed 0 and new noise from seed 0: the same bits.
    await page.locator(tid('random-init')).click();
    expect(await runOnce()).toBe(a);
    await page.locator(tid('seed')).fill('1');
    await page.locator(tid('random-init')).click();
    const b = await runOnce();
    expect(b).not.toBe(a);
    await page.locator(tid('seed')).fill('0');
    await page.locator(tid('random-init')).click();
    expect(await runOnce()).toBe(a);
  });

  it('the guided-diffusion 512×512 preset: the estimate is shown, Run refuses or asks, and the page answers within 1 s throughout', async () => {
    // Round trips to the page on a loop while the module is generated and loaded, the estimate made and Run clicked.
    let worst = Infinity;
    let watch = watchPage(page);
    try {
      await page.locator(tid('templates')).click();
      await page.locator(tid('tpl-preset')).selectOption('guided-diffusion/512x512_diffusion');
      await page.locator(tid('tpl-create')).click();
      // Drawing the new 97-block canvas is the editor's work (React in development mode here: about 3 s
      // on this machine, with the run panel closed too); the run panel's part starts now.
      console.log(`creating the template: the page answered within ${await watch.stop()} ms`);
      watch = watchPage(page);
      const estimate = page.locator(tid('estimate'));
      await expect.poll(() => estimate.textContent(), { timeout: 60_000 }).toMatch(/^558,997,638 parameters · weights 2\.08 GiB · peak activations 4\.\d+ GiB · 3964\.67 GFLOP · about .+ on wasm$/);
      // WASM's heap (4 GiB) cannot hold 2.08 GiB of weights and 4.4 GiB of activations: said before any click.
      await expect.poll(() => page.locator(tid('estimate-problems')).textContent(), { timeout: 30_000 }).toMatch(/more than wasm can hold here \(4\.00 GiB\)/);
      await expect.poll(() => page.locator(tid('run')).isEnabled(), { timeout: 90_000 }).toBe(true);
      const tensors = Number(await page.locator(tid('num-tensors')).textContent());
      await page.locator(tid('run')).click();
      const refused = page.locator(tid('run-refused'));
      const asked = page.locator(tid('run-confirm'));
      await expect.poll(async () => (await refused.count()) + (await asked.count()), { timeout: 30_000 }).toBe(1);
      if ((await refused.count()) === 1) expect(await refused.textContent()).toMatch(/^Not started: .*weights \(2\.08 GiB\) and activations/);
      else await page.locator(tid('confirm-cancel')).click();
      // Nothing was made: no weights, no progress bar, no tensors.
      expect(await page.locator(tid('prepare')).count()).toBe(0);
      await new Promise((r) => setTimeout(r, 1000));
      expect(Number(await page.locator(tid('num-tensors')).textContent())).toBeLessThanOrEqual(tensors);
      expect(await page.locator(tid('prepare')).count()).toBe(0);
    } finally {
      worst = await watch.stop();
    }
    console.log(`the page answered within ${worst} ms`);
    expect(worst).toBeLessThan(1000);
  });
  it('a 121M-parameter model: its weights are made in slices with progress (the page answers within 1 s), Cancel frees them; on CPU, Run asks first', async () => {
    await page.locator(tid('templates')).click();
    await page.locator(tid('tpl-preset')).selectOption('improved-diffusion/imagenet64_uncond_100M_1500K');
    await page.locator(tid('tpl-create')).click();
    await expect.poll(() => page.locator(tid('estimate')).textContent(), { timeout: 60_000 }).toMatch(/^121,063,942 parameters · weights 462 MiB · .* on wasm$/);
    await expect.poll(() => page.locator(tid('run')).isEnabled(), { timeout: 90_000 }).toBe(true);
    const tensors = Number(await page.locator(tid('num-tensors')).textContent());
    let worst = 0;
    let watch = watchPage(page);
    try {
      await page.locator(tid('run')).click();
      const bar = page.locator(tid('prepare-progress'));
      // About 6–9 s on WASM at the rate measured here: on a busy machine it can cross 10 s and ask first.
      await expect.poll(async () => (await bar.count()) + (await page.locator(tid('run-confirm')).count()), { timeout: 30_000 }).toBe(1);
      if ((await bar.count()) === 0) await page.locator(tid('confirm-run')).click();
      await expect.poll(() => bar.count(), { timeout: 30_000 }).toBe(1);
      // It advances while the page keeps answering.
      await expect.poll(async () => Number(await bar.getAttribute('value')) / Number(await bar.getAttribute('max')), { timeout: 30_000 }).toBeGreaterThan(0.05);
      await page.locator(tid('cancel-prepare')).click();
      await expect.poll(() => page.locator(tid('runtime-error')).textContent(), { timeout: 10_000 }).toContain('making the weights was cancelled');
      expect(await page.locator(tid('failure-advice')).textContent()).toBe('Cancelled: nothing else to do.');
      expect(await page.locator('[data-testid^="try-backend-"]').count()).toBe(0);
      expect(await page.locator(tid('prepare')).count()).toBe(0);
      await expect.poll(async () => Number(await page.locator(tid('num-tensors')).textContent()), { timeout: 10_000 }).toBeLessThanOrEqual(tensors);

      worst = Math.max(worst, await watch.stop());

      // Switching to CPU times runtime/rate's probe conv on tfjs-cpu, synchronously (0.1–0.9 s a call on this
      // shared machine): logged, not part of this check.
      const switching = watchPage(page);
      await page.locator(tid('backend-select')).selectOption('cpu');
      await expect.poll(() => page.locator(tid('estimate')).textContent(), { timeout: 30_000 }).toMatch(/ on cpu$/);
      console.log(`switching to cpu: the page answered within ${await switching.stop()} ms`);
      watch = watchPage(page);

      // On the CPU backend the same model is slow: Run asks first; Cancel starts nothing, Start makes the weights.
      await page.locator(tid('run')).click();
      const ask = page.locator(tid('run-confirm'));
      await expect.poll(() => ask.textContent(), { timeout: 30_000 }).toMatch(/^Run is expected to take about [\d.]+ (s|min|h) on cpu\. Start it anyway\?/);
      await page.locator(tid('confirm-cancel')).click();
      expect(await page.locator(tid('prepare')).count()).toBe(0);
      await page.locator(tid('run')).click();
      await page.locator(tid('confirm-run')).click();
      await expect.poll(() => page.locator(tid('prepare-progress')).count(), { timeout: 30_000 }).toBe(1);
      await page.locator(tid('cancel-prepare')).click();
      await expect.poll(() => page.locator(tid('prepare')).count(), { timeout: 10_000 }).toBe(0);
    } finally {
      worst = Math.max(worst, await watch.stop());
    }
    console.log(`the page answered within ${worst} ms`);
    expect(worst).toBeLessThan(1000);
  });
});
