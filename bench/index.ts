/**
 * `npm run bench`: forward time of the benchmark models on the Node backends (median of ≥10 runs
 * after warm-up), their GFLOP and GFLOP/s, and the time to check a 1,000-node graph; then the
 * browser rows (bench/browser.ts, bench/canvas.ts), and Stable Diffusion 1.x's UNet on wasm
 * (bench/sd.ts), and last "app vs ONNX Runtime" (bench/ort.ts: the generated module on tfjs-wasm
 * beside onnxruntime-web in Chromium with 1 and 2 threads, and beside onnxruntime-node and
 * onnxruntime-web in Node; its own table). `--node-only`: no browser; `--ui`: only the editor's
 * browser rows (start, Open, dragging, groups); `--sd`: only the Stable Diffusion rows; `--no-sd`:
 * all but them; `--ort`: only the ONNX Runtime comparison (with `--node-only`: its Node rows).
 */
import * as tf from '@tensorflow/tfjs';
import { pathToFileURL } from 'node:url';
import { analyze, countFlops, inferShapes, validate } from '../graph/analyze';
import { iddpm, type IddpmKwargs } from '../graph/templates';
import { planGraph, runGraph } from '../runtime/interpreter';
import { useBackend, type NodeBackend } from '../runtime/backend-node';
import { disposeWeights, randomWeights } from '../runtime/weights';
import { IDDPM_64, IDDPM_CIFAR10, IDDPM_SMALL } from './configs';
import { largeGraph } from './large-graph';

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const fmt = (r: readonly string[]) => `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ')} |`;
  return [fmt(rows[0]), `|${widths.map((w, c) => (c === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.slice(1).map(fmt)].join('\n');
}

interface ForwardResult {
  readonly ms: number;
  readonly gflop: number;
  readonly runs: number;
}

/** Median forward time at batch 1, after warm-up; the tensor count must not grow. */
export async function timeForward(kwargs: IddpmKwargs, size: number, backend: NodeBackend, runs = 10, warmup = 3): Promise<ForwardResult> {
  await useBackend(backend);
  const plan = planGraph(iddpm(kwargs, size));
  const weights = randomWeights(plan, 1);
  const x = tf.randomNormal([1, size, size, kwargs.in_channels]) as tf.Tensor4D;
  const t = tf.tensor1d([500]);
  const times: number[] = [];
  const before = tf.memory().numTensors;
  for (let i = 0; i < warmup + runs; i++) {
    const s = performance.now();
    const { out } = runGraph(plan, weights, { x, timesteps: t });
    await out.data();
    const ms = performance.now() - s;
    out.dispose();
    if (i >= warmup) times.push(ms);
  }
  if (tf.memory().numTensors !== before) throw new Error(`tensor leak: ${tf.memory().numTensors - before} tensors`);
  tf.dispose([x, t]);
  disposeWeights(weights);
  return { ms: median(times), gflop: countFlops(analyze(iddpm(kwargs, size))) / 1e9, runs };
}

/**
 * validate + inferShapes of a ~1,000-node graph: median of 200 after 20 warm-ups. Each iteration
 * checks a fresh graph object, so the per-graph analysis cache never answers.
 */
export function timeChecking(): { nodes: number; ms: number; runs: number } {
  const g = largeGraph(1000);
  const times: number[] = [];
  for (let i = 0; i < 220; i++) {
    const fresh = { ...g };
    const s = performance.now();
    const problems = validate(fresh);
    const shapes = inferShapes(fresh);
    const ms = performance.now() - s;
    if (problems.some((p) => p.severity === 'error') || shapes.size !== g.nodes.length) throw new Error('large graph is invalid');
    if (i >= 20) times.push(ms);
  }
  return { nodes: g.nodes.length, ms: median(times), runs: times.length };
}

export async function benchCommand(_argv: readonly string[], io: Io): Promise<number> {
  const rows: string[][] = [['benchmark', 'backend', 'median ms', 'GFLOP', 'GFLOP/s', 'runs']];
  if (_argv.includes('--ui')) {
    // The editor's rows alone (app start, Open of a big graph, dragging, groups): no forward passes.
    const { browserBench } = await import('./browser');
    rows.push(...(await browserBench(io.err, { forward: false })));
    io.out(`${table(rows)}\n`);
    return 0;
  }
  if (_argv.includes('--ort')) {
    const { ortBench } = await import('./ort');
    io.out(`app vs ONNX Runtime\n${table(await ortBench(io.err, { browser: !_argv.includes('--node-only') }))}\n`);
    return 0;
  }
  if (_argv.includes('--sd')) {
    const { sdBench } = await import('./sd');
    rows.push(...(await sdBench(io.err)));
    io.out(`${table(rows)}\n`);
    return 0;
  }
  const models: [string, IddpmKwargs, number][] = [
    ['iddpm-small 16×16, batch 1', IDDPM_SMALL, 16],
    ['iDDPM 64ch 32×32, batch 1', IDDPM_64, 32],
  ];
  for (const [label, kwargs, size] of models) {
    for (const backend of ['cpu', 'wasm'] as const) {
      io.err(`… ${label} on ${backend}\n`);
      const r = await timeForward(kwargs, size, backend, backend === 'cpu' ? 10 : 20);
      rows.push([label, backend, r.ms.toFixed(1), r.gflop.toFixed(3), (r.gflop / (r.ms / 1000)).toFixed(1), String(r.runs)]);
    }
  }
  const c = timeChecking();
  rows.push([`validate + inferShapes, ${c.nodes} nodes`, '-', c.ms.toFixed(2), '-', '-', String(c.runs)]);
  rows.push(...(await import('./compare')).compareBench(median));
  for (const r of await codegenBench()) rows.push(r);
  if (!_argv.includes('--no-sd')) {
    const { sdBench } = await import('./sd');
    rows.push(...(await sdBench(io.err)));
  }
  if (!_argv.includes('--node-only')) {
    const { browserBench } = await import('./browser');
    rows.push(...(await browserBench(io.err)));
  }
  io.out(`${table(rows)}\n`);
  const { ortBench } = await import('./ort');
  io.out(`\napp vs ONNX Runtime\n${table(await ortBench(io.err, { browser: !_argv.includes('--node-only') }))}\n`);
  return 0;
}

/**
 * Generating and type-checking the iDDPM CIFAR-10 module: the first time in a process (ts-morph
 * and tfjs's .d.ts load then) and warm (median of 5, what the editor's worker sees after its first).
 */
async function codegenBench(): Promise<string[][]> {
  const { generateModule } = await import('../codegen/targets/tfjs/generate');
  const { readSources } = await import('../codegen/targets/tfjs/sources-node');
  const { typecheckModule } = await import('../codegen/targets/tfjs/typecheck');
  const graph = iddpm(IDDPM_CIFAR10, 32);
  const once = () => {
    const s0 = performance.now();
    const text = generateModule({ ...graph }, readSources()).text;
    const s1 = performance.now();
    const d = typecheckModule(text);
    const s2 = performance.now();
    if (d.length > 0) throw new Error(`CIFAR-10 module has type errors: ${d[0].message}`);
    return [s1 - s0, s2 - s1];
  };
  const [gen0, chk0] = once();
  const warm = Array.from({ length: 5 }, once);
  const gen = median(warm.map((w) => w[0]));
  const chk = median(warm.map((w) => w[1]));
  return [
    ['codegen, iDDPM CIFAR-10 (first)', '-', gen0.toFixed(0), '-', '-', '1'],
    ['type-check, iDDPM CIFAR-10 (first)', '-', chk0.toFixed(0), '-', '-', '1'],
    ['codegen + type-check (first)', '-', (gen0 + chk0).toFixed(0), '-', '-', '1'],
    ['codegen, iDDPM CIFAR-10 (warm)', '-', gen.toFixed(0), '-', '-', '5'],
    ['type-check, iDDPM CIFAR-10 (warm)', '-', chk.toFixed(0), '-', '-', '5'],
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await benchCommand(process.argv.slice(2), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
}
