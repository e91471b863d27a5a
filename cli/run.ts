/** `unet-studio run graph.json --weights W --inputs IO [--backend B] --out OUT`: one forward pass. */
import * as tf from '@tensorflow/tfjs';
import { withImageSize } from '../graph/edit';
import { planGraph, runGraph, type GraphInputs } from '../runtime/interpreter';
import { InputsError, makeInputs, readInputsFile, toPytorchLayout, type InputsFile } from '../runtime/inputs';
import { isNodeBackend, NODE_BACKENDS, useBackend } from '../runtime/backend-node';
import { toFloat32 } from '../weights/safetensors';
import { openSafetensors, writeSafetensorsFile, type SafetensorsReader } from '../runtime/safetensors-file';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { expectedWeights } from '../graph/weights';
import { checkStateDict } from '../weights/pytorch';
import { checkpointNote, legacyKeyRenames, withLegacyNames } from '../weights/legacy';
import { describeKind, existingTarget, FileError } from '../runtime/file-node';
import { loadGraph } from './check';
import type { Graph } from '../graph/model';
import { graphInputs, nodeFlops, type Analysis } from '../graph/analyze';
import { accessSync, constants, statSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { estimateCost, formatBytes, formatSeconds, type CostEstimate } from '../graph/estimate';
import { gateRun } from '../runtime/gate';
import { backendLimits, measureRate } from '../runtime/rate';
import { dirname, resolve } from 'node:path';
import { args, refuseOverwritingInputs, UsageError, type Io } from './common';

export class InputError extends Error {
  override name = 'InputError';
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
      'progress-every': { type: 'string', default: '2' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('run: give exactly one graph.json');
  if (!values.weights) throw new UsageError('run: --weights W.safetensors is required');
  if (!values.inputs) throw new UsageError('run: --inputs IO.safetensors is required');
  if (!values.out) throw new UsageError('run: --out OUT.safetensors is required');
  const backend = values.backend ?? 'cpu';
  const via = values.via ?? 'interpreter';
  if (via !== 'interpreter' && via !== 'codegen') throw new UsageError(`run: --via must be interpreter or codegen, got ${JSON.stringify(via)}`);
  if (!isNodeBackend(backend) && backend !== 'ort') throw new UsageError(`run: --backend must be one of ${[...NODE_BACKENDS, 'ort'].join(', ')}, got ${JSON.stringify(backend)}`);
  if (backend === 'ort' && via !== 'interpreter') throw new UsageError('run: --via is for the tfjs backends; --backend ort runs the ONNX export');
  const progressEvery = Number(values['progress-every']);
  if (!(progressEvery >= 0)) throw new UsageError(`run: --progress-every takes seconds (0 or more), got ${JSON.stringify(values['progress-every'])}`);

  refuseOverwritingInputs('--out', values.out, [['the graph', positionals[0]], ['--weights', values.weights], ['--inputs', values.inputs]]);
  checkWritable(values.out);

  // Tensor by tensor from the files: only x, timesteps and y of the inputs are read, and the weights
  // are checked against the graph by name and shape before any of their data is.
  const inputsFile = openSafetensors(values.inputs, { source: values.inputs });
  let inputs: InputsFile;
  try {
    inputs = readInputsFile(inputsFile.lazy(), values.inputs);
  } catch (e) {
    throw e instanceof InputsError ? new InputError(e.message) : e;
  } finally {
    inputsFile.close();
  }
  const [, , h, w] = inputs.inputs.x!.shape;
  const graph = withImageSize(loadGraph(positionals[0]), h, w);
  const plan = planGraph(graph);
  const weightsFile = openSafetensors(values.weights, { source: values.weights });
  try {
    const expected = expectedWeights(plan);
    // Legacy names (diffusers' old attention keys) count as today's, and a whole checkpoint's UNet is
    // read from under its prefix, as every loader reads them (weights/legacy.ts).
    checkStateDict(expected, withLegacyNames(expected.map((w) => w.fullKey), new Map([...weightsFile.lazy().tensors].map(([k, t]) => [k, t.shape]))), values.weights);
    const note = checkpointNote(expected.map((w) => w.fullKey), weightsFile.lazy().tensors.keys());
    if (note !== null) io.err(`${values.weights}: ${note}\n`);
    if (backend === 'ort') return await runOrt(graph, plan, weightsFile, inputs, values.out, io);
    await useBackend(backend);
    const est = await announce(plan, inputs.batch, backend, io);
    if (via === 'codegen') return await runGenerated(graph, plan, weightsFile, inputs, backend, values.out, io);
    return await runInterpreted(plan, weightsFile, inputs, backend, values.out, io, () => progressLine(plan, est, progressEvery, io));
  } finally {
    weightsFile.close();
  }
}

/** The graph's inputs from the file alone (nothing made up: a missing one is named when the model runs). */
function fileInputs(plan: Analysis, inputs: InputsFile): GraphInputs {
  try {
    return makeInputs(graphInputs(plan).map(({ role, info }) => ({ role, dims: info.out!.dims })), { file: inputs, batch: inputs.batch, noiseSeed: 0, noNoise: true });
  } catch (e) {
    throw e instanceof InputsError ? new InputError(e.message) : e;
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

/**
 * Before any weight is loaded: the estimate (weights, peak activations, GFLOP and the expected time
 * at this backend's measured rate) on stderr, and a refusal when the backend cannot hold the run.
 */
async function announce(plan: Analysis, batch: number, backend: string, io: Io): Promise<CostEstimate> {
  const est = estimateCost(plan, batch);
  const rate = await measureRate();
  // The run panel's gate (runtime/gate.ts) decides; a CLI run never asks, it only refuses.
  const gate = gateRun(est, backendLimits(totalmem()), rate);
  io.err(`estimate: ${gate.summary} (measured ${rate.toFixed(1)} GFLOP/s), batch ${batch}\n`);
  if (gate.kind === 'refuse') {
    throw new InputError(`this run cannot be done on ${backend}:\n${gate.problems.map((p) => `  ${p}`).join('\n')}\n(a smaller batch or image, or another --backend, may fit)`);
  }
  const need = est.weightBytes + est.peakActivationBytes;
  if (need > freemem()) io.err(`warning: the run needs about ${formatBytes(need)} and ${formatBytes(freemem())} of memory is free now\n`);
  return est;
}

/**
 * Started when the forward pass starts: a progress line on stderr at most every `every` seconds
 * while blocks run (0: after every block): blocks done, share of the FLOPs done, time so far and,
 * once 2% is done, the time left at the pace so far.
 */
function progressLine(plan: Analysis, est: CostEstimate, every: number, io: Io): (index: number, id: string) => void {
  const flopsUpTo: number[] = [];
  let sum = 0;
  for (const id of plan.order) {
    sum += nodeFlops(plan.info.get(id)!);
    flopsUpTo.push(sum);
  }
  const start = performance.now();
  let last = start;
  const total = plan.order.length;
  return (index, id) => {
    const now = performance.now();
    if ((now - last) / 1000 < every || index === total - 1) return;
    last = now;
    const share = sum > 0 ? flopsUpTo[index] / sum : (index + 1) / total;
    const elapsed = (now - start) / 1000;
    const left = share >= 0.02 ? (elapsed / share) * (1 - share) : null;
    const name = plan.info.get(id)!.node.name;
    io.err(
      `progress: block ${index + 1}/${total} ${JSON.stringify(name.length > 60 ? `${name.slice(0, 59)}…` : name)}, ` +
        `${(share * 100).toFixed(share < 0.1 || share > 0.99 ? 1 : 0)}% of ${(est.flops / 1e9).toFixed(2)} GFLOP, ${formatSeconds(elapsed)} so far` +
        `${left !== null ? `, about ${formatSeconds(left)} left` : ''}\n`,
    );
  };
}

async function runInterpreted(
  plan: Analysis,
  weightsFile: SafetensorsReader,
  inputs: InputsFile,
  backend: string,
  outPath: string,
  io: Io,
  startProgress: () => (index: number, id: string) => void,
): Promise<number> {
  const weights = loadWeights(plan, weightsFile.lazy(), weightsFile.source);
  try {
    const start = performance.now();
    let out: tf.Tensor4D;
    let ins: GraphInputs = {};
    try {
      ins = fileInputs(plan, inputs);
      const onBlock = startProgress();
      out = runGraph(plan, weights, ins, { onBlock }).out;
    } catch (e) {
      // Input/graph mismatches found while feeding are the user's to fix.
      throw new InputError(e instanceof Error ? e.message : String(e));
    } finally {
      tf.dispose(Object.values(ins));
    }
    const nchw = toPytorchLayout(out);
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

/**
 * `--backend ort`: the graph exported to ONNX in memory with the file's weights (checked strictly
 * by the export, as by a load), run once by onnxruntime-node on the inputs as the file gives them
 * (NCHW, like PyTorch).
 */
async function runOrt(graph: Graph, plan: Analysis, weightsFile: SafetensorsReader, inputs: InputsFile, outPath: string, io: Io): Promise<number> {
  const { OrtModel } = await import('./ort');
  const est = estimateCost(plan, inputs.batch);
  io.err(`estimate: ${(est.flops / 1e9).toFixed(2)} GFLOP, weights ${formatBytes(est.weightBytes)}, batch ${inputs.batch} (ONNX Runtime, CPU)\n`);
  const model = await OrtModel.create(graph, weightsFile.lazy());
  try {
    const missing = model.inputs.filter((r) => !inputs.inputs[r as keyof typeof inputs.inputs]);
    if (missing.length > 0) throw new InputError(`the graph needs "${missing.join('", "')}", which the inputs file does not have`);
    const start = performance.now();
    const out = await model.run(inputs.inputs);
    const ms = performance.now() - start;
    writeSafetensorsFile(outPath, { out: { dtype: 'F32', shape: out.shape, data: out.data } }, { producer: 'unet-studio (ONNX export)', backend: 'ort' });
    io.err(`out [${out.shape.join(', ')}] on ort (onnxruntime-node, CPU) in ${ms.toFixed(1)} ms → ${outPath}\n`);
  } finally {
    await model.dispose();
  }
  return 0;
}

/** `--via codegen`: generate the module, type-check it, compile it in memory and run that. */
async function runGenerated(
  graph: Graph,
  plan: Analysis,
  weightsFile: SafetensorsReader,
  inputs: InputsFile,
  backend: string,
  outPath: string,
  io: Io,
): Promise<number> {
  const { generateModule } = await import('../codegen/targets/tfjs/generate');
  const { readSources } = await import('../codegen/targets/tfjs/sources-node');
  const { typecheckModule } = await import('../codegen/targets/tfjs/typecheck');
  const { loadModule } = await import('../runtime/evaluate');
  const mod = generateModule(graph, readSources());
  const diagnostics = typecheckModule(mod.text);
  if (diagnostics.length > 0) {
    throw new InputError(`the generated module has ${diagnostics.length} type error(s):\n${diagnostics.map((d) => `  line ${d.line}: ${d.message}`).join('\n')}`);
  }
  // The module's own strict loader, fed one tensor at a time from the file (keys and shapes were checked).
  const given: Record<string, tf.Tensor> = {};
  let model: ReturnType<ReturnType<typeof loadModule>['fromTensors']>;
  const expected = expectedWeights(plan);
  // Today's name → the file's (a legacy name where the file has one).
  const fileKey = new Map([...legacyKeyRenames(expected.map((w) => w.fullKey), weightsFile.lazy().tensors.keys())].map(([old, now]) => [now, old]));
  try {
    for (const w of expected) {
      const t = weightsFile.read(fileKey.get(w.fullKey) ?? w.fullKey);
      given[w.fullKey] = tf.tensor(toFloat32(t), [...t.shape], 'float32');
    }
    model = loadModule(mod.text, mod.className).fromTensors(given, weightsFile.source);
  } finally {
    tf.dispose(Object.values(given));
  }
  try {
    const byRole = fileInputs(plan, inputs);
    const missing = mod.inputs.filter((r) => !byRole[r]);
    if (missing.length > 0) {
      tf.dispose(Object.values(byRole));
      throw new InputError(`the graph needs "${missing.join('", "')}", which the inputs file does not have`);
    }
    const start = performance.now();
    const out = model.forward(...mod.inputs.map((r) => byRole[r]!));
    const nchw = toPytorchLayout(out);
    const data = (await nchw.data()) as Float32Array;
    const ms = performance.now() - start;
    const shape = nchw.shape;
    tf.dispose([out, nchw, ...Object.values(byRole)]);
    writeSafetensorsFile(outPath, { out: { dtype: 'F32', shape, data } }, { producer: 'unet-studio (generated module)', backend });
    io.err(`out [${shape.join(', ')}] on ${backend} via the generated ${mod.className} in ${ms.toFixed(1)} ms → ${outPath}\n`);
  } finally {
    model.dispose();
  }
  return 0;
}
