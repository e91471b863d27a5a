/**
 * Text-conditioned UNets in Chromium, end to end: New… → latent-diffusion UNetModel from an imported
 * kwargs file (a small SpatialTransformer UNet: 4 latent channels, 8×8, context width 32) draws its
 * levels; the run panel runs a forward on WASM with random weights, takes an inputs `.safetensors`
 * with a context, and samples with DDIM (3 steps, guidance 3): the 4 latent channels appear as grey
 * pictures and the panel says the unconditional context is zeros. Then Stable Diffusion 1.5's UNet
 * from the diffusers preset (UNet2DConditionModel form): its block and parameter counts, not run.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { diffusersUNet2DCondition, ldm, SD15_UNET } from '../../graph/templates';
import { defaultCollapsed } from '../../graph/groups';
import { writeSafetensors } from '../../weights/safetensors';
import { REFERENCE } from '../util';
import { tid, useAppPage, watchPage } from './harness';

const TIMEOUT = 120_000;

// No WebGPU flags: WebGL starts, and the test switches to WASM (the fastest here).
const app = useAppPage({ webgpu: false, viewport: { width: 1600, height: 1000 }, timeout: TIMEOUT });
let page: Page;

beforeAll(async () => {
  page = app.page;
  await page.goto(app.url);
  await page.locator(tid('summary')).waitFor();
}, TIMEOUT);

/** latent-diffusion UNetModel kwargs: two levels (32, 64 channels), a SpatialTransformer (2 heads) at the second, context width 32. */
const SMALL = {
  in_channels: 4, out_channels: 4, model_channels: 32, channel_mult: [1, 2], num_res_blocks: 1, attention_resolutions: [2],
  num_heads: 2, use_spatial_transformer: true, context_dim: 32, legacy: false,
};
const SIZE = 8;

describe('text conditioning (browser)', { timeout: TIMEOUT }, () => {
  it('New… → ldm from a kwargs file, Run on WASM, DDIM with guidance 3: four grey latent channels, zeros as the unconditional context', async () => {
    await page.click(tid('templates'));
    await page.getByRole('button', { name: 'latent-diffusion UNetModel' }).click();
    // Its presets are offered; the kwargs come from a file as the CLI takes it ({kwargs, image_size}).
    expect(await page.locator(`${tid('tpl-preset')} option`).allTextContents()).toEqual(expect.arrayContaining(['sd1', 'sd2']));
    await page.setInputFiles(tid('tpl-import-config-file'), { name: 'small.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ kwargs: SMALL, image_size: SIZE })) });
    await expect.poll(() => page.inputValue(tid('tpl-model_channels'))).toBe('32');
    expect(await page.inputValue(tid('tpl-context_dim'))).toBe('32');
    expect(await page.inputValue(tid('tpl-image_size'))).toBe('8');
    expect(await page.isChecked(tid('tpl-use_spatial_transformer'))).toBe(true);
    await page.click(tid('tpl-create'));
    await expect.poll(() => page.locator(tid('templates-dialog')).count()).toBe(0);

    const want = ldm(SMALL, SIZE);
    await expect.poll(async () => Number(await page.locator(tid('summary-blocks')).textContent())).toBe(want.nodes.length);
    expect(await page.locator(tid('summary-status')).textContent()).toBe('valid');
    // The canvas shows its levels, collapsed (encoder.0, encoder.1, middle_block, decoder.1, decoder.0, out).
    const levels = (want.groups ?? []).filter((g) => defaultCollapsed(want).includes(g.id)).map((g) => g.name);
    expect(levels).toEqual(expect.arrayContaining(['encoder.0', 'encoder.1', 'middle_block', 'decoder.0', 'decoder.1']));
    for (const name of levels) await expect.poll(() => page.locator(tid(`group-${name}`)).count(), { message: name }).toBe(1);
    await expect.poll(() => page.locator('.react-flow__node', { hasText: 'context' }).count()).toBeGreaterThan(0);

    // The run panel on WASM, random weights: a forward.
    await page.locator(tid('toggle-run')).click();
    await page.waitForFunction(() => (document.querySelector('[data-testid="backend"]')?.textContent ?? 'starting…') !== 'starting…', null, { timeout: 60_000 });
    await page.locator(tid('backend-select')).selectOption('wasm');
    await expect.poll(() => page.locator(tid('backend')).textContent(), { timeout: 30_000 }).toMatch(/^wasm/);
    expect(await page.locator(tid('weights-label')).textContent()).toBe('random (seed 0)');
    await expect.poll(() => page.locator(tid('run')).isEnabled(), { timeout: 90_000 }).toBe(true);
    await page.locator(tid('run')).click();
    await expect.poll(() => page.locator(tid('out-checksum')).count(), { timeout: 60_000 }).toBe(1);
    const forward = (await page.locator(tid('out-checksum')).textContent()) ?? '';
    expect(forward).toMatch(/^[0-9a-f]{8}·256$/); // 1 × 4 × 8 × 8 values
    expect(await page.locator(tid('runtime-error')).count()).toBe(0);

    // An inputs file with diffusers' name for the context: sampling is conditioned on it too.
    const n = (k: number) => Array.from({ length: k }, (_, i) => Math.sin(i));
    const io = writeSafetensors({ x: { dtype: 'F32', shape: [1, 4, SIZE, SIZE], data: n(4 * SIZE * SIZE) }, encoder_hidden_states: { dtype: 'F32', shape: [1, 77, 32], data: n(77 * 32) } });
    await page.locator(tid('inputs-input')).setInputFiles({ name: 'io.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(io) });
    await expect.poll(() => page.locator(tid('inputs-label')).count()).toBe(1);
    await expect.poll(() => page.locator(tid('cond-note-context')).textContent()).toBe('Conditional context: from io.safetensors.');

    // DDIM, 3 steps, guidance 3.
    await page.locator(tid('sampler')).selectOption('ddim');
    await page.locator(tid('sample-steps')).fill('3');
    await page.locator(tid('guidance')).fill('3');
    await expect.poll(() => page.locator(tid('uncond-note-context')).textContent()).toBe('Unconditional context: zeros (no unconditional file given).');
    await page.locator(tid('sample')).click();
    await expect.poll(async () => (await page.locator(tid('out-checksum')).textContent()) ?? '', { timeout: 60_000 }).not.toBe(forward);
    await expect.poll(() => page.locator(tid('sample')).isEnabled(), { timeout: 60_000 }).toBe(true);
    expect(await page.locator(tid('runtime-error')).count()).toBe(0);
    expect(await page.locator(tid('out-checksum')).textContent()).toMatch(/^[0-9a-f]{8}·256$/);
    // The latent's 4 channels, each an 8×8 grey picture; no RGB picture.
    const panel = page.locator(tid('runtime-panel'));
    expect(await panel.textContent()).toContain('latent channels (no VAE: each channel in grey, scaled to its range)');
    expect(await page.locator(tid('output-image')).isHidden()).toBe(true);
    const grid = panel.locator('.channel-grid').last();
    await expect.poll(() => grid.locator('figure').count()).toBe(4);
    const pictures = await grid.locator('canvas').evaluateAll((cs) =>
      (cs as HTMLCanvasElement[]).map((c) => {
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let grey = true;
        for (let p = 0; p < d.length; p += 4) grey &&= d[p] === d[p + 1] && d[p] === d[p + 2];
        return { w: c.width, h: c.height, grey };
      }),
    );
    expect(pictures).toEqual(Array.from({ length: 4 }, () => ({ w: SIZE, h: SIZE, grey: true })));
  });

  it('New… → diffusers preset sd15 (UNet2DConditionModel): 859,520,964 parameters and its blocks, built without running; the page keeps answering', async () => {
    const real = (JSON.parse(readFileSync(`${REFERENCE}diffusers/cond-sd15-keys.json`, 'utf8')) as { num_parameters: number }).num_parameters;
    expect(real).toBe(859_520_964);
    await page.click(tid('templates'));
    await page.getByRole('button', { name: 'diffusers UNet2DModel' }).click();
    expect(await page.inputValue(tid('tpl-class'))).toBe('UNet2DModel');
    await page.selectOption(tid('tpl-preset'), 'sd15');
    // The form follows _class_name: UNet2DConditionModel's keys, cross_attention_dim 768 from the preset.
    await expect.poll(() => page.inputValue(tid('tpl-class'))).toBe('UNet2DConditionModel');
    expect(await page.inputValue(tid('tpl-cross_attention_dim'))).toBe('768');
    expect(await page.locator(`select[data-testid^="tpl-down_block_types-"]`).evaluateAll((els) => els.map((e) => (e as HTMLSelectElement).value))).toEqual(SD15_UNET.down_block_types);
    // Creating it: the editor draws the new canvas (React in development mode here), logged; from
    // then on (the run panel's module and estimate for 860M parameters) the page answers within 1 s.
    let watch = watchPage(page);
    let worst = Infinity;
    const want = diffusersUNet2DCondition(SD15_UNET, 64);
    try {
      await page.click(tid('tpl-create'));
      await expect.poll(() => page.locator(tid('templates-dialog')).count()).toBe(0);
      await expect.poll(async () => Number(await page.locator(tid('summary-blocks')).textContent()), { timeout: 30_000 }).toBe(want.nodes.length);
      console.log(`creating sd15: the page answered within ${await watch.stop()} ms`);
      watch = watchPage(page);
      await expect.poll(() => page.locator(tid('summary-params')).textContent(), { timeout: 30_000 }).toBe(new Intl.NumberFormat('en-US').format(real));
      expect(await page.locator(tid('summary-status')).textContent()).toBe('valid');
      await expect.poll(() => page.locator(tid('group-down_blocks.0')).count()).toBe(1);
      // The run panel's estimate names the same count; nothing is made (no Run).
      await expect.poll(() => page.locator(tid('estimate')).textContent(), { timeout: 30_000 }).toMatch(/^859,520,964 parameters · weights 3\.20 GiB/);
      expect(await page.locator(tid('prepare')).count()).toBe(0);
    } finally {
      worst = await watch.stop();
    }
    console.log(`sd15 in the run panel: the page answered within ${worst} ms`);
    expect(worst).toBeLessThan(1000);
  });
});
