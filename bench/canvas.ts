/**
 * Canvas speed in headless Chromium against the production build (part of `npm run bench`):
 * frame times while dragging a node, with the level-of-detail mode (editor/BlockNode.tsx, LOD_ZOOM)
 * off (`?lod=off`) and on, zoomed out to fit; and the time to expand and collapse one group of a
 * 500-block grouped graph, until the first animation frame whose DOM shows the change.
 * Page scripts are strings, not functions: tsx's keepNames would wrap named inner functions in a
 * `__name` helper that does not exist in the page.
 */
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { iddpm } from '../graph/templates';
import { serializeDocument } from '../graph/document';
import { defaultCollapsed } from '../graph/groups';
import type { Graph } from '../graph/model';
import { templateLayout } from '../editor/layout';
import { largeGraph } from './large-graph';

/** A document as the app gets it at start (through its autosave slot). */
export interface BenchDoc {
  readonly graph: Graph;
  readonly layout: Readonly<Record<string, { x: number; y: number }>>;
  readonly collapsed: readonly string[];
}

/** A graph as a template opens: the template layout, its top-level groups collapsed (or all expanded). */
export function asTemplateOpens(graph: Graph, collapsed = true): BenchDoc {
  return { graph, layout: templateLayout(graph), collapsed: collapsed ? defaultCollapsed(graph) : [] };
}

/** A readable grid (25 a row, in the graph's node order, so a group's members sit together), nothing collapsed or `collapsed`. */
export function gridDoc(graph: Graph, collapsed: readonly string[] = []): BenchDoc {
  const layout: Record<string, { x: number; y: number }> = {};
  graph.nodes.forEach((n, i) => (layout[n.id] = { x: (i % 25) * 260, y: Math.floor(i / 25) * 180 }));
  return { graph, layout, collapsed };
}

/** The published iDDPM / guided-diffusion config with the most blocks (test/reference/published-configs.json). */
export function largestPublished(): { name: string; graph: Graph } {
  const file = new URL('../test/reference/published-configs.json', import.meta.url);
  const configs = (JSON.parse(readFileSync(file, 'utf8')) as { configs: { name: string; kwargs: unknown; image_size: number }[] }).configs;
  let best: { name: string; graph: Graph } | null = null;
  for (const c of configs) {
    const graph = iddpm(c.kwargs, c.image_size);
    if (!best || graph.nodes.length > best.graph.nodes.length) best = { name: c.name, graph };
  }
  if (!best) throw new Error('published-configs.json lists no configs');
  return best;
}

/** Opens the app on `doc` (in a fresh context: its own storage); `query` is the address's `?…` part. */
export async function openDoc(browser: Browser, url: string, doc: BenchDoc, query = ''): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const text = serializeDocument(doc.graph, doc.layout, undefined, doc.collapsed);
  await page.addInitScript((t) => localStorage.setItem('unet-studio:autosave', t), text);
  await page.goto(`${url}${query}`);
  await page.waitForFunction("document.querySelectorAll('.react-flow__node').length > 0", null, { timeout: 60_000 });
  await page.waitForTimeout(800); // the first measurements settle
  // Fit view, as a user would. It fits the nodes React Flow has measured: in a graph of hundreds of
  // blocks (drawn only in view) those in view, so zoom out further until the whole graph is in view.
  await page.click('[data-testid="fit-view"]');
  await page.waitForTimeout(800);
  const fit = await fitZoom(page, doc);
  for (let i = 0; i < 30 && (await canvasState(page)).zoom > fit * 1.01; i++) {
    await page.click('.react-flow__controls-zoomout');
    await page.waitForTimeout(300);
  }
  await page.waitForTimeout(500);
  return page;
}

/** The zoom at which the document's laid-out positions (plus a block's size) fit the canvas. */
async function fitZoom(page: Page, doc: BenchDoc): Promise<number> {
  const ps = Object.values(doc.layout);
  const w = Math.max(...ps.map((p) => p.x)) - Math.min(...ps.map((p) => p.x)) + 220;
  const h = Math.max(...ps.map((p) => p.y)) - Math.min(...ps.map((p) => p.y)) + 120;
  const box = (await page.locator('[data-testid="canvas"]').boundingBox())!;
  return Math.min(box.width / w, box.height / h);
}

/** The canvas's zoom, whether it draws simplified nodes, and how many nodes and edge labels are mounted. */
export async function canvasState(page: Page): Promise<{ zoom: number; lod: boolean; nodes: number; labels: number }> {
  return (await page.evaluate(`(() => {
    const t = document.querySelector('.react-flow__viewport').style.transform;
    const m = /scale\\(([\\d.e-]+)\\)/.exec(t);
    return {
      zoom: m ? Number(m[1]) : NaN,
      lod: document.querySelector('[data-testid="canvas"]').dataset.lod === 'true',
      nodes: document.querySelectorAll('.react-flow__node').length,
      labels: document.querySelectorAll('.react-flow__edge-text').length,
    };
  })()`)) as { zoom: number; lod: boolean; nodes: number; labels: number };
}

export interface DragResult {
  readonly median: number;
  readonly p95: number;
  readonly frames: number;
}

/**
 * Drags the block or collapsed group nearest the canvas's centre in a circle of ~120 mouse moves,
 * recording requestAnimationFrame intervals (the first two dropped).
 */
export async function dragFrames(page: Page): Promise<DragResult> {
  const box = (await page.evaluate(`(() => {
    const c = document.querySelector('[data-testid="canvas"]').getBoundingClientRect();
    const cx = c.x + c.width / 2, cy = c.y + c.height / 2;
    let best = null, bestD = Infinity;
    for (const el of document.querySelectorAll('.react-flow__node-block, .react-flow__node-group')) {
      const r = el.getBoundingClientRect();
      const d = Math.hypot(r.x + r.width / 2 - cx, r.y + r.height / 2 - cy);
      if (r.width > 0 && d < bestD) { bestD = d; best = { x: r.x, y: r.y, width: r.width, height: r.height }; }
    }
    return best;
  })()`)) as { x: number; y: number; width: number; height: number } | null;
  if (!box) throw new Error('no block or group on the canvas to drag');
  await page.evaluate(`(() => {
    window.__frames = [];
    window.__stop = false;
    let last = performance.now();
    const tick = (t) => {
      window.__frames.push(t - last);
      last = t;
      if (!window.__stop) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })()`);
  const cx = box.x + box.width / 2;
  // Near the top (a block's title, a group's name) but inside however small the node is drawn.
  const cy = box.y + Math.min(12, box.height / 2);
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  for (let i = 0; i < 120; i++) {
    const a = (i / 120) * 2 * Math.PI;
    await page.mouse.move(cx + 150 * Math.sin(a), cy + 100 * (1 - Math.cos(a)));
  }
  await page.mouse.up();
  const frames = (await page.evaluate('(() => { window.__stop = true; return window.__frames.slice(2); })()')) as number[];
  const s = [...frames].sort((a, b) => a - b);
  return { median: s[s.length >> 1], p95: s[Math.min(s.length - 1, Math.floor(s.length * 0.95))], frames: s.length };
}

/**
 * Toggles the group named `name` (its expand button, or its frame's collapse button) and resolves
 * with the milliseconds from the click to the first animation frame whose DOM shows the change:
 * expanded, the group's node is gone and its frame drawn; collapsed, the other way round.
 */
export async function toggleGroup(page: Page, name: string, expand: boolean): Promise<number> {
  const group = JSON.stringify(`[data-testid="group-${name}"]`);
  const frame = JSON.stringify(`[data-testid="frame-${name}"]`);
  const button = expand ? `${group} + ' [data-testid="group-toggle"]'` : `${frame} + ' [data-testid="frame-toggle"]'`;
  return (await page.evaluate(`new Promise((resolve, reject) => {
    const el = document.querySelector(${button});
    if (!el) { reject(new Error('no toggle for ${name}')); return; }
    const done = () => ${expand ? `!document.querySelector(${group}) && !!document.querySelector(${frame})` : `!!document.querySelector(${group}) && !document.querySelector(${frame})`};
    const t0 = performance.now();
    el.click();
    const check = () => {
      const t = performance.now();
      if (done()) resolve(t - t0);
      else if (t - t0 > 20000) reject(new Error('${name} did not ${expand ? 'expand' : 'collapse'} within 20 s'));
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  })`)) as number;
}

const fmt = (ms: number) => ms.toFixed(1);
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const row = (label: string, ms: string, runs: number | string): string[] => [label, 'chromium', ms, '-', '-', String(runs)];

/** The table's rows (bench/index.ts's columns): drag frames and group toggling, LOD off and on side by side. */
export async function canvasBench(browser: Browser, url: string, log: (s: string) => void): Promise<string[][]> {
  const rows: string[][] = [];
  const pub = largestPublished();
  const flat = largeGraph(500);
  const grouped = largeGraph(500, true);
  const modes = [['LOD off', '?lod=off'], ['LOD on', '']] as const;

  const drags: [string, BenchDoc][] = [
    [`${pub.name} (${pub.graph.nodes.length} blocks) as opened, collapsed`, asTemplateOpens(pub.graph)],
    [`${pub.name} all expanded`, asTemplateOpens(pub.graph, false)],
    [`${flat.nodes.length} flat blocks`, gridDoc(flat)],
  ];
  for (const [label, doc] of drags) {
    const p95s: number[] = [];
    for (const [mode, query] of modes) {
      log(`… drag, ${label}, ${mode}\n`);
      const page = await openDoc(browser, url, doc, query);
      try {
        const st = await canvasState(page);
        const f = await dragFrames(page);
        p95s.push(f.p95);
        const where = `zoom ${st.zoom.toFixed(2)}, ${st.nodes} nodes, ${st.labels} edge labels${st.lod ? ', simplified' : ''}`;
        rows.push(row(`drag frame p95, ${label}, ${mode} (${where})`, fmt(f.p95), f.frames));
        rows.push(row(`  median`, fmt(f.median), f.frames));
      } finally {
        await page.close();
      }
    }
    rows.push(row(`  p95 LOD off / LOD on`, `${(p95s[0] / p95s[1]).toFixed(2)}×`, '-'));
  }

  // Expand and collapse one level of a 500-block grouped graph (six UNets in a row, on a grid: the
  // template layout of such a chain is too wide to fit): levels collapsed as a template opens, and
  // every group expanded (all the blocks on the canvas, the level then collapsed first).
  const level = 'u2.decoder.1';
  const toggles: [string, BenchDoc, boolean][] = [
    [`${grouped.nodes.length}-block grouped graph, levels collapsed`, gridDoc(grouped, defaultCollapsed(grouped)), true],
    [`${grouped.nodes.length}-block grouped graph, all expanded`, gridDoc(grouped), false],
  ];
  const runs = 5;
  for (const [label, doc, expandFirst] of toggles) {
    const worst: number[] = [];
    for (const [mode, query] of modes) {
      log(`… expand/collapse ${level}, ${label}, ${mode}\n`);
      const page = await openDoc(browser, url, doc, query);
      try {
        const st = await canvasState(page);
        const expand: number[] = [];
        const collapse: number[] = [];
        for (let i = 0; i < runs; i++) {
          for (const e of expandFirst ? [true, false] : [false, true]) {
            (e ? expand : collapse).push(await toggleGroup(page, level, e));
            await page.waitForTimeout(300);
          }
        }
        worst.push(Math.max(...expand, ...collapse));
        const where = `zoom ${st.zoom.toFixed(2)}, ${st.nodes} nodes${st.lod ? ', simplified' : ''}`;
        rows.push(row(`expand ${level}, ${label}, ${mode} (${where}) median`, fmt(median(expand)), runs));
        rows.push(row(`  collapse it, median`, fmt(median(collapse)), runs));
        rows.push(row(`  slowest of both`, fmt(Math.max(...expand, ...collapse)), runs * 2));
      } finally {
        await page.close();
      }
    }
    rows.push(row(`  slowest LOD off / LOD on`, `${(worst[0] / worst[1]).toFixed(2)}×`, '-'));
  }
  return rows;
}
