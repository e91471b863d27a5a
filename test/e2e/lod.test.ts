/**
 * Level of detail (editor/BlockNode.tsx, LOD_ZOOM and LOD_MIN_NODES): on a canvas of many nodes
 * zoomed out below the threshold, blocks and collapsed groups lose their summaries, shapes and port
 * lists and edges their labels, while every node, handle and edge stays drawn (most edges as curves
 * of one SVG layer, EdgeLayer.tsx; those of selected or dragged blocks as React Flow edges); zoomed
 * in past the threshold, the details and React Flow's edges return. The iDDPM template opens with its
 * levels collapsed (few nodes): there it keeps its details whatever the zoom.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { tid, useAppPage } from './harness';
import { LOD_MIN_NODES, LOD_ZOOM } from '../../editor/BlockNode';
import { defaultDoc } from '../../editor/store';
import { serializeDocument } from '../../graph/document';
import { defaultCollapsed } from '../../graph/groups';

const TIMEOUT = 60_000;
const app = useAppPage({ webgpu: false, timeout: TIMEOUT });
let page: Page;

beforeAll(() => {
  page = app.page;
});

const zoom = async () => Number(/scale\(([\d.e-]+)\)/.exec((await page.locator('.react-flow__viewport').getAttribute('style')) ?? '')?.[1]);
const lod = async () => (await page.locator(tid('canvas')).getAttribute('data-lod')) === 'true';
const count = (selector: string) => page.locator(selector).count();
/** The edge layer: its <svg>s, the edges it says it draws, and the curves (`M … C …`) in its paths. */
const layer = () =>
  page.evaluate(() => {
    const svgs = [...document.querySelectorAll('.edge-layer')];
    const d = [...document.querySelectorAll('.edge-layer path')].map((p) => p.getAttribute('d') ?? '').join(' ');
    return { svgs: svgs.length, edges: svgs.reduce((a, s) => a + Number(s.getAttribute('data-edges')), 0), curves: (d.match(/M/g) ?? []).length };
  });
const layerText = () => page.evaluate(() => [...document.querySelectorAll('.edge-layer path')].map((p) => p.getAttribute('d')).join(' '));
const realIds = () => page.evaluate(() => [...document.querySelectorAll('.react-flow__edge')].map((e) => e.getAttribute('data-id') ?? '').sort());
const realCurves = () => page.evaluate(() => [...document.querySelectorAll('.react-flow__edge-path')].map((p) => p.getAttribute('d') ?? ''));
/** What the details look like: summaries of blocks and groups, group port lists, shape badges, edge labels. */
const details = async () => ({
  summaries: await count('.block-summary'),
  groupPorts: await count(tid('group-input')),
  shapes: await count(tid('shape-badge')),
  labels: await count('.react-flow__edge-text'),
});

describe('level of detail (browser)', { timeout: TIMEOUT }, () => {
  it('the template as it opens (levels collapsed, few nodes) keeps its details', async () => {
    await page.goto(app.url);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await page.locator(tid('group-encoder.1')).waitFor();
    await page.waitForTimeout(400); // fitView
    expect(await count('.react-flow__node')).toBeLessThan(LOD_MIN_NODES);
    expect(await lod()).toBe(false);
    expect(await count(tid('group-stats'))).toBe(defaultCollapsed(defaultDoc().graph).length);
  });

  it('all levels expanded: simplified below LOD_ZOOM (nodes, handles, edges kept), details back above it', async () => {
    const d = defaultDoc();
    const text = serializeDocument(d.graph, d.layout, undefined, []);
    await page.evaluate((t) => {
      localStorage.clear();
      localStorage.setItem('unet-studio:autosave', t);
    }, text);
    await page.reload();
    await page.locator(tid('frame-encoder.1')).waitFor();
    await page.waitForTimeout(400); // fitView
    const nodes = await count('.react-flow__node');
    expect(nodes).toBeGreaterThanOrEqual(LOD_MIN_NODES);
    // Fitted, this template is drawn below the threshold: simplified, names shown.
    expect(await zoom()).toBeLessThan(LOD_ZOOM);
    expect(await lod()).toBe(true);
    expect(await details()).toEqual({ summaries: 0, groupPorts: 0, shapes: 0, labels: 0 });
    expect(await page.locator(`${tid('node-input_blocks.4.0')} .lod-name`).textContent()).toBe('input_blocks.4.0');
    const edges = d.graph.edges.length;
    const handles = await count('.react-flow__handle');
    // Zoomed out, with nothing selected, every edge is one curve of the edge layer (EdgeLayer.tsx), none a React Flow edge.
    expect(await count('.react-flow__edge')).toBe(0);
    expect(await layer()).toEqual({ svgs: 1, edges, curves: edges });

    // Selecting a block makes its edges React Flow edges again (selectable, deletable), drawn on
    // exactly the curves the layer drew for them; the layer keeps the others.
    const id = d.graph.nodes.find((n) => n.name === 'input_blocks.4.0')!.id;
    const incident = d.graph.edges.filter((e) => e.from.node === id || e.to.node === id).map((e) => e.id).sort();
    expect(incident.length).toBe(3); // x in, emb in, out
    const before = await layerText();
    await page.locator(tid('node-input_blocks.4.0')).click();
    await expect.poll(() => count('.react-flow__edge')).toBe(incident.length);
    expect(await realIds()).toEqual(incident);
    expect(await layer()).toEqual({ svgs: 1, edges: edges - incident.length, curves: edges - incident.length });
    const curves = await realCurves();
    for (const c of curves) expect(before).toContain(c);
    const after = await layerText();
    for (const c of curves) expect(after).not.toContain(c);

    // Dragging it moves its (real) edges; the layer is not redrawn.
    const box = (await page.locator(tid('node-input_blocks.4.0')).boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + 4);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 40, box.y + 44, { steps: 4 });
    expect(await layerText()).toBe(after);
    const moved = await realCurves();
    expect(moved.length).toBe(incident.length);
    for (const c of moved) expect(curves).not.toContain(c);
    await page.mouse.up();
    await page.click(tid('undo'));

    // Zoom in step by step: the details come back at the first step at or above the threshold, not before.
    for (let i = 0; i < 20 && (await lod()); i++) {
      expect(await zoom()).toBeLessThan(LOD_ZOOM);
      await page.click('.react-flow__controls-zoomin');
      await page.waitForTimeout(250);
    }
    expect(await lod()).toBe(false);
    expect(await zoom()).toBeGreaterThanOrEqual(LOD_ZOOM);
    const full = await details();
    expect(full.summaries).toBeGreaterThan(10);
    expect(full.shapes).toBeGreaterThan(10);
    expect(full.labels).toBe(edges);
    expect(await count('.react-flow__node')).toBe(nodes);
    expect(await count('.react-flow__handle')).toBe(handles);
    // Past the threshold every edge is a React Flow edge again, and the layer is gone.
    expect(await count('.react-flow__edge')).toBe(edges);
    expect(await layer()).toEqual({ svgs: 0, edges: 0, curves: 0 });

    // Fit view zooms out again: simplified again.
    await page.click(tid('fit-view'));
    await expect.poll(lod).toBe(true);
    await expect.poll(details).toEqual({ summaries: 0, groupPorts: 0, shapes: 0, labels: 0 });
    // The block is still selected: its edges stay React Flow's, the rest go back to the layer.
    await expect.poll(() => count('.react-flow__edge')).toBe(3);
    expect(await layer()).toEqual({ svgs: 1, edges: edges - 3, curves: edges - 3 });
  });
});
