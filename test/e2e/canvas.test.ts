/**
 * The canvas draws what the document holds, right away: every edge after Open and after New… for
 * every template and preset (node ids such as `n5` are reused from one document to the next with a
 * different block, and so different handles, behind them), and a document far larger than any UNet
 * opens with a warning while the page keeps answering, or is refused with a message.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ViteDevServer } from 'vite';
import type { Browser, Page } from 'playwright-core';
import published from '../reference/published-configs.json';
import { IDDPM_DEFAULTS, iddpm, vanilla } from '../../graph/templates';
import { FORMAT, serializeDocument } from '../../graph/document';
import { MAX_BLOCKS, MAX_DOCUMENT_BYTES, WARN_BLOCKS } from '../../graph/limits';
import type { Graph } from '../../graph/model';
import { defaultDoc } from '../../editor/store';
import { canvasEdges, canvasItems } from '../../editor/groupView';
import { defaultCollapsed } from '../../graph/groups';
import { analyze } from '../../graph/analyze';
import { largeGraph } from '../../bench/large-graph';
import { servePreview } from '../../bench/browser';
import { fixtureConfig } from '../util';
import { launchChromium, screenshot, startApp, tid } from './harness';

const TIMEOUT = 120_000;
/** How long the canvas may take to draw a document: React's rendering and a measuring frame or two. */
const DRAWN_MS = 3_000;

let server: ViteDevServer;
let browser: Browser;
let page: Page;
let url = '';
let tmp = '';

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'unet-canvas-'));
  ({ server, url } = await startApp());
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
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const blocks = async (p: Page = page) => Number(await p.locator(tid('summary-blocks')).textContent());

/**
 * What the canvas draws for a document (editor/groupView.ts): the blocks not hidden in a collapsed
 * group, one node per collapsed group and per expanded group's frame; the edges once rerouted to
 * collapsed groups (those inside one vanish, identical ones merge).
 */
function drawnFor(graph: Graph, collapsed: readonly string[]): { nodes: number; edges: number } {
  const items = canvasItems(graph, collapsed);
  return {
    nodes: graph.nodes.filter((n) => !items.hiddenIn.has(n.id)).length + items.collapsed.length + items.frames.length,
    edges: canvasEdges(graph, analyze(graph), items).length,
  };
}

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
/** Deep enough for more than 300 blocks. */
const DEEP = 26;
const defaultKwargs = () => ({ ...IDDPM_DEFAULTS, attention_resolutions: [...IDDPM_DEFAULTS.attention_resolutions], channel_mult: [...IDDPM_DEFAULTS.channel_mult] });

describe('canvas (browser)', { timeout: TIMEOUT }, () => {
  it('draws all 37 edges of the iddpm-small fixture graph right after Open', async () => {
    const { kwargs, imageSize } = fixtureConfig('iddpm-small');
    const g = iddpm(kwargs, imageSize);
    expect(g.edges.length).toBe(37);
    // The app starts with the default template, whose ids n1… name other blocks.
    expect(await blocks()).toBe(defaultDoc().graph.nodes.length);
    const first = drawnFor(defaultDoc().graph, defaultDoc().collapsed);
    await waitDrawn(first.nodes, first.edges);
    // Saved with nothing collapsed: every block and edge drawn, each group a frame.
    await openText('iddpm-small.json', serializeDocument(g));
    await expect.poll(() => blocks(), { timeout: 30_000 }).toBe(g.nodes.length);
    expect(await waitDrawn(g.nodes.length + (g.groups?.length ?? 0), g.edges.length)).toEqual({ nodes: g.nodes.length + (g.groups?.length ?? 0), edges: 37 });
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
        // Over 300 blocks the canvas draws only what is in view: checked below by what is drawn.
        label: `iDDPM, num_res_blocks ${DEEP}`,
        pick: async () => {
          await page.selectOption(tid('tpl-preset'), '');
          await page.fill(tid('tpl-num_res_blocks'), String(DEEP));
        },
        graph: iddpm({ ...defaultKwargs(), num_res_blocks: DEEP }, 32),
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
      await expect.poll(() => blocks(), { timeout: 30_000 }).toBe(c.graph.nodes.length);
      if (c.graph.nodes.length >= 300) {
        // Every edge between two drawn blocks is drawn (React Flow culls the rest).
        const missing = await page
          .waitForFunction(
            (edges) => {
              const nodes = new Set([...document.querySelectorAll('.react-flow__node')].map((n) => n.getAttribute('data-id')));
              const drawn = new Set([...document.querySelectorAll('.react-flow__edge')].map((e) => e.getAttribute('data-id')));
              const want = edges.filter((e) => nodes.has(e.source) && nodes.has(e.target));
              return nodes.size > 0 && want.length > 0 && want.every((e) => drawn.has(e.id)) ? 'none' : false;
            },
            c.graph.edges.map((e) => ({ id: e.id, source: e.from.node, target: e.to.node })),
            { timeout: DRAWN_MS },
          )
          .then(() => null)
          .catch(() => 'an edge between two drawn blocks is missing');
        if (missing) wrong.push(`${c.label}: ${missing}`);
        continue;
      }
      // New… opens the template with its top-level groups collapsed.
      const want = drawnFor(c.graph, defaultCollapsed(c.graph));
      const drawn = await waitDrawn(want.nodes, want.edges);
      if (drawn.nodes !== want.nodes || drawn.edges !== want.edges) {
        wrong.push(`${c.label}: ${drawn.edges} of ${want.edges} edges, ${drawn.nodes} of ${want.nodes} nodes drawn`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

/**
 * Asks the page for an answer over and over (a round trip through its main thread) until `stop`,
 * and returns how long each took: the longest is how long the page did not answer.
 */
function roundTrips(p: Page): { stop: () => Promise<number[]> } {
  const times: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      await p.evaluate(() => document.readyState);
      times.push(performance.now() - t);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return times;
    },
  };
}

/** A file on disk, handed to the file input by path (no copy through the page's main thread). */
function tempFile(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

/** A document of `n` (not even valid) blocks: refused on its count, before anything else is read. */
function countOnly(n: number): string {
  const nodes = Array.from({ length: n }, (_, i) => ({ id: `n${i + 1}`, name: `conv_${i + 1}`, type: 'Conv2d', params: {} }));
  return JSON.stringify({ format: FORMAT, version: 2, graph: { name: `huge-${n}`, nodes, edges: [] }, layout: {} });
}

// What users run: the production build (development React is several times slower and checks more).
describe('big documents (browser, production build)', { timeout: TIMEOUT }, () => {
  let preview: { url: string; close: () => Promise<void> } | null = null;
  let big: Page;
  beforeAll(async () => {
    preview = await servePreview();
    big = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    await big.goto(preview.url);
    await big.locator(tid('summary')).waitFor();
  }, TIMEOUT);
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') await screenshot(big, ctx.task.name);
  });
  afterAll(async () => {
    await big?.close();
    await preview?.close();
  });

  // The 1 s target for the page's answers while a 5,000-block document opens is measured by the bench
  // ("Open 5019-block graph → first frame" and its longest main-thread task), side by side on a quiet
  // machine; here the page must keep answering (no freeze of seconds) while the suite's other files
  // (PyTorch, WebGPU) share the two cores.
  it('opens a 5,000-block document with a warning while the page keeps answering', async () => {
    const g = largeGraph(WARN_BLOCKS);
    expect(g.nodes.length).toBeGreaterThanOrEqual(WARN_BLOCKS);
    const path = tempFile('large.json', serializeDocument(g));
    const rt = roundTrips(big);
    await big.setInputFiles(tid('file-input'), path);
    await big.locator(tid('size-warning')).waitFor({ timeout: 30_000 });
    await expect.poll(() => blocks(big)).toBe(g.nodes.length);
    // Edges drawn: by React Flow, or zoomed out as curves of the edge layer (editor/EdgeLayer.tsx).
    await big.waitForFunction(
      () => document.querySelectorAll('.react-flow__node').length > 0 && (document.querySelectorAll('.react-flow__edge').length > 0 || Number(document.querySelector('.edge-layer')?.getAttribute('data-edges')) > 0),
    );
    // …and while the user looks around.
    await big.click(tid('fit-view'));
    await big.mouse.move(700, 400);
    for (let i = 0; i < 5; i++) await big.mouse.wheel(0, -200);
    await big.waitForFunction(() => document.querySelectorAll('.react-flow__node').length > 0);
    const times = await rt.stop();
    expect(times.length).toBeGreaterThan(5);
    expect(Math.max(...times), `round trips (ms): ${times.map((t) => t.toFixed(0)).join(' ')}`).toBeLessThan(5000);
    expect(await big.locator(tid('size-warning')).textContent()).toContain(`${g.nodes.length.toLocaleString('en-US')} blocks`);
    expect(await big.locator(tid('summary-status')).textContent()).toBe('valid');
    // Only what is in view is drawn.
    expect(await big.locator('.react-flow__node').count()).toBeLessThan(1000);
  });

  it('refuses a 110,000-block document with a message naming the limit, keeps the graph, and keeps answering', async () => {
    const before = await blocks(big);
    const name = await big.locator('.doc-name').textContent();
    const path = tempFile('huge.json', countOnly(110_000));
    const rt = roundTrips(big);
    await big.setInputFiles(tid('file-input'), path);
    const banner = big.locator(tid('banner'));
    await banner.waitFor({ timeout: 30_000 });
    const times = await rt.stop();
    expect(await banner.textContent()).toContain(`huge.json has 110,000 blocks; UNet Studio opens graphs of at most ${MAX_BLOCKS.toLocaleString('en-US')} blocks`);
    expect(Math.max(...times)).toBeLessThan(1000);
    expect(await blocks(big)).toBe(before);
    expect(await big.locator('.doc-name').textContent()).toBe(name);
    await big.click(tid('banner-dismiss'));
  });

  it('refuses a file over 64 MiB unread', async () => {
    const before = await blocks(big);
    const path = join(tmp, 'enormous.json');
    // Sparse: the size is all there is to it.
    closeSync(openSync(path, 'w'));
    truncateSync(path, MAX_DOCUMENT_BYTES + 1024 * 1024);
    await big.setInputFiles(tid('file-input'), path);
    const banner = big.locator(tid('banner'));
    await banner.waitFor();
    expect(await banner.textContent()).toContain('enormous.json is 65 MiB (68,157,440 bytes); UNet Studio opens documents of at most 64 MiB');
    expect(await blocks(big)).toBe(before);
  });
});
