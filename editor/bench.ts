/**
 * Benchmark page (used by `npm run bench` through headless Chromium): times a generated module's
 * forward pass on a chosen backend. The module's JavaScript is handed in by the benchmark script,
 * so the page runs exactly what the runtime panel runs.
 */
import * as tf from '@tensorflow/tfjs';
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

Object.assign(window, { benchForward });
document.getElementById('status')!.textContent = 'ready';
