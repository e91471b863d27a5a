/**
 * `unet-studio sample graph.json --out OUT.safetensors [...]`: DDPM or DDIM from noise, optionally
 * with classifier-free guidance over the model's conditional inputs (a class label today, a context
 * when that role exists). By default on the fastest backend available: the ONNX export on
 * onnxruntime-node (cli/ort.ts) when it loads and the graph exports, else the graph's generated
 * module (the run panel's session) on tfjs's wasm; `--backend` chooses. The backend used is printed.
 */
import * as tf from '@tensorflow/tfjs';
import { closeSync } from 'node:fs';
import { loadGraph } from './check';
import { args, refuseOverwritingInputs, UsageError, type Io } from './common';
import { readConditioningFile, RuntimeSession, unconditionalSources, type UnconditionalSpec } from '../runtime/session';
import { isNodeBackend, NODE_BACKENDS, useBackend } from '../runtime/backend-node';
import { openRegularFile, readFully, FileError } from '../runtime/file-node';
import { readSafetensorsFile, writeSafetensorsFile } from '../runtime/safetensors-file';
import { toPytorchLayout } from '../runtime/inputs';
import { transpile } from '../runtime/evaluate';
import type { SamplerName, ScheduleName } from '../runtime/diffusion';
import { analyze, graphInputs } from '../graph/analyze';
import { expectedWeights } from '../graph/weights';
import type { Graph } from '../graph/model';
import { BackendError, type NodeBackend } from '../runtime/backend-node';
import { isSamplerRole } from '../runtime/session';
import { parseSafetensors } from '../weights/safetensors';
import { checkStateDict } from '../weights/pytorch';
import { withLegacyNames } from '../weights/legacy';
import { CodegenError } from '../codegen/errors';
import { OrtModel, randomStateDict, sampleWithOrt } from './ort';

function num(name: string, v: string | undefined, fallback: number, ok: (n: number) => boolean, want: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new UsageError(`sample: --${name} takes ${want}, got ${JSON.stringify(v)}`);
  return n;
}

function readBytes(path: string, what: string): Uint8Array {
  const { fd, size } = openRegularFile(path, what);
  try {
    const buf = new Uint8Array(size);
    readFully(fd, buf, 0, () => new FileError(`${what} ${JSON.stringify(path)} became shorter while it was read`));
    return buf;
  } finally {
    closeSync(fd);
  }
}

export async function sampleCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values: v, positionals } = args({
    args: [...argv],
    allowPositionals: true,
    options: {
      weights: { type: 'string' },
      seed: { type: 'string' },
      sampler: { type: 'string', default: 'ddpm' },
      eta: { type: 'string' },
      steps: { type: 'string' },
      'train-steps': { type: 'string' },
      schedule: { type: 'string', default: 'linear' },
      batch: { type: 'string' },
      label: { type: 'string' },
      cond: { type: 'string' },
      guidance: { type: 'string' },
      uncond: { type: 'string' },
      'null-label': { type: 'string' },
      backend: { type: 'string' },
      out: { type: 'string', short: 'o' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('sample: give exactly one graph.json');
  if (!v.out || v.out === '-') throw new UsageError('sample: --out OUT.safetensors is required (a file: .safetensors is binary)');
  const sampler = v.sampler as SamplerName;
  if (sampler !== 'ddpm' && sampler !== 'ddim') throw new UsageError(`sample: --sampler must be ddpm or ddim, got ${JSON.stringify(v.sampler)}`);
  const schedule = v.schedule as ScheduleName;
  if (schedule !== 'linear' && schedule !== 'cosine') throw new UsageError(`sample: --schedule must be linear or cosine, got ${JSON.stringify(v.schedule)}`);
  const requested = v.backend;
  if (requested !== undefined && requested !== 'ort' && !isNodeBackend(requested)) {
    throw new UsageError(`sample: --backend must be one of ort, ${NODE_BACKENDS.join(', ')}, got ${JSON.stringify(requested)}`);
  }
  const isInt = (n: number) => Number.isSafeInteger(n);
  const trainSteps = num('train-steps', v['train-steps'], 1000, (n) => isInt(n) && n >= 1 && n <= 100000, 'a whole number of 1 or more');
  const steps = num('steps', v.steps, Math.min(50, trainSteps), (n) => isInt(n) && n >= 1 && n <= trainSteps, `a whole number from 1 to --train-steps (${trainSteps})`);
  const eta = num('eta', v.eta, 0, (n) => n >= 0, 'a number of 0 or more (0: deterministic)');
  if (v.eta !== undefined && sampler !== 'ddim') throw new UsageError('sample: --eta is for --sampler ddim');
  const seed = num('seed', v.seed, 0, isInt, 'a whole number');
  const batch = num('batch', v.batch, 1, (n) => isInt(n) && n >= 1 && n <= 1024, 'a whole number from 1 to 1024');
  const label = num('label', v.label, 0, isInt, 'a whole number (the class label)');
  const guidance = num('guidance', v.guidance, 1, (n) => n >= 0, 'a number of 0 or more (1: no guidance)');
  const nullLabel = v['null-label'] === undefined ? undefined : num('null-label', v['null-label'], 0, isInt, 'a whole number (the null class label)');
  refuseOverwritingInputs('--out', v.out, [['the graph', positionals[0]], ['--weights', v.weights], ['--cond', v.cond], ['--uncond', v.uncond]]);

  const graph = loadGraph(positionals[0]);
  const plan = analyze(graph);
  if (!plan.ok) throw new UsageError(`sample: the graph has problems; \`unet-studio check ${positionals[0]}\` lists them`);
  const roles = graphInputs(plan).filter(({ role }) => !isSamplerRole(role.role)).map(({ role, info }) => ({ role, dims: info.out!.dims }));
  const valueRoles = roles.filter((m) => m.role.fallback === 'value').map((m) => m.role.role);
  const cond: UnconditionalSpec = {
    ...(v.cond ? { file: readConditioningFile(readSafetensorsFile(v.cond, { source: v.cond }), v.cond) } : {}),
    values: Object.fromEntries(valueRoles.map((r) => [r, label])),
  };
  const uncond: UnconditionalSpec = {
    ...(v.uncond ? { file: readConditioningFile(readSafetensorsFile(v.uncond, { source: v.uncond }), v.uncond) } : {}),
    values: nullLabel === undefined ? {} : Object.fromEntries(valueRoles.map((r) => [r, nullLabel])),
  };
  if (guidance !== 1) {
    if (roles.length === 0) throw new UsageError('sample: --guidance needs a model with a conditional input (a class label or a context); this one has none');
    for (const s of unconditionalSources(roles, uncond)) {
      if (s.source === 'zeros') io.err(`note: the unconditional ${s.label} is zeros (no --uncond file has it)\n`);
      if (s.source === 'missing') throw new UsageError(`sample: --guidance needs the unconditional ${s.label}: give --null-label L (the null class the model was trained with) or --uncond U.safetensors`);
    }
  }
  const info = [...plan.info.values()];
  const xInfo = info.find((i) => i.def.io === 'x')?.out?.dims;
  const inC = xInfo?.[0];
  const outC = info.find((i) => i.def.io === 'output')?.inputs.x?.shape?.dims[0];
  const learnedSigma = inC !== undefined && outC === 2 * inC;
  const weightBytes = v.weights ? readBytes(v.weights, 'weights file') : null;

  const writeOut = async (out: tf.Tensor4D, backend: string, t0: number): Promise<number> => {
    const nchw = toPytorchLayout(out);
    const data = (await nchw.data()) as Float32Array;
    const shape = nchw.shape;
    tf.dispose([out, nchw]);
    writeSafetensorsFile(v.out!, { out: { dtype: 'F32', shape, data } }, {
      producer: 'unet-studio sample', backend, sampler, steps: String(steps), seed: String(seed), guidance: String(guidance), ...(sampler === 'ddim' ? { eta: String(eta) } : {}),
    });
    io.err(`out [${shape.join(', ')}] (${sampler}, ${steps} of ${trainSteps} steps${guidance !== 1 ? `, guidance ${guidance}` : ''}) on ${backend} in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${v.out}\n`);
    return 0;
  };
  const choice = await chooseBackend(graph, requested, {
    // What the ONNX Runtime path cannot take yet: conditioning files, and inputs other than x, timesteps and a class label.
    files: v.cond !== undefined || v.uncond !== undefined,
    roles: roles.map((m) => m.role.role),
  }, weightBytes, v.weights, seed);
  io.err(`backend: ${choice.backend}${choice.why ? ` (${choice.why})` : ''}\n`);
  if (choice.ort) {
    const model = choice.ort;
    try {
      const t0 = performance.now();
      let last = t0;
      const out = await sampleWithOrt(model, [xInfo![1], xInfo![2], xInfo![0]], {
        schedule, trainSteps, steps, seed, batch, learnedSigma, sampler, eta, label,
        ...(guidance !== 1 ? { guidance: { scale: guidance, nullLabel: nullLabel! } } : {}),
        onStep: (done, total) => {
          const now = performance.now();
          if (now - last > 2000 || done === total) io.err(`step ${done}/${total}, ${((now - t0) / 1000).toFixed(1)} s\n`);
          if (now - last > 2000) last = now;
        },
      });
      return await writeOut(out, 'ort', t0);
    } finally {
      await model.dispose();
    }
  }
  const backend = choice.backend as NodeBackend;
  const session = new RuntimeSession();
  try {
    const { generateModule } = await import('../codegen/targets/tfjs/generate');
    const { readSources } = await import('../codegen/targets/tfjs/sources-node');
    const mod = generateModule(graph, readSources());
    session.setModule(graph, transpile(mod.text), mod.className, mod.inputs);
    if (v.weights) {
      session.setWeights({ kind: 'file', name: v.weights, bytes: weightBytes! });
      if (session.mismatch) throw session.mismatch; // strict, as `run`: a file that does not fit is an error here
    } else {
      session.setWeights({ kind: 'random', seed });
    }
    await useBackend(backend);
    const t0 = performance.now();
    let last = t0;
    const out = await session.sample({
      schedule, trainSteps, steps, seed, label, batch, learnedSigma, sampler, eta, cond,
      ...(guidance !== 1 ? { guidance: { scale: guidance, uncond } } : {}),
      onStep: (done, total) => {
        const now = performance.now();
        if (now - last > 2000 || done === total) io.err(`step ${done}/${total}, ${((now - t0) / 1000).toFixed(1)} s\n`);
        if (now - last > 2000) last = now;
      },
    });
    return await writeOut(out!, backend, t0);
  } finally {
    session.dispose();
  }
}

interface BackendChoice {
  readonly backend: 'ort' | NodeBackend;
  /** Why this one (printed beside it). */
  readonly why: string;
  /** The started model when the backend is ort. */
  readonly ort?: OrtModel;
}

/**
 * `--backend` as given, or the fastest available: ONNX Runtime (onnxruntime-node, native CPU
 * kernels, several times tfjs's speed) when it is installed and the graph exports to ONNX, else
 * tfjs's wasm (SIMD; faster than cpu). The weights are checked against the graph either way.
 */
async function chooseBackend(
  graph: Graph,
  requested: string | undefined,
  needs: { readonly files: boolean; readonly roles: readonly string[] },
  weightBytes: Uint8Array | null,
  weightsName: string | undefined,
  seed: number,
): Promise<BackendChoice> {
  if (requested !== undefined && requested !== 'ort') return { backend: requested as NodeBackend, why: 'as asked' };
  const other = needs.roles.filter((r) => r !== 'y');
  const unsupported = needs.files
    ? 'the ONNX Runtime path takes no --cond/--uncond files yet'
    : other.length > 0
      ? `the ONNX Runtime path feeds only the image, the timesteps and a class label; this model also takes ${other.join(', ')}`
      : null;
  if (requested === 'ort' && unsupported) throw new UsageError(`sample: --backend ort: ${unsupported}; use --backend wasm`);
  if (unsupported) return { backend: 'wasm', why: unsupported };
  const weights = (() => {
    if (!weightBytes) return randomStateDict(graph, seed);
    const file = parseSafetensors(weightBytes, { source: weightsName });
    const expected = expectedWeights(analyze(graph));
    checkStateDict(expected, withLegacyNames(expected.map((w) => w.fullKey), new Map([...file.tensors].map(([k, t]) => [k, t.shape]))), weightsName!);
    return file;
  })();
  try {
    return { backend: 'ort', why: requested === 'ort' ? 'onnxruntime-node, CPU, as asked' : 'onnxruntime-node, CPU: the fastest available', ort: await OrtModel.create(graph, weights) };
  } catch (e) {
    if (requested === 'ort') throw e;
    if (e instanceof BackendError) return { backend: 'wasm', why: 'onnxruntime-node is not installed (npm install onnxruntime-node for the fastest backend)' };
    if (e instanceof CodegenError) return { backend: 'wasm', why: `the graph does not export to ONNX: ${e.message.split('\n')[0]}` };
    throw e;
  }
}
