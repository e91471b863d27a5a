/**
 * Compare and cost overlay in Chromium (issue 15, CMP's part), on a small graph whose numbers are
 * worked out by hand in graph/compare.test.ts: x (4×8×8) → conv1 (→ 8) → silu → conv2 (→ 4) →
 * add(x, ·) → output. Parameters 296 + 292 = 588; activation peak at batch 1 7168 B (7.00 KiB).
 * The diff of two variants is in test/e2e/sweep.test.ts. The last test colours the start template,
 * whose levels open collapsed: a collapsed group shows the sum of its blocks, on one scale with the blocks.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { tid, useAppPage } from './harness';
import { GraphBuilder } from '../../graph/builder';
import { serializeDocument } from '../../graph/document';
import { defaultDoc, templateDoc } from '../../editor/store';
import { analyze } from '../../graph/analyze';
import { blockCost } from '../../graph/compare';
import { collapsedAncestor, groupSummary } from '../../graph/groups';

const TIMEOUT = 90_000;
const app = useAppPage({ webgpu: false, timeout: TIMEOUT, acceptDownloads: true });
let page: Page;

beforeAll(() => {
  page = app.page;
});

function skipGraph() {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
  const c1 = b.add('Conv2d', 'conv1', { out_channels: 8 }, { x });
  const s = b.add('SiLU', 'silu', {}, { x: c1 });
  const c2 = b.add('Conv2d', 'conv2', { out_channels: 4 }, { x: s });
  const add = b.add('Add', 'add', {}, { a: x, b: c2 });
  b.add('Output', 'output', {}, { x: add });
  return b.build('skip');
}

const text = (id: string) => page.locator(tid(id)).innerText();

describe('compare and cost overlay (browser)', { timeout: TIMEOUT }, () => {
  it('colours blocks by parameters with a legend, shows the block’s costs, and compares with a measured time', async () => {
    await page.goto(app.url);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await page.locator(tid('summary')).waitFor();
    const g = skipGraph();
    const doc = serializeDocument(g, templateDoc(g).layout);
    await page.setInputFiles(tid('file-input'), { name: 'skip.json', mimeType: 'application/json', buffer: Buffer.from(doc) });
    await page.locator(tid('node-conv1')).waitFor();

    // Colour by parameters: conv1 (296, the most) takes the top of the scale, silu (0) the bottom.
    await page.selectOption(tid('colour-by'), 'parameters');
    await page.locator(tid('cost-legend')).waitFor();
    expect(await text('cost-legend-min')).toBe('0');
    expect(await text('cost-legend-max')).toBe('296');
    const bg = (name: string) => page.locator(tid(`node-${name}`)).evaluate((e) => getComputedStyle(e).backgroundColor);
    // viridis' ends half mixed with white: (254, 243, 146) and (162, 128, 170).
    expect(await bg('conv1')).toBe('rgb(254, 243, 146)');
    expect(await bg('silu')).toBe('rgb(162, 128, 170)');
    await page.selectOption(tid('colour-by'), 'none');
    expect(await page.locator(tid('cost-legend')).count()).toBe(0);
    expect(await bg('conv1')).not.toBe('rgb(254, 243, 146)');

    // The inspector: conv1 = 4·8·9 + 8 parameters, 2·4·8·9·64 FLOPs, 8·8·8·4 bytes out.
    await page.locator(tid('node-conv1')).click();
    await page.locator(tid('inspector-cost')).waitFor();
    expect(await text('inspector-cost-params')).toBe('296');
    expect(await text('inspector-cost-flops')).toBe('36,864 FLOP');
    expect(await text('inspector-cost-bytes')).toBe('2.00 KiB');

    // The comparison table, then a measured forward time.
    await page.locator(tid('compare')).click();
    // One variant (the workspace's only tab): its row, whatever its id.
    const rows = page.locator('[data-testid^="compare-row-"]');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(1);
    const row = rows.first();
    await row.waitFor();
    const col = (c: string) => row.locator(`[data-col="${c}"]`).innerText();
    // The row is the tab's: opening a graph file into a tab replaces its graph and keeps its name.
    expect(await col('name')).toBe(await page.locator(`${tid('variant-tab')}[data-active="true"] ${tid('variant-tab-name')}`).textContent());
    expect(await col('parameters')).toBe('588');
    expect(await col('activationBytes')).toBe('7.00 KiB');
    expect(await col('outputShape')).toBe('4×8×8');
    expect(await col('ms')).toBe('');
    await page.locator(tid('compare-measure')).click();
    await page.waitForFunction(() => (document.querySelector('[data-testid^="compare-row-"] [data-col="ms"]')?.textContent ?? '') !== '', null, { timeout: 60_000 });
    expect(Number(await col('ms'))).toBeGreaterThan(0);
    expect(await page.locator(tid('compare-diff')).isDisabled()).toBe(true); // one variant: nothing to diff

    await page.locator(tid('compare-copy-csv')).click();
    await expect.poll(() => text('compare-note')).toMatch(/Copied the table as CSV|downloaded variants\.csv/);
    await page.locator(tid('compare-close')).click();
    expect(await page.locator(tid('compare-view')).count()).toBe(0);
  });

  it('Time each block (Run panel) feeds "Colour by: last measured time" and the inspector', async () => {
    await page.selectOption(tid('colour-by'), 'time');
    expect(await text('cost-legend-empty')).toBe('no per-block times yet: Profile in the Run panel');
    await page.click(tid('toggle-run'));
    await expect.poll(() => page.locator(tid('profile')).isEnabled(), { timeout: 60_000 }).toBe(true);
    await page.click(tid('profile'));
    const table = page.locator(tid('profile-table'));
    await table.waitFor({ timeout: 60_000 });
    // The profile's own row for conv1 (name, type, "x.xx ms") is what the inspector shows.
    const conv1 = (await table.locator('tr', { hasText: 'conv1' }).locator('td').allInnerTexts()) as string[];
    expect(conv1.slice(0, 2)).toEqual(['conv1', 'Conv2d']);
    const ms = Number(conv1[2].replace(' ms', ''));
    expect(ms).toBeGreaterThan(0);
    await page.locator(tid('cost-legend-max')).waitFor();
    await page.locator(tid('node-conv1')).click();
    const shown = await text('inspector-cost-ms');
    expect(shown).toMatch(/^\d+\.\d+ ms$/);
    expect(Math.abs(Number(shown.replace(' ms', '')) - ms)).toBeLessThanOrEqual(ms < 10 ? 0.005 : 0.05);
    await page.selectOption(tid('colour-by'), 'none');
  });

  it('colours the collapsed levels of the start template on one scale with its blocks', async () => {
    // The start document (the default iDDPM template, its levels collapsed), opened as a file (the page
    // autosaved the graph above); its numbers are worked out here from the analysis: a visible block's
    // own parameters, a collapsed group's summed over its blocks.
    const { graph, layout, collapsed } = defaultDoc();
    await page.goto(app.url);
    await page.locator(tid('summary')).waitFor();
    const doc = serializeDocument(graph, layout, undefined, collapsed);
    await page.setInputFiles(tid('file-input'), { name: 'start.json', mimeType: 'application/json', buffer: Buffer.from(doc) });
    const a = analyze(graph);
    const shut = new Set(collapsed);
    const shown = new Map<string, { name: string; parameters: number }>();
    for (const id of collapsed) shown.set(id, { name: `group-${groupSummary(graph, a, id).name}`, parameters: groupSummary(graph, a, id).parameters });
    for (const n of graph.nodes) if (collapsedAncestor(graph, n.id, shut) === undefined) shown.set(n.id, { name: `node-${n.name}`, parameters: blockCost(a.info.get(n.id)!).parameters });
    const top = [...shown.values()].reduce((x, y) => (y.parameters > x.parameters ? y : x));
    expect(collapsed.length).toBeGreaterThan(0);
    expect(top.name.startsWith('group-')).toBe(true);
    expect(top.parameters).toBeGreaterThanOrEqual(1e6);

    const group = page.locator(tid(top.name));
    await group.waitFor();
    await page.selectOption(tid('colour-by'), 'parameters');
    await page.locator(tid('cost-legend')).waitFor();
    expect(await text('cost-legend-max')).toBe(`${(top.parameters / 1e6).toFixed(2)}M`);
    expect(await text('cost-legend-groups')).toBe('A collapsed group shows the sum of its blocks.');
    // The largest collapsed level takes the top of the scale (viridis' end half mixed with white).
    expect(await group.evaluate((e) => getComputedStyle(e).backgroundColor)).toBe('rgb(254, 243, 146)');
    expect(await group.getAttribute('title')).toMatch(/^Parameters: [\d.]+M \(sum of its \d+ blocks\)$/);
    // The inspector of the selected group: its summed costs.
    await group.locator('.group-name').click();
    await page.locator(tid('inspector-group-cost')).waitFor();
    expect(await text('inspector-group-cost-params')).toBe(top.parameters.toLocaleString('en-US'));
    await page.selectOption(tid('colour-by'), 'none');
    expect(await group.evaluate((e) => getComputedStyle(e).backgroundColor)).not.toBe('rgb(254, 243, 146)');
  });
});
