/** `unet-studio run graph.json --weights W --inputs IO [--backend B] --out OUT`: one forward pass. */
import * as tf from '@tensorflow/tfjs';
import { withImageSize } from '../graph/edit';
import { planGraph, runGraph } from '../runtime/interpreter';
import { isNodeBackend, NODE_BACKENDS, useBackend } from '../runtime/backend-node';
import { toFloat32, type SafetensorsFile } from '../runtime/safetensors';
import { openSafetensors, writeSafetensorsFile, type SafetensorsReader } from '../runtime/safetensors-file';
import { checkStateDict, disposeWeights, expectedWeights, loadWeights } from '../runtime/weights';
import { describeKind, existingTarget, FileError } from '../runtime/file-node';
import { loadGraph } from './check';
import type { Graph } from '../graph/model';
import type { Analysis } from '../graph/analyze';
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { args, refuseOverwritingInputs, UsageError, type Io } from './main';

export class InputError extends Error {
  override name = 'InputError';
}

/** Reads `x` (NCHW float), `timesteps` and `y` (any int/float dtype) from an inputs file. */
export function readInputs(file: SafetensorsFile, source: string): { x: { data: Float32Array; shape: number[] }; timesteps?: Float32Array; y?: Float32Array } {
  const x = file.tensors.get('x');
  if (!x) throw new InputError(`${source} has no tensor "x" (the input image, NCHW); it has: ${[...file.tensors.keys()].slice(0, 12).join(', ') || 'nothing'}`);
  if (x.shape.length !== 4) throw new InputError(`${source}: "x" must be NCHW (4 dimensions), got shape [${x.shape.join(', ')}]`);
  const vec = (name: string): Float32Array | undefined => {
    const t = file.tensors.get(name);
    if (!t) return undefined;
    if (t.shape.length !== 1 || t.shape[0] !== x.shape[0]) {
      throw new InputError(`${source}: "${name}" must have shape [${x.shape[0]}] (one per sample), got [${t.shape.join(', ')}]`);
    }
    return toFloat32(t);
  };
  const timesteps = vec('timesteps');
  const y = vec('y');
  return { x: { data: toFloat32(x), shape: [...x.shape] }, ...(timesteps ? { timesteps } : {}), ...(y ? { y } : {}) };
}

export async function runCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args({
    args: [...argv],
    allowPositionals: true,
    options: {
      weights: { type: 'string' },
      inputs: { type: 'string' },
      backend: { type: 'string', default: 'cpu' },
      out: { type: 'string', short: 'o' },
      via: { type: 'string', default: 'interpreter' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('run: give exactly one graph.json');
  if (!values.weights) throw new UsageError('run: --weights W.safetensors is required');
  if (!values.inputs) throw new UsageError('run: --inputs IO.safetensors is required');
  if (!values.out) throw new UsageError('run: --out OUT.safetensors is required');
  const backend = values.backend ?? 'cpu';
  const via = values.via ?? 'interpreter';
  if (via !== 'interpreter' && via !== 'codegen') throw new UsageError(`run: --via must be interpreter or codegen, got ${JSON.stringify(via)}`);
  if (!isNodeBackend(backend)) throw new UsageError(`run: --backend must be one of ${NODE_BACKENDS.join(', ')}, got ${JSON.stringify(backend)}`);

  refuseOverwritingInputs('--out', values.out, [['the graph', positionals[0]], ['--weights', values.weights], ['--inputs', values.inputs]]);
  checkWritable(values.out);

  // Tensor by tensor from the files: only x, timesteps and y of the inputs are read, and the weights
  // are checked against the graph by name and shape before any of their data is.
  const inputsFile = openSafetensors(values.inputs, { source: values.inputs });
  let inputs: ReturnType<typeof readInputs>;
  try {
    inputs = readInputs(inputsFile.lazy(), values.inputs);
  } finally {
    inputsFile.close();
  }
  const [, , h, w] = inputs.x.shape;
  const graph = withImageSize(loadGraph(positionals[0]), h, w);
  const plan = planGraph(graph);
  const weightsFile = openSafetensors(values.weights, { source: values.weights });
  try {
    checkStateDict(expectedWeights(plan), new Map([...weightsFile.lazy().tensors].map(([k, t]) => [k, t.shape])), values.weights);
    await useBackend(backend);
    if (via === 'codegen') return await runGenerated(graph, plan, weightsFile, inputs, backend, values.out, io);
    return await runInterpreted(plan, weightsFile, inputs, backend, values.out, io);
  } finally {
    weightsFile.close();
  }
}

/** Refuses, before any work, an output the run could not write at the end: a missing or read-only folder, or a device, FIFO or folder as the output. */
function checkWritable(out: string): void {
  if (out === '-') throw new UsageError('run: --out must name a file (.safetensors is binary; it is not written to stdout)');
  const target = existingTarget(out);
  if (target && !target.st.isFile()) throw new FileError(`cannot write ${JSON.stringify(out)}: it is ${describeKind(target.st)}, not a regular file`);
  const dir = dirname(target?.real ?? resolve(out));
  try {
    if (!statSync(dir).isDirectory()) throw new FileError(`cannot write ${JSON.stringify(out)}: ${JSON.stringify(dir)} is not a folder`);
    accessSync(dir, constants.W_OK);
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw new FileError(`cannot write ${JSON.stringify(out)}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (the folder ${JSON.stringify(dir)})`);
  }
}

async function runInterpreted(plan: Analysis, weightsFile: SafetensorsReader, inputs: ReturnType<typeof readInputs>, backend: string, outPath: string, io: Io): Promise<number> {
  const weights = loadWeights(plan, weightsFile.lazy(), weightsFile.source);
  try {
    const x = tf.tidy(() => tf.transpose(tf.tensor4d(inputs.x.data, inputs.x.shape as [number, number, number, number]), [0, 2, 3, 1]));
    const t = inputs.timesteps ? tf.tensor1d(inputs.timesteps) : undefined;
    const y = inputs.y ? tf.tensor1d(inputs.y) : undefined;
    const start = performance.now();
    let out: tf.Tensor4D;
    try {
      out = runGraph(plan, weights, { x, ...(t ? { timesteps: t } : {}), ...(y ? { y } : {}) }).out;
    } catch (e) {
      // Input/graph mismatches found while feeding are the user's to fix.
      throw new InputError(e instanceof Error ? e.message : String(e));
    } finally {
      tf.dispose([x, ...(t ? [t] : []), ...(y ? [y] : [])]);
    }
    const nchw = tf.transpose(out, [0, 3, 1, 2]);
    const data = (await nchw.data()) as Float32Array;
    const ms = performance.now() - start;
    const shape = nchw.shape;
    tf.dispose([out, nchw]);
    writeSafetensorsFile(outPath, { out: { dtype: 'F32', shape, data } }, { producer: 'unet-studio', backend });
    io.err(`out [${shape.join(', ')}] on ${backend} in ${ms.toFixed(1)} ms → ${outPath}\n`);
  } finally {
    disposeWeights(weights);
  }
  return 0;
}

/** `--via codegen`: generate the module, type-check it, compile it in memory and run that. */
async function runGenerated(
  graph: Graph,
  plan: Analysis,
  weightsFile: SafetensorsReader,
  inputs: ReturnType<typeof readInputs>,
  backend: string,
  outPath: string,
  io: Io,
): Promise<number> {
  const { generateModule } = await import('../codegen/generate');
  const { readSources } = await import('../codegen/sources-node');
  const { typecheckModule } = await import('../codegen/typecheck');
  const { loadModule } = await import('../codegen/evaluate');
  const mod = generateModule(graph, readSources());
  const diagnostics = typecheckModule(mod.text);
  if (diagnostics.length > 0) {
    throw new InputError(`the generated module has ${diagnostics.length} type error(s):\n${diagnostics.map((d) => `  line ${d.line}: ${d.message}`).join('\n')}`);
  }
  // The module's own strict loader, fed one tensor at a time from the file (keys and shapes were checked).
  const given: Record<string, tf.Tensor> = {};
  let model: ReturnType<ReturnType<typeof loadModule>['fromTensors']>;
  try {
    for (const w of expectedWeights(plan)) {
      const t = weightsFile.read(w.fullKey);
      given[w.fullKey] = tf.tensor(toFloat32(t), [...t.shape], 'float32');
    }
    model = loadModule(mod.text, mod.className).fromTensors(given, weightsFile.source);
  } finally {
    tf.dispose(Object.values(given));
  }
  try {
    const x = tf.tidy(() => tf.transpose(tf.tensor4d(inputs.x.data, inputs.x.shape as [number, number, number, number]), [0, 2, 3, 1]));
    const byRole: Record<string, tf.Tensor | undefined> = {
      x,
      timesteps: inputs.timesteps ? tf.tensor1d(inputs.timesteps) : undefined,
      y: inputs.y ? tf.tensor1d(inputs.y) : undefined,
    };
    const missing = mod.inputs.filter((r) => !byRole[r]);
    if (missing.length > 0) throw new InputError(`the graph needs "${missing.join('", "')}", which the inputs file does not have`);
    const start = performance.now();
    const out = model.forward(...mod.inputs.map((r) => byRole[r]!));
    const nchw = tf.transpose(out, [0, 3, 1, 2]);
    const data = (await nchw.data()) as Float32Array;
    const ms = performance.now() - start;
    const shape = nchw.shape;
    tf.dispose([out, nchw, ...Object.values(byRole).filter((t): t is tf.Tensor => t !== undefined)]);
    writeSafetensorsFile(outPath, { out: { dtype: 'F32', shape, data } }, { producer: 'unet-studio (generated module)', backend });
    io.err(`out [${shape.join(', ')}] on ${backend} via the generated ${mod.className} in ${ms.toFixed(1)} ms → ${outPath}\n`);
  } finally {
    model.dispose();
  }
  return 0;
}
