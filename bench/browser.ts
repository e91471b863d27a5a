/**
 * Browser benchmarks in headless Chromium (Debian's, through playwright-core) against the
 * production build served by `vite preview`: the generated module's forward time on each backend,
 * app start to interactive, JavaScript loaded before first interaction (gzip), and frame times while
 * dragging a node. SwiftShader WebGPU/WebGL here are CPU emulations: correctness, not speed.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { transpile } from '../runtime/evaluate';
import { iddpm } from '../graph/templates';
import { serializeDocument } from '../graph/document';
import type { Graph } from '../graph/model';
import { IDDPM_64 } from './configs';
import { largeGraph } from './large-graph';
import { canvasBench } from './canvas';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
];

/** Builds the app and serves it with `vite preview`; `addFiles(dist)` may add files to the build first (bench/ort.ts: ORT's runtime, the models). */
export async function servePreview(addFiles?: (dist: string) => void): Promise<{ url: string; close: () => Promise<void> }> {
  await build({ configFile: `${ROOT}vite.config.ts`, logLevel: 'warn' });
  addFiles?.(`${ROOT}dist`);
  const server: PreviewServer = await preview({ configFile: `${ROOT}vite.config.ts`, preview: { port: 0, host: '127.0.0.1' }, logLevel: 'warn' });
  const port = (server.httpServer.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}

interface ForwardRow {
  backend: string;
  notice: string;
  threads: number | null;
  firstMs: number;
  medianMs: number;
  runs: number;
  leaked: number;
}

async function forward(browser: Browser, url: string, js: string, className: string, backend: string, runs: number): Promise<ForwardRow> {
  const page = await browser.newPage();
  try {
    await page.goto(`${url}bench.html`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
    return await page.evaluate(
      ([j, c, b, r]) => (window as unknown as { benchForward: (...a: unknown[]) => Promise<ForwardRow> }).benchForward(j, c, b, [32, 32, 3], r),
      [js, className, backend, runs] as const,
    );
  } finally {
    await page.close();
  }
}

/** A readable grid layout for graphs handed to the app through its autosave slot. */
function gridLayout(g: Graph): Record<string, { x: number; y: number }> {
  const layout: Record<string, { x: number; y: number }> = {};
  g.nodes.forEach((n, i) => (layout[n.id] = { x: (i % 25) * 260, y: Math.floor(i / 25) * 180 }));
  return layout;
}

export async function openWith(browser: Browser, url: string, graph: Graph | null): Promise<{ page: Page; interactiveMs: number; jsGzip: number }> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const js: string[] = [];
  page.on('response', (r) => {
    if (r.url().endsWith('.js')) js.push(new URL(r.url()).pathname);
  });
  if (graph) {
    const text = serializeDocument(graph, gridLayout(graph));
    await page.addInitScript((t) => localStorage.setItem('unet-studio:autosave', t), text);
  }
  await page.goto(url);
  const interactiveMs = await page.waitForFunction("document.querySelectorAll('.react-flow__node').length > 0 && performance.now()", null, { timeout: 60_000 });
  const ms = (await interactiveMs.jsonValue()) as number;
  const loaded = [...new Set(js)];
  const jsGzip = loaded.reduce((sum, p) => sum + gzipSync(readFileSync(`${ROOT}dist${p}`)).length, 0);
  return { page, interactiveMs: ms, jsGzip };
}

/**
 * Open (the file input, as a user would) of a document of about `blocks` blocks, on the app with the
 * default template: the time from the file's arrival to the first frame that shows the new graph,
 * and the longest the page's main thread was busy at a stretch meanwhile (up to a second after).
 */
export async function openLargeBench(browser: Browser, url: string, blocks: number): Promise<{ blocks: number; firstFrameMs: number; longestTaskMs: number }> {
  const graph = largeGraph(blocks);
  const dir = mkdtempSync(join(tmpdir(), 'unet-bench-'));
  const path = join(dir, 'large.json');
  writeFileSync(path, serializeDocument(graph));
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  try {
    await page.goto(url);
    await page.waitForFunction("document.querySelectorAll('.react-flow__node').length > 0", null, { timeout: 60_000 });
    // A string, not a function (see dragFrames). Resolves on the first animation frame in which the
    // summary counts the new graph's blocks and the canvas shows blocks.
    await page.evaluate(`(() => {
      window.__tasks = [];
      new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__tasks.push(e.duration); }).observe({ type: 'longtask' });
      const input = document.querySelector('[data-testid="file-input"]');
      window.__firstFrame = new Promise((resolve) => {
        input.addEventListener('change', () => {
          const t0 = performance.now();
          const tick = (t) => {
            const shown = document.querySelector('[data-testid="summary-blocks"]')?.textContent === '${graph.nodes.length}' &&
              document.querySelectorAll('.react-flow__node').length > 0;
            if (shown) resolve(t - t0);
            else requestAnimationFrame(tick);
          };
          requestAnimationFrame(tick);
        }, { capture: true, once: true });
      });
    })()`);
    await page.setInputFiles('[data-testid="file-input"]', path);
    const firstFrameMs = (await page.evaluate('window.__firstFrame')) as number;
    await page.waitForTimeout(1000);
    const tasks = (await page.evaluate('window.__tasks')) as number[];
    return { blocks: graph.nodes.length, firstFrameMs, longestTaskMs: tasks.reduce((m, t) => Math.max(m, t), 0) };
  } finally {
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `forward: false` skips the generated module's forward times (the editor's rows only: `npm run bench -- --ui`). */
export async function browserBench(log: (s: string) => void, opts: { forward?: boolean } = {}): Promise<string[][]> {
  const server = await servePreview();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const rows: string[][] = [];
  try {
    const mod = generateModule(iddpm(IDDPM_64, 32), readSources());
    const js = transpile(mod.text);
    for (const [backend, runs] of opts.forward === false ? [] : ([['wasm', 20], ['webgl', 5], ['webgpu', 3], ['cpu', 3]] as const)) {
      log(`… browser forward, 64ch 32×32 on ${backend}\n`);
      const r = await forward(browser, server.url, js, mod.className, backend, runs);
      if (r.leaked !== 0) throw new Error(`${backend}: ${r.leaked} tensors leaked`);
      const label = `browser 64ch 32×32 ${r.backend}${r.threads ? ` (${r.threads} threads)` : ''}${r.backend === 'webgpu' || r.backend === 'webgl' ? ' [SwiftShader]' : ''}`;
      rows.push([label, r.backend, r.medianMs.toFixed(1), '3.175', (3.175 / (r.medianMs / 1000)).toFixed(1), String(r.runs)]);
      rows.push([`  first run (shaders/compile) ${r.backend}`, r.backend, r.firstMs.toFixed(0), '-', '-', '1']);
    }
    log('… app start\n');
    const start = await openWith(browser, server.url, null);
    rows.push(['app start to interactive (iDDPM template)', 'chromium', start.interactiveMs.toFixed(0), '-', '-', '1']);
    rows.push([`JS before first interaction, gzip kB`, 'chromium', (start.jsGzip / 1024).toFixed(0), '-', '-', '1']);
    // The code worker's own chunk (what the code panel loads first; ts-morph and the tfjs declarations come later, on demand).
    const worker = readdirSync(`${ROOT}dist/assets`).find((f) => /^codegen\.worker-.*\.js$/.test(f));
    if (worker) rows.push([`code worker chunk ${worker.replace(/-[^-]+\.js$/, '.js')}, kB (≤ 600)`, 'build', (statSync(`${ROOT}dist/assets/${worker}`).size / 1000).toFixed(1), '-', '-', '1']);
    await start.page.close();
    log('… Open of a 5,000-block graph\n');
    const open = await openLargeBench(browser, server.url, 5000);
    rows.push([`Open ${open.blocks}-block graph → first frame`, 'chromium', open.firstFrameMs.toFixed(0), '-', '-', '1']);
    rows.push([`  longest main-thread task during it`, 'chromium', open.longestTaskMs.toFixed(0), '-', '-', '1']);
    rows.push(...(await canvasBench(browser, server.url, log)));
  } finally {
    await browser.close();
    await server.close();
  }
  return rows;
}
