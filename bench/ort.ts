/**
 * "app vs ONNX Runtime" (`npm run bench -- --ort` alone; part of the default run): the app's
 * generated tfjs module beside ONNX Runtime on the graph's ONNX export (codegen/targets/onnx), same
 * weights and same input, for the 64-channel 32×32 iDDPM model with scale-shift norm and the iDDPM
 * CIFAR-10 model. The weights are PyTorch-default random ones except that the layers iDDPM
 * initialises to zero (each ResBlock's last conv, the output conv) get small random values too:
 * with those at zero the output is 0 and the outputs' agreement would prove nothing. The module
 * loads them from a .safetensors file (`fromSafetensors`), the export embeds them.
 *
 * - Browser (headless Chromium, one browser run, one page load per thread count since both wasm
 *   runtimes size their thread pools once): the generated module on tfjs-wasm and onnxruntime-web's
 *   wasm backend, each with 1 and 2 threads, on the production build served cross-origin isolated
 *   (COOP/COEP, for SharedArrayBuffer) by `vite preview`; ORT's .mjs/.wasm are served from
 *   node_modules/onnxruntime-web/dist under /ort/ (nothing from the network).
 * - Node: the generated module on tfjs-wasm (one thread: Node's tfjs-wasm has no threads) beside
 *   onnxruntime-node on the CPU with intraOpNumThreads 1 and 2, and onnxruntime-web's wasm in Node
 *   with 1 thread.
 *
 * Every row prints the largest |app − ORT| of the outputs, so the rows compare the same model. The
 * runtimes being compared run interleaved (one forward each, in turn), so that a shared machine's
 * changing load falls on all of them alike: compare the ratios, not the times across runs.
 */
import * as tf from '@tensorflow/tfjs';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { iddpm, type IddpmKwargs } from '../graph/templates';
import type { Graph } from '../graph/model';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { exportOnnx } from '../codegen/targets/onnx/export';
import { loadModule, transpile } from '../runtime/evaluate';
import { useBackend } from '../runtime/backend-node';
import { IDDPM_64, IDDPM_CIFAR10 } from './configs';
import { analyze } from '../graph/analyze';
import { expectedWeights } from '../graph/weights';
import { initialValues } from '../weights/pytorch';
import { normals, Rng } from '../weights/rng';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import type { VsOrtCase, VsOrtResult } from '../editor/bench';

export const ORT_HEADER = ['model', 'where: app vs ORT', 'threads', 'app median ms', 'ORT median ms', 'app/ORT', 'max |app − ORT|'] as const;

interface Model {
  readonly label: string;
  readonly file: string;
  readonly graph: Graph;
  readonly runs: number;
}

export const ORT_MODELS: readonly Model[] = [
  { label: 'iDDPM 64ch 32×32 (scale-shift)', file: 'iddpm-64', graph: iddpm({ ...IDDPM_64, use_scale_shift_norm: true } satisfies IddpmKwargs, 32), runs: 7 },
  { label: 'iDDPM CIFAR-10 32×32', file: 'iddpm-cifar10', graph: iddpm(IDDPM_CIFAR10, 32), runs: 3 },
];

interface Prepared {
  readonly model: Model;
  readonly text: string;
  readonly className: string;
  readonly onnx: Uint8Array;
  /** The same weights as a state dict (.safetensors, PyTorch layouts). */
  readonly weights: Uint8Array;
}

/** PyTorch-default random weights (seed 1), with the zero-initialised ones drawn N(0, 0.02²) instead. */
function benchWeights(graph: Graph): Uint8Array {
  const rng = new Rng(1);
  const tensors: Record<string, TensorToWrite> = {};
  for (const w of expectedWeights(analyze(graph))) {
    const data = w.init.kind === 'const' && w.init.value === 0
      ? normals(rng, w.shape.reduce((a, b) => a * b, 1)).map((v) => v * 0.02)
      : initialValues(w.shape, w.init, rng);
    tensors[w.fullKey] = { dtype: 'F32', shape: w.shape, data };
  }
  return writeSafetensors(tensors);
}

function prepare(m: Model): Prepared {
  const mod = generateModule(m.graph, readSources());
  const weights = benchWeights(m.graph);
  const onnx = exportOnnx(m.graph, parseSafetensors(weights));
  return { model: m, text: mod.text, className: mod.className, onnx: onnx.files[0].bytes!, weights };
}

/** Untimed runs first (each runtime's first calls allocate and pack weights). */
const WARMUP = 2;
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (ms: number) => ms.toFixed(1);
const diff = (d: number, ref: number) => `${d.toExponential(1)} (of ${ref.toFixed(2)})`;

/** The same input as the bench page's: a fixed pattern, NCHW. */
function input(c: number, h: number, w: number): { nchw: Float32Array; nhwc: Float32Array } {
  const n = c * h * w;
  const nchw = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7311) * 0.9);
  const nhwc = new Float32Array(n);
  for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) nhwc[(y * w + x) * c + k] = nchw[(k * h + y) * w + x];
  return { nchw, nhwc };
}

/**
 * Median time of each runner, run interleaved (a, b, c, a, b, c, …) after `WARMUP` untimed rounds,
 * so that a shared machine's changing load falls on all of them alike; and each one's first output.
 */
async function timeInterleaved(runs: number, fs: readonly (() => Promise<Float32Array>)[]): Promise<{ ms: number; out: Float32Array }[]> {
  const times: number[][] = fs.map(() => []);
  const outs: Float32Array[] = fs.map(() => new Float32Array(0));
  for (let i = 0; i < runs + WARMUP; i++) {
    for (let k = 0; k < fs.length; k++) {
      const s = performance.now();
      const o = await fs[k]();
      if (i >= WARMUP) times[k].push(performance.now() - s);
      if (i === 0) outs[k] = o;
    }
  }
  return fs.map((_, k) => ({ ms: median(times[k]), out: outs[k] }));
}

function maxAbs(a: Float32Array, b: Float32Array): { d: number; ref: number } {
  if (a.length !== b.length) throw new Error(`outputs differ in size: ${a.length} vs ${b.length}`);
  let d = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(a[i]));
  }
  return { d, ref };
}

/** Node: the generated module on tfjs-wasm vs onnxruntime-node (1, 2 threads) and onnxruntime-web's wasm (1 thread). */
async function nodeRows(prepared: readonly Prepared[], log: (s: string) => void): Promise<string[][]> {
  const ortNode = await import('onnxruntime-node');
  // onnxruntime-web's Node build (its wasm runtime, run by Node).
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = 1;
  await useBackend('wasm');
  const rows: string[][] = [];
  for (const p of prepared) {
    const [c, h, w] = shapeOf(p.model.graph);
    const { nchw, nhwc } = input(c, h, w);
    log(`… Node, ${p.model.label}: tfjs-wasm (generated module), onnxruntime-node (1 and 2 threads), onnxruntime-web wasm (1 thread), interleaved\n`);
    const model = loadModule(p.text, p.className).fromSafetensors(p.weights);
    const x = tf.tensor4d(nhwc, [1, h, w, c]);
    const t = tf.tensor1d([500]);
    const node1 = await ortNode.InferenceSession.create(p.onnx, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const node2 = await ortNode.InferenceSession.create(p.onnx, { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const web = await ortWeb.InferenceSession.create(p.onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const nodeFeeds = { x: new ortNode.Tensor('float32', nchw, [1, c, h, w]), timesteps: new ortNode.Tensor('float32', new Float32Array([500]), [1]) };
    const webFeeds = { x: new ortWeb.Tensor('float32', nchw, [1, c, h, w]), timesteps: new ortWeb.Tensor('float32', new Float32Array([500]), [1]) };
    const [app, n1, n2, w1] = await timeInterleaved(p.model.runs, [
      async () => {
        const out = model.forward(x, t);
        const nchwOut = tf.transpose(out, [0, 3, 1, 2]);
        const data = (await nchwOut.data()) as Float32Array;
        tf.dispose([out, nchwOut]);
        return data;
      },
      async () => (await node1.run(nodeFeeds)).out.data as Float32Array,
      async () => (await node2.run(nodeFeeds)).out.data as Float32Array,
      async () => (await web.run(webFeeds)).out.data as Float32Array,
    ]);
    tf.dispose([x, t]);
    model.dispose();
    await Promise.all([node1.release(), node2.release(), web.release()]);
    const row = (where: string, threads: string, r: { ms: number; out: Float32Array }) => {
      const m = maxAbs(app.out, r.out);
      rows.push([p.model.label, where, threads, fmt(app.ms), fmt(r.ms), (app.ms / r.ms).toFixed(2), diff(m.d, m.ref)]);
    };
    row('Node: tfjs-wasm vs onnxruntime-node (CPU)', '1 vs 1', n1);
    row('Node: tfjs-wasm vs onnxruntime-node (CPU)', '1 vs 2', n2);
    row('Node: tfjs-wasm vs onnxruntime-web wasm', '1 vs 1', w1);
  }
  return rows;
}

/** The image input's per-sample shape (C, H, W). */
function shapeOf(g: Graph): [number, number, number] {
  const p = g.nodes.find((n) => n.type === 'ImageInput')?.params as { channels: number; height: number; width: number } | undefined;
  if (!p) throw new Error('bench: the graph has no image input');
  return [p.channels, p.height, p.width];
}

/** Browser: one Chromium, one page load per thread count, both models on both runtimes in each. */
async function browserRows(prepared: readonly Prepared[], log: (s: string) => void): Promise<string[][]> {
  const { chromium } = await import('playwright-core');
  const { CHROMIUM_ARGS, servePreview } = await import('./browser');
  const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
  log('… building the app for the browser rows\n');
  const server = await servePreview((dist) => {
    mkdirSync(join(dist, 'ort'), { recursive: true });
    for (const f of ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']) copyFileSync(join(ortDist, f), join(dist, 'ort', f));
    mkdirSync(join(dist, 'bench-models'), { recursive: true });
    for (const p of prepared) {
      writeFileSync(join(dist, 'bench-models', `${p.model.file}.onnx`), p.onnx);
      writeFileSync(join(dist, 'bench-models', `${p.model.file}.safetensors`), p.weights);
    }
  });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const rows: string[][] = [];
  try {
    const cases: VsOrtCase[] = prepared.map((p) => ({
      js: transpile(p.text),
      className: p.className,
      modelUrl: `${server.url}bench-models/${p.model.file}.onnx`,
      weightsUrl: `${server.url}bench-models/${p.model.file}.safetensors`,
      shape: shapeOf(p.model.graph),
      runs: p.model.runs,
    }));
    for (const threads of [1, 2]) {
      log(`… browser, ${threads} thread(s): both models on tfjs-wasm and onnxruntime-web\n`);
      const page = await browser.newPage();
      try {
        page.on('pageerror', (e) => log(`page error: ${e.message}\n`));
        await page.goto(`${server.url}bench.html`);
        await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
        if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error('the bench page is not cross-origin isolated: no wasm threads');
        const results = (await page.evaluate(
          ([n, cs]) => (window as unknown as { benchVsOrt: (t: number, c: VsOrtCase[]) => Promise<VsOrtResult[]> }).benchVsOrt(n, cs),
          [threads, cases] as const,
        )) as VsOrtResult[];
        results.forEach((r, i) => {
          rows.push([prepared[i].model.label, 'browser: tfjs-wasm vs onnxruntime-web wasm', `${r.appThreads} vs ${r.ortThreads}`, fmt(r.appMs), fmt(r.ortMs), (r.appMs / r.ortMs).toFixed(2), diff(r.maxAbsDiff, r.maxAbsOut)]);
        });
      } finally {
        await page.close();
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
  return rows;
}

/** The section's rows (header first): the browser rows unless `browser` is false, then the Node rows. */
export async function ortBench(log: (s: string) => void, opts: { browser?: boolean } = {}): Promise<string[][]> {
  log('… app vs ONNX Runtime: generating the modules and the ONNX exports\n');
  const prepared = ORT_MODELS.map(prepare);
  const rows: string[][] = [[...ORT_HEADER]];
  if (opts.browser !== false) rows.push(...(await browserRows(prepared, log)));
  rows.push(...(await nodeRows(prepared, log)));
  return rows;
}
