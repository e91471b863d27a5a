/**
 * Benchmark page (used by `npm run bench` through headless Chromium): times a generated module's
 * forward pass on a chosen backend. The module's JavaScript is handed in by the benchmark script,
 * so the page runs exactly what the runtime panel runs. `benchVsOrt` (bench/ort.ts) times the
 * same module on tfjs-wasm beside onnxruntime-web's wasm backend on the graph's ONNX export, with
 * the same thread count, weights and input; onnxruntime-web is not bundled: the benchmark serves
 * its files from node_modules/onnxruntime-web/dist under `/ort/` and the models under `/bench-models/`.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { chooseBackend, type BrowserBackend } from '../runtime/backend-browser';
import { instantiate } from '../runtime/instantiate';

export interface BenchResult {
  readonly backend: string;
  readonly notice: string;
  readonly threads: number | null;
  readonly firstMs: number;
  readonly medianMs: number;
  readonly runs: number;
  readonly leaked: number;
}

async function benchForward(js: string, className: string, backend: BrowserBackend, shape: [number, number, number], runs: number): Promise<BenchResult> {
  const choice = await chooseBackend(backend);
  const model = instantiate(js, className, tf).random(1);
  const x = tf.randomNormal([1, ...shape]) as tf.Tensor4D;
  const t = tf.tensor1d([500]);
  const before = tf.memory().numTensors;
  const times: number[] = [];
  let firstMs = 0;
  for (let i = 0; i < runs + 3; i++) {
    const s = performance.now();
    const out = model.forward(x, t);
    await out.data();
    const ms = performance.now() - s;
    out.dispose();
    if (i === 0) firstMs = ms;
    if (i >= 3) times.push(ms);
  }
  const leaked = tf.memory().numTensors - before;
  tf.dispose([x, t]);
  model.dispose();
  times.sort((a, b) => a - b);
  return { backend: choice.backend, notice: choice.notice, threads: choice.threads ?? null, firstMs, medianMs: times[times.length >> 1], runs, leaked };
}

export interface VsOrtCase {
  /** The generated module (CommonJS) and its class. */
  readonly js: string;
  readonly className: string;
  /** The ONNX export of the same graph with the same weights. */
  readonly modelUrl: string;
  /** Those weights as a .safetensors state dict (the module's `fromSafetensors`). */
  readonly weightsUrl: string;
  /** Per sample, NCHW. */
  readonly shape: readonly [number, number, number];
  readonly runs: number;
}

export interface VsOrtResult {
  readonly appThreads: number;
  readonly ortThreads: number;
  readonly appMs: number;
  readonly ortMs: number;
  readonly maxAbsDiff: number;
  readonly maxAbsOut: number;
}

/** The minimal part of onnxruntime-web's API used here (it is loaded from the served dist, untyped). */
interface OrtWeb {
  env: { wasm: { numThreads?: number; wasmPaths?: string; simd?: boolean } };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
  InferenceSession: {
    create(url: string, opts: Record<string, unknown>): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>>; release(): Promise<void> }>;
  };
}

/** Untimed runs first (as bench/ort.ts in Node). */
const WARMUP = 2;
const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * Starts tfjs-wasm with `threads` threads (once per page: the pool is sized when the backend
 * starts; tfjs caps it at hardwareConcurrency / 2, so that is reported as twice `threads` while
 * it starts) and onnxruntime-web with the same number, then times each case on both.
 */
async function benchVsOrt(threads: number, cases: readonly VsOrtCase[]): Promise<VsOrtResult[]> {
  setThreadsCount(threads);
  Object.defineProperty(navigator, 'hardwareConcurrency', { value: threads * 2, configurable: true });
  try {
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm failed to initialise');
    await tf.ready();
  } finally {
    delete (navigator as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
  const ortUrl = `${location.origin}/ort/ort.wasm.min.mjs`;
  const ort = (await import(/* @vite-ignore */ ortUrl)) as OrtWeb;
  ort.env.wasm.wasmPaths = `${location.origin}/ort/`;
  ort.env.wasm.numThreads = threads;
  const results: VsOrtResult[] = [];
  for (const c of cases) {
    const [ch, h, w] = c.shape;
    const n = ch * h * w;
    // The same input for both: a fixed pattern in [-1, 1], NCHW for ORT and NHWC for tfjs.
    const nchw = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7311) * 0.9);
    const nhwc = new Float32Array(n);
    for (let k = 0; k < ch; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) nhwc[(y * w + x) * ch + k] = nchw[(k * h + y) * w + x];

    const bytes = new Uint8Array(await (await fetch(c.weightsUrl)).arrayBuffer());
    const model = instantiate(c.js, c.className, tf).fromSafetensors(bytes, c.weightsUrl);
    const session = await ort.InferenceSession.create(c.modelUrl, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const xt = tf.tensor4d(nhwc, [1, h, w, ch]);
    const t = tf.tensor1d([500]);
    const feeds = { x: new ort.Tensor('float32', nchw, [1, ch, h, w]), timesteps: new ort.Tensor('float32', new Float32Array([500]), [1]) };
    const appTimes: number[] = [];
    const ortTimes: number[] = [];
    let appOut: Float32Array = new Float32Array(0);
    let ortOut: Float32Array = new Float32Array(0);
    // Interleaved (app, ORT, app, ORT, …) so that a shared machine's changing load falls on both alike.
    for (let i = 0; i < c.runs + WARMUP; i++) {
      let s = performance.now();
      const out = model.forward(xt, t);
      await out.data();
      if (i >= WARMUP) appTimes.push(performance.now() - s);
      if (i === 0) appOut = tf.tidy(() => tf.transpose(out, [0, 3, 1, 2]).dataSync() as Float32Array);
      out.dispose();
      s = performance.now();
      const r = await session.run(feeds);
      if (i >= WARMUP) ortTimes.push(performance.now() - s);
      if (i === 0) ortOut = r.out.data;
    }
    tf.dispose([xt, t]);
    model.dispose();
    await session.release();
    if (ortOut.length !== appOut.length) throw new Error(`outputs differ in size: app ${appOut.length}, ORT ${ortOut.length}`);
    let maxAbsDiff = 0;
    let maxAbsOut = 0;
    for (let i = 0; i < ortOut.length; i++) {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ortOut[i] - appOut[i]));
      maxAbsOut = Math.max(maxAbsOut, Math.abs(appOut[i]));
    }
    results.push({ appThreads: getThreadsCount(), ortThreads: ort.env.wasm.numThreads ?? threads, appMs: medianOf(appTimes), ortMs: medianOf(ortTimes), maxAbsDiff, maxAbsOut });
  }
  return results;
}

Object.assign(window, { benchForward, benchVsOrt });
document.getElementById('status')!.textContent = 'ready';
