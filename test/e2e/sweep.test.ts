/**
 * New… → Sweep… in Chromium: two kwargs over listed values preview 4 named variants, a bad value and
 * the cap are refused by name, a combination that cannot be built is named, and Create hands over
 * the variants (until the workspace's tabs are wired, the first one opens). Then Curves: attaching a
 * metrics.jsonl to the document draws its loss curve with uPlot, with the parameters and images/s
 * beside it, and closing the panel removes the chart.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { iddpm, IDDPM_DEFAULTS } from '../../graph/templates';
import { analyze, countParameters } from '../../graph/analyze';
import { tid, useAppPage } from './harness';

const TIMEOUT = 120_000;

const app = useAppPage({ webgpu: false, timeout: TIMEOUT });
let page: Page;

beforeAll(async () => {
  page = app.page;
  await page.goto(app.url);
  await page.locator(tid('summary')).waitFor();
}, TIMEOUT);

const fmt = new Intl.NumberFormat('en-US');
const names = () => page.locator(`${tid('sweep-preview')} li`).allTextContents();
const sweepError = () => page.locator(tid('sweep-error')).textContent();

describe('sweeps and training curves', () => {
  it('Sweep…: preview, refusals, Create 4 variants', async () => {
    await page.click(tid('templates'));
    await page.click(tid('tpl-sweep'));
    await page.selectOption(tid('sweep-key-0'), 'model_channels');
    expect(await page.inputValue(tid('sweep-values-0'))).toBe('64'); // starts from the form's value
    await page.fill(tid('sweep-values-0'), '32, 64');
    await page.selectOption(tid('sweep-key-1'), 'attention_resolutions');
    await page.fill(tid('sweep-values-1'), '[2]; [2, 4]');
    await expect.poll(names).toEqual(['iddpm mc=32 attn=[2]', 'iddpm mc=32 attn=[2,4]', 'iddpm mc=64 attn=[2]', 'iddpm mc=64 attn=[2,4]']);
    expect(await page.textContent(tid('sweep-create'))).toBe('Create 4 variants');

    await page.fill(tid('sweep-values-0'), '32, sixty-four');
    await expect.poll(sweepError).toBe('model_channels: "sixty-four" is not a number');
    expect(await page.isDisabled(tid('sweep-create'))).toBe(true);
    await page.fill(tid('sweep-values-0'), '32, 64, 96, 128, 160, 192, 224, 256, 288');
    await expect.poll(sweepError).toBe('model_channels (9 values) × attention_resolutions (2 values) make 18 variants; at most 16 at once: list fewer values');

    // 48 channels do not divide into GroupNorm's 32 groups: Create names both combinations.
    await page.fill(tid('sweep-values-0'), '48, 64');
    await page.click(tid('sweep-create'));
    await expect.poll(() => page.locator(tid('sweep-build-error')).textContent()).toBe(
      [
        '2 of 4 variants cannot be built:',
        'model_channels=48, attention_resolutions=[2]: ResBlock "input_blocks.1.0": 48 input channels are not divisible by 32 groups',
        'model_channels=48, attention_resolutions=[2,4]: ResBlock "input_blocks.1.0": 48 input channels are not divisible by 32 groups',
      ].join('\n'),
    );

    await page.fill(tid('sweep-values-0'), '32, 64');
    await page.click(tid('sweep-create'));
    await expect.poll(() => page.locator(tid('templates-dialog')).count()).toBe(0);
    const first = iddpm({ ...IDDPM_DEFAULTS, model_channels: 32, attention_resolutions: [2] }, 32);
    await expect.poll(() => page.locator(tid('summary-params')).textContent()).toBe(fmt.format(countParameters(analyze(first))));
  }, TIMEOUT);

  it('Curves: attach metrics.jsonl, one uPlot series with the parameters and images/s; closing destroys the chart', async () => {
    await page.click(tid('toggle-curves'));
    await page.locator(tid('loss-chart-empty')).waitFor();
    const lines = [
      '{"step": 10, "loss": 1.0234567891234, "lr": 0.0001, "seconds": 1.235, "images_per_second": 81.23}',
      '{"step": 20, "loss": 0.5123, "lr": 0.0001, "seconds": 2.5, "images_per_second": 79.0}',
      'not a record',
      '{"step": 30, "loss": 0.25, "lr": 0.0001, "seconds": 3.75, "images_per_second": 80.5}',
      '{"step": 40, "lo',
    ];
    await page.setInputFiles(tid('attach-metrics-file-current'), { name: 'metrics.jsonl', mimeType: 'application/json', buffer: Buffer.from(lines.join('\n')) });
    await page.locator('.uplot').waitFor();
    const row = page.locator(tid('loss-row-current'));
    expect(await row.locator(tid('loss-row-ips')).textContent()).toBe('80.5');
    expect(await row.locator(tid('loss-row-params')).textContent()).toBe(await page.locator(tid('summary-params')).textContent());
    expect(await page.textContent(tid('loss-row-problems-current'))).toBe('1 bad line');
    await page.click(tid('loss-row-problems-current'));
    expect(await page.textContent(tid('loss-chart-problems'))).toMatch(/^line 3: not JSON/);
    // The legend names the series: the document's graph name.
    const legend = await page.locator('.uplot .u-legend .u-series .u-label').allTextContents();
    expect(legend).toEqual(['step', iddpm({ ...IDDPM_DEFAULTS, model_channels: 32, attention_resolutions: [2] }, 32).name]);
    await page.click(tid('toggle-curves'));
    await expect.poll(() => page.locator('.uplot').count()).toBe(0);
  }, TIMEOUT);
});
