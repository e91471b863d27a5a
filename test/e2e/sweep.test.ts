/**
 * New… → Sweep… in Chromium: two kwargs over listed values preview 4 named variants, a bad value and
 * the cap are refused by name, a combination that cannot be built is named, and Create adds the 4
 * variants as tabs. Compare lists them; Diff of two lists the blocks added and the parameter change;
 * Copy link opens the whole workspace in a fresh page. Then Curves: metrics.jsonl files attached to
 * two variants draw their loss curves together with uPlot, with parameters and images/s beside them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { iddpm, IDDPM_DEFAULTS } from '../../graph/templates';
import { analyze, countParameters } from '../../graph/analyze';
import type { Graph } from '../../graph/model';
import { defaultDoc } from '../../editor/store';
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
const tabNames = () => page.locator(tid('variant-tab-name')).allTextContents();
const activeTab = () => page.locator(`${tid('variant-tab')}[data-active="true"] ${tid('variant-tab-name')}`).textContent();
const params = (g: Graph) => countParameters(analyze(g));
const DEFAULT_NAME = defaultDoc().graph.name;
const SWEEP_NAMES = ['iddpm mc=32 attn=[2]', 'iddpm mc=32 attn=[2,4]', 'iddpm mc=64 attn=[2]', 'iddpm mc=64 attn=[2,4]'];
const SWEEP_GRAPHS = [
  [32, [2]],
  [32, [2, 4]],
  [64, [2]],
  [64, [2, 4]],
].map(([mc, attn]) => iddpm({ ...IDDPM_DEFAULTS, model_channels: mc as number, attention_resolutions: attn as number[] }, 32));

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
    // Each variant is a tab beside the work already open; the first new one is shown.
    await expect.poll(tabNames).toEqual([DEFAULT_NAME, ...SWEEP_NAMES]);
    expect(await activeTab()).toBe(SWEEP_NAMES[0]);
    await expect.poll(() => page.locator(tid('summary-params')).textContent()).toBe(fmt.format(params(SWEEP_GRAPHS[0])));
  }, TIMEOUT);

  it('Compare: one row per tab with its parameters and output shape; Diff of two sweep variants lists the added blocks and the parameter change', async () => {
    await page.click(tid('compare'));
    const rows = page.locator('[data-testid^="compare-row-"]');
    await expect.poll(() => rows.count()).toBe(5);
    for (let i = 0; i < 4; i++) {
      const row = page.locator('[data-testid^="compare-row-"]', { hasText: SWEEP_NAMES[i] });
      expect(await row.locator('[data-col="parameters"]').innerText()).toBe(fmt.format(params(SWEEP_GRAPHS[i])));
      expect(await row.locator('[data-col="outputShape"]').innerText()).toBe('3×32×32');
    }
    // 32 channels, attention at 16×16 only → also at 8×8: the blocks added are the 8×8 level's attention.
    const [before, after] = [SWEEP_GRAPHS[0], SWEEP_GRAPHS[1]];
    const beforeNames = new Set(before.nodes.map((n) => n.name));
    const added = after.nodes.map((n) => n.name).filter((n) => !beforeNames.has(n));
    expect(added.length).toBeGreaterThan(0);
    await page.selectOption(tid('compare-diff-a'), { label: SWEEP_NAMES[0] });
    await page.selectOption(tid('compare-diff-b'), { label: SWEEP_NAMES[1] });
    await page.click(tid('compare-diff'));
    // The diff shows its "after" variant, where the colours are.
    await expect.poll(activeTab).toBe(SWEEP_NAMES[1]);
    await page.locator(tid('diff-panel')).waitFor();
    // Changed: the blocks both have whose inputs now come from other blocks (those after each added
    // attention), or whose type is another (output_blocks.2.1 was the Upsample, now an attention).
    const typeOf = (g: Graph, name: string) => g.nodes.find((n) => n.name === name)!.type;
    const inputsOf = (g: Graph, name: string) => {
      const byId = new Map(g.nodes.map((n) => [n.id, n.name]));
      const id = g.nodes.find((n) => n.name === name)!.id;
      return g.edges.filter((e) => e.to.node === id).map((e) => `${e.to.port}<-${byId.get(e.from.node)}`).sort().join(',');
    };
    const common = before.nodes.map((n) => n.name);
    const changed = common.filter((name) => typeOf(before, name) !== typeOf(after, name) || inputsOf(before, name) !== inputsOf(after, name));
    expect(changed.length).toBeGreaterThan(0);
    expect(await page.locator(tid('diff-counts')).innerText()).toBe(`${added.length} added · 0 removed · ${changed.length} changed · ${common.length - changed.length} the same`);
    const changedText = await page.locator(tid('diff-changed')).innerText();
    for (const name of changed) expect(changedText).toContain(name);
    const addedText = await page.locator(tid('diff-added')).innerText();
    for (const name of added) expect(addedText).toContain(name);
    const delta = params(after) - params(before);
    expect(delta).toBeGreaterThan(0);
    expect(await page.locator(tid('diff-total')).innerText()).toBe(`Parameters ${fmt.format(params(before))} → ${fmt.format(params(after))} (+${fmt.format(delta)})`);
    await page.click(tid('diff-close'));
  }, TIMEOUT);

  it('Copy link (whole workspace) opens in a fresh page with all five variants', async () => {
    await page.click(tid('copy-link'));
    await page.click(tid('copy-link-workspace'));
    const link = await page.locator(tid('share-link')).inputValue();
    expect(link.startsWith(`${app.url}#w=`)).toBe(true);
    const context = await app.browser.newContext({ viewport: { width: 1400, height: 860 } });
    try {
      const other = await context.newPage();
      await other.goto(link);
      await other.locator(tid('summary')).waitFor();
      // Its own (default) work first, then the link's five variants; the one shown when the link was made is shown.
      await expect.poll(() => other.locator(tid('variant-tab-name')).allTextContents()).toEqual([DEFAULT_NAME, `${DEFAULT_NAME} (2)`, ...SWEEP_NAMES]);
      expect(await other.locator(`${tid('variant-tab')}[data-active="true"] ${tid('variant-tab-name')}`).textContent()).toBe(SWEEP_NAMES[1]);
      await expect.poll(() => other.locator(tid('summary-params')).textContent()).toBe(fmt.format(params(SWEEP_GRAPHS[1])));
    } finally {
      await context.close();
    }
  }, TIMEOUT);

  it('Curves: metrics.jsonl attached to two variants, one uPlot series each, with parameters and images/s; closing destroys the chart', async () => {
    await page.click(tid('toggle-curves'));
    await page.locator(tid('loss-chart-empty')).waitFor();
    const lines = [
      '{"step": 10, "loss": 1.0234567891234, "lr": 0.0001, "seconds": 1.235, "images_per_second": 81.23}',
      '{"step": 20, "loss": 0.5123, "lr": 0.0001, "seconds": 2.5, "images_per_second": 79.0}',
      'not a record',
      '{"step": 30, "loss": 0.25, "lr": 0.0001, "seconds": 3.75, "images_per_second": 80.5}',
      '{"step": 40, "lo',
    ];
    const other = ['{"step": 10, "loss": 0.9, "lr": 0.0001, "seconds": 2.0, "images_per_second": 40.0}', '{"step": 20, "loss": 0.4, "lr": 0.0001, "seconds": 4.0, "images_per_second": 41.0}', ''];
    const row = (name: string) => page.locator('tr[data-testid^="loss-row-"]', { hasText: name });
    const attach = async (name: string, text: string) =>
      row(name).locator('input[type="file"]').setInputFiles({ name: 'metrics.jsonl', mimeType: 'application/json', buffer: Buffer.from(text) });
    await attach(SWEEP_NAMES[0], lines.join('\n'));
    await page.locator('.uplot').waitFor();
    await attach(SWEEP_NAMES[1], other.join('\n'));
    // The median of each file's images_per_second; the parameters of each variant.
    await expect.poll(() => row(SWEEP_NAMES[1]).locator(tid('loss-row-ips')).textContent()).toBe('40.5');
    expect(await row(SWEEP_NAMES[0]).locator(tid('loss-row-ips')).textContent()).toBe('80.5');
    expect(await row(SWEEP_NAMES[0]).locator(tid('loss-row-params')).textContent()).toBe(fmt.format(params(SWEEP_GRAPHS[0])));
    expect(await row(SWEEP_NAMES[1]).locator(tid('loss-row-params')).textContent()).toBe(fmt.format(params(SWEEP_GRAPHS[1])));
    const problems = row(SWEEP_NAMES[0]).locator('[data-testid^="loss-row-problems-"]');
    expect(await problems.textContent()).toBe('1 bad line');
    await problems.click();
    expect(await page.textContent(tid('loss-chart-problems'))).toMatch(/^line 3: not JSON/);
    // The legend names one series per variant with metrics, in tab order.
    await expect.poll(() => page.locator('.uplot .u-legend .u-series .u-label').allTextContents()).toEqual(['step', SWEEP_NAMES[0], SWEEP_NAMES[1]]);
    await page.click(tid('toggle-curves'));
    await expect.poll(() => page.locator('.uplot').count()).toBe(0);
  }, TIMEOUT);
});
