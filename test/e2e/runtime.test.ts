/**
 * The runtime panel in Chromium: the generated module runs in the page on WebGPU (SwiftShader with
 * --enable-unsafe-webgpu) or falls back with a visible notice without it, and reproduces the
 * iddpm-small fixture; a bad .safetensors gives the mismatch report; 100 runs leave the tensor
 * count flat.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { ViteDevServer } from 'vite';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot, startApp, tid } from './harness';
import { serializeDocument } from '../../graph/document';
import { iddpm } from '../../graph/templates';
import { parseSafetensors, toFloat32 } from '../../weights/safetensors';
import { closeness, FIXTURES, fixtureConfig } from '../util';

const TIMEOUT = 180_000;

let server: ViteDevServer;
let url = '';
const browsers: Browser[] = [];
let current: Page | null = null;

beforeAll(async () => {
  ({ server, url } = await startApp());
}, TIMEOUT);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') await screenshot(current, ctx.task.name);
});

afterAll(async () => {
  for (const b of browsers) await b.close();
  await server?.close();
});

const graphJson = () => {
  const c = fixtureConfig('iddpm-small');
  return serializeDocument({ ...iddpm(c.kwargs, c.imageSize), name: 'iddpm-small' });
};

/** Opens the app with the iddpm-small graph and the run panel. */
async function openPanel(webgpu: boolean): Promise<Page> {
  const browser = await launchChromium({ webgpu });
  browsers.push(browser);
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
  current = page;
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('.react-flow__node', { timeout: 60_000 });
  await page.locator(tid('file-input')).setInputFiles({ name: 'iddpm-small.json', mimeType: 'application/json', buffer: Buffer.from(graphJson()) });
  await page.locator(tid('toggle-run')).click();
  await page.waitForFunction(() => (document.querySelector('[data-testid="backend"]')?.textContent ?? 'starting…') !== 'starting…', null, { timeout: 60_000 });
  return page;
}

async function loadFixtureAndRun(page: Page): Promise<void> {
  // The panel's module comes from the code worker (ts-morph loads on its first request).
  await expect.poll(() => page.locator(tid('runtime-panel')).textContent(), { timeout: 90_000 }).toContain('module IddpmSmall');
  await page.locator(tid('weights-input')).setInputFiles(`${FIXTURES}iddpm-small/weights.safetensors`);
  await expect.poll(() => page.locator(tid('weights-label')).textContent(), { timeout: 30_000 }).toBe('weights.safetensors');
  await page.locator(tid('inputs-input')).setInputFiles(`${FIXTURES}iddpm-small/io.safetensors`);
  await expect.poll(() => page.locator(tid('inputs-label')).count()).toBe(1);
  await expect.poll(() => page.locator(tid('run')).isEnabled(), { timeout: 60_000 }).toBe(true);
  await page.locator(tid('run')).click();
  // The first run compiles every shader (seconds on SwiftShader).
  await expect.poll(() => page.locator(tid('first-ms')).textContent(), { timeout: 120_000 }).toMatch(/\d+ ms/);
}

async function downloadedOut(page: Page): Promise<{ got: Float32Array; ref: Float32Array }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator(tid('download-out')).click()]);
  const bytes = readFileSync(await download.path());
  const got = parseSafetensors(new Uint8Array(bytes)).tensors.get('out')!;
  const ref = parseSafetensors(new Uint8Array(readFileSync(`${FIXTURES}iddpm-small/io.safetensors`))).tensors.get('out')!;
  expect(got.shape).toEqual(ref.shape);
  return { got: toFloat32(got), ref: toFloat32(ref) };
}

describe('runtime panel (browser)', { timeout: TIMEOUT }, () => {
  it('picks WebGPU when the browser gives an adapter, and matches the fixture within 1e-3', async () => {
    const page = await openPanel(true);
    const notice = (await page.locator(tid('backend-notice')).count()) > 0 ? await page.locator(tid('backend-notice')).textContent() : '';
    expect(await page.locator(tid('backend')).textContent(), notice ?? '').toBe('webgpu');
    expect(notice).toBe('');
    await loadFixtureAndRun(page);
    const { got, ref } = await downloadedOut(page);
    const c = closeness(got, ref, 1e-3, 0);
    expect(c.ok, `worst at ${c.at}: maxAbs ${c.maxAbs}`).toBe(true);
  });

  it('→ diffusers names converts the graph and the loaded weights: same output; Undo returns', async () => {
    const page = current!;
    await page.locator(tid('convert-names')).click();
    await expect.poll(() => page.locator('.react-flow__node', { hasText: 'down_blocks.1.attentions.0' }).count()).toBe(1);
    expect(await page.locator(tid('convert-names')).textContent()).toBe('→ OpenAI names');
    await expect.poll(() => page.locator(tid('weights-label')).textContent(), { timeout: 30_000 }).toBe('weights (diffusers names).safetensors');
    await expect.poll(() => page.locator(tid('mismatch')).count(), { timeout: 90_000 }).toBe(0);
    await expect.poll(() => page.locator(tid('run')).isEnabled(), { timeout: 90_000 }).toBe(true);
    const runs = Number(await page.locator(tid('run-count')).textContent());
    await page.locator(tid('run')).click();
    await expect.poll(async () => Number(await page.locator(tid('run-count')).textContent()), { timeout: 120_000 }).toBe(runs + 1);
    const { got, ref } = await downloadedOut(page);
    const c = closeness(got, ref, 1e-3, 0);
    expect(c.ok, `worst at ${c.at}: maxAbs ${c.maxAbs}`).toBe(true);
    // Undo: the OpenAI graph again, and with its module the file it had (the converted one no longer fits).
    await page.locator(tid('undo')).click();
    await expect.poll(() => page.locator('.react-flow__node', { hasText: 'input_blocks.3.1' }).count()).toBe(1);
    await expect.poll(() => page.locator(tid('weights-label')).textContent(), { timeout: 90_000 }).toBe('weights.safetensors');
    expect(await page.locator(tid('mismatch')).count()).toBe(0);
  });

  it('a bad .safetensors gives the mismatch report and the app keeps working', async () => {
    const page = current!;
    await page.locator(tid('weights-input')).setInputFiles(`${FIXTURES}vanilla-small/weights.safetensors`);
    const report = page.locator(tid('mismatch'));
    await expect.poll(() => report.count()).toBe(1);
    const text = (await report.textContent()) ?? '';
    expect(text).toContain('weights.safetensors does not match the graph');
    expect(text).toMatch(/missing keys \(128\)[\s\S]*time_embed\.0\.weight/);
    expect(text).toMatch(/unexpected keys \(92\)[\s\S]*inc\.double_conv\.0\.weight/);
    await page.locator(tid('run')).click();
    await expect.poll(() => page.locator(tid('out-stats')).textContent(), { timeout: 30_000 }).toMatch(/std 0(\.0+)?\b/); // random init: a fresh UNet outputs zeros
    expect(await page.locator(tid('summary-status')).textContent()).toBe('valid');
  });

  it('without WebGPU it falls back with a visible notice and still matches', async () => {
    const page = await openPanel(false);
    expect(await page.locator(tid('backend-notice')).textContent()).toMatch(/no WebGPU.*: using WebGL/);
    expect(await page.locator(tid('backend')).textContent()).toBe('webgl');
    await loadFixtureAndRun(page);
    const { got, ref } = await downloadedOut(page);
    const c = closeness(got, ref, 1e-3, 0);
    expect(c.ok, `worst at ${c.at}: maxAbs ${c.maxAbs}`).toBe(true);
  });

  it('25 runs on WASM leave the tensor count flat', async () => {
    const page = current!;
    await page.locator(tid('backend-select')).selectOption('wasm');
    await expect.poll(() => page.locator(tid('backend')).textContent(), { timeout: 30_000 }).toMatch(/^wasm/);
    const runs = async () => Number(await page.locator(tid('run-count')).textContent());
    const run = async () => {
      const n = await runs();
      await page.locator(tid('run')).click();
      await expect.poll(runs).toBe(n + 1);
      await expect.poll(() => page.locator(tid('run')).isEnabled()).toBe(true);
    };
    for (let i = 0; i < 3; i++) await run();
    const tensors = Number(await page.locator(tid('num-tensors')).textContent());
    const before = await runs();
    // The count is compared exactly, so a leak of even one tensor per run shows; 25 runs are as
    // telling as 100 were, at a quarter of the suite's time.
    for (let i = 0; i < 25; i++) await run();
    // Each click ran the model once (not a no-op), and the tensor count is where it was.
    expect(await runs()).toBe(before + 25);
    expect(Number(await page.locator(tid('num-tensors')).textContent())).toBe(tensors);
    expect(await page.locator(tid('steady-ms')).textContent()).toMatch(/\d+(\.\d)? ms/);
  });
});
