/**
 * The canvas draws what the document holds, right away: every edge after Open and after New… for
 * every template and preset (node ids such as `n5` are reused from one document to the next with a
 * different block, and so different handles, behind them), and a document far larger than any UNet
 * opens with a warning while the page keeps answering, or is refused with a message.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ViteDevServer } from 'vite';
import type { Browser, Page } from 'playwright-core';
import published from '../reference/published-configs.json';
import { iddpm, vanilla } from '../../graph/templates';
import { serializeDocument } from '../../graph/document';
import type { Graph } from '../../graph/model';
import { defaultDoc } from '../../editor/store';
import { fixtureConfig } from '../util';
import { launchChromium, screenshot, startApp, tid } from './harness';

const TIMEOUT = 120_000;
/** How long the canvas may take to draw a document: React's rendering and a measuring frame or two. */
const DRAWN_MS = 3_000;

let server: ViteDevServer;
let browser: Browser;
let page: Page;
let url = '';

beforeAll(async () => {
  ({ server, url } = await startApp());
  // The steps share one page: a source file saved meanwhile must not reload it under them.
  await server.watcher.close();
  browser = await launchChromium({ webgpu: false });
  page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  await page.goto(url);
  await page.evaluate(() => localStorage.clear());
  await page.reload();
  await page.locator(tid('summary')).waitFor();
}, TIMEOUT);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') await screenshot(page, ctx.task.name);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const blocks = async () => Number(await page.locator(tid('summary-blocks')).textContent());

/**
 * Waits until the canvas shows `nodes` blocks and `edges` edges (a condition, not a timer), then
 * returns what is drawn, so a failure says how many edges are missing.
 */
async function waitDrawn(nodes: number, edges: number): Promise<{ nodes: number; edges: number }> {
  const drawn = () =>
    page.evaluate(() => ({
      nodes: document.querySelectorAll('.react-flow__node').length,
      edges: document.querySelectorAll('.react-flow__edge').length,
    }));
  await page
    .waitForFunction(
      ([n, e]) => document.querySelectorAll('.react-flow__node').length === n && document.querySelectorAll('.react-flow__edge').length === e,
      [nodes, edges] as const,
      { timeout: DRAWN_MS },
    )
    .catch(() => undefined);
  return drawn();
}

async function openText(name: string, text: string): Promise<void> {
  await page.setInputFiles(tid('file-input'), { name, mimeType: 'application/json', buffer: Buffer.from(text) });
}

interface Preset {
  readonly name: string;
  readonly model_class: string;
  readonly image_size: number;
  readonly kwargs: Readonly<Record<string, unknown>>;
}
const PRESETS = (published.configs as readonly Preset[]).filter((c) => c.model_class === 'UNetModel');

describe('canvas (browser)', { timeout: TIMEOUT }, () => {
  it('draws all 37 edges of the iddpm-small fixture graph right after Open', async () => {
    const { kwargs, imageSize } = fixtureConfig('iddpm-small');
    const g = iddpm(kwargs, imageSize);
    expect(g.edges.length).toBe(37);
    // The app starts with the default template, whose ids n1… name other blocks.
    expect(await blocks()).toBe(defaultDoc().graph.nodes.length);
    await waitDrawn(defaultDoc().graph.nodes.length, defaultDoc().graph.edges.length);
    await openText('iddpm-small.json', serializeDocument(g));
    await expect.poll(blocks).toBe(g.nodes.length);
    expect(await waitDrawn(g.nodes.length, g.edges.length)).toEqual({ nodes: g.nodes.length, edges: 37 });
    // Every one of them, the time-embedding and skip edges included.
    const ids = await page.evaluate(() => [...document.querySelectorAll('.react-flow__edge')].map((e) => e.getAttribute('data-id')));
    expect(ids.sort()).toEqual(g.edges.map((e) => e.id).sort());
    expect(g.edges.filter((e) => e.to.port === 'emb').length).toBe(8);
  });

  it('draws every edge right after New… for each template and preset', async () => {
    const cases: { label: string; pick: () => Promise<void>; graph: Graph }[] = [
      ...PRESETS.map((p) => ({
        label: p.name,
        pick: async () => {
          await page.selectOption(tid('tpl-preset'), p.name);
        },
        graph: iddpm(p.kwargs, p.image_size),
      })),
      {
        label: 'default iDDPM',
        pick: async () => {
          await page.selectOption(tid('tpl-preset'), '');
        },
        graph: defaultDoc().graph,
      },
      {
        label: 'classic UNet',
        pick: async () => {
          await page.getByRole('button', { name: 'Classic UNet' }).click();
        },
        graph: vanilla({ n_channels: 3, n_classes: 2, widths: [64, 128, 256, 512, 1024] }, 256),
      },
      {
        label: 'empty canvas',
        pick: async () => {
          await page.getByRole('button', { name: 'Empty canvas' }).click();
        },
        graph: { name: 'untitled', nodes: [{ id: 'n1', name: 'x', type: 'ImageInput', params: {} }, { id: 'n2', name: 'output', type: 'Output', params: {} }], edges: [{ id: 'e1', from: { node: 'n1', port: 'out' }, to: { node: 'n2', port: 'x' } }] },
      },
      {
        // Back to a UNet after the smallest graph: every id is new to the canvas again.
        label: 'guided-diffusion/512x512_diffusion after the empty canvas',
        pick: async () => {
          await page.selectOption(tid('tpl-preset'), 'guided-diffusion/512x512_diffusion');
        },
        graph: iddpm(PRESETS.find((p) => p.name === 'guided-diffusion/512x512_diffusion')!.kwargs, 512),
      },
    ];
    const wrong: string[] = [];
    for (const c of cases) {
      await page.click(tid('templates'));
      await c.pick();
      await page.click(tid('tpl-create'));
      await expect.poll(blocks).toBe(c.graph.nodes.length);
      const drawn = await waitDrawn(c.graph.nodes.length, c.graph.edges.length);
      if (drawn.nodes !== c.graph.nodes.length || drawn.edges !== c.graph.edges.length) {
        wrong.push(`${c.label}: ${drawn.edges} of ${c.graph.edges.length} edges, ${drawn.nodes} of ${c.graph.nodes.length} blocks drawn`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
