/**
 * "Measure forward" for the comparison table: the median forward time of a variant at batch 1 on
 * the backend tfjs is using now (the one the Run panel chose; the browser's default order when the
 * Run panel was never opened), with seeded random weights and noise inputs (timestep 500, class 0).
 * Runs the interpreter, which calls the same block kernels the generated module copies, one
 * `tf.tidy` per block. The runtime is imported on first use, like the Run panel's.
 */
import { analyze, graphInputs } from '../graph/analyze';
import type { Graph } from '../graph/model';

export interface MeasureOptions {
  /** Timed runs after one warm-up (default 3). */
  readonly runs?: number;
  /** Called after each pass (warm-up included). */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface Measurement {
  readonly ms: number;
  readonly backend: string;
}

export class MeasureError extends Error {
  override name = 'MeasureError';
}

export async function measureForward(graph: Graph, opts: MeasureOptions = {}): Promise<Measurement> {
  const a = analyze(graph);
  const first = a.problems.find((p) => p.severity === 'error');
  if (first) throw new MeasureError(`"${graph.name}" cannot run: ${first.message}`);
  const runs = Math.max(1, opts.runs ?? 3);
  const [tf, { planGraph, runGraph }, { randomWeights, disposeWeights }, { makeInputs }] = await Promise.all([
    import('@tensorflow/tfjs'),
    import('../runtime/interpreter'),
    import('../runtime/weights'),
    import('../runtime/inputs'),
  ]);
  if (!tf.getBackend()) {
    const { chooseBackend } = await import('../runtime/backend-browser');
    await chooseBackend();
  }
  const plan = planGraph(graph);
  const weights = randomWeights(plan, 0);
  const model = graphInputs(a).map(({ role, info }) => ({ role, dims: info.out?.dims ?? [] }));
  const inputs = makeInputs(model, { batch: 1, noiseSeed: 0, values: { timesteps: 500, y: 0 } });
  const times: number[] = [];
  try {
    for (let i = 0; i <= runs; i++) {
      const s = performance.now();
      const { out } = runGraph(plan, weights, inputs);
      await out.data();
      const ms = performance.now() - s;
      out.dispose();
      if (i > 0) times.push(ms);
      opts.onProgress?.(i + 1, runs + 1);
      // Let the page draw between passes.
      await new Promise((r) => setTimeout(r, 0));
    }
  } finally {
    tf.dispose(Object.values(inputs));
    disposeWeights(weights);
  }
  times.sort((x, y) => x - y);
  const m = times.length >> 1;
  return { ms: times.length % 2 ? times[m] : (times[m - 1] + times[m]) / 2, backend: tf.getBackend() };
}
