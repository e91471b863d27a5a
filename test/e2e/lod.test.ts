/**
 * Level of detail (editor/BlockNode.tsx, LOD_ZOOM and LOD_MIN_NODES): on a canvas of many nodes
 * zoomed out below the threshold, blocks and collapsed groups lose their summaries, shapes and port
 * lists and edges their labels, while every node, handle and edge stays drawn; zoomed in past the
 * threshold, the details return. The iDDPM template opens with its levels collapsed (few nodes):
 * there it keeps its details whatever the zoom.
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
    const edges = await count('.react-flow__edge');
    const handles = await count('.react-flow__handle');
    expect(edges).toBe(d.graph.edges.length);

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
    expect(await count('.react-flow__edge')).toBe(edges);

    // Fit view zooms out again: simplified again.
    await page.click(tid('fit-view'));
    await expect.poll(lod).toBe(true);
    await expect.poll(details).toEqual({ summaries: 0, groupPorts: 0, shapes: 0, labels: 0 });
  });
});
