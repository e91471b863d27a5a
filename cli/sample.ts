/**
 * `unet-studio sample graph.json --out OUT.safetensors [...]`: DDPM or DDIM from noise with the
 * graph's generated module (the run panel's session), optionally with classifier-free guidance over
 * the model's conditional inputs (a class label today, a context when that role exists).
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
import { analyze } from '../graph/analyze';

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
      backend: { type: 'string', default: 'cpu' },
      out: { type: 'string', short: 'o' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('sample: give exactly one graph.json');
  if (!v.out || v.out === '-') throw new UsageError('sample: --out OUT.safetensors is required (a file: .safetensors is binary)');
  const sampler = v.sampler as SamplerName;
  if (sampler !== 'ddpm' && sampler !== 'ddim') throw new UsageError(`sample: --sampler must be ddpm or ddim, got ${JSON.stringify(v.sampler)}`);
  const schedule = v.schedule as ScheduleName;
  if (schedule !== 'linear' && schedule !== 'cosine') throw new UsageError(`sample: --schedule must be linear or cosine, got ${JSON.stringify(v.schedule)}`);
  const backend = v.backend ?? 'cpu';
  if (!isNodeBackend(backend)) throw new UsageError(`sample: --backend must be one of ${NODE_BACKENDS.join(', ')}, got ${JSON.stringify(backend)}`);
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
  const session = new RuntimeSession();
  try {
    const { generateModule } = await import('../codegen/targets/tfjs/generate');
    const { readSources } = await import('../codegen/targets/tfjs/sources-node');
    const mod = generateModule(graph, readSources());
    session.setModule(graph, transpile(mod.text), mod.className, mod.inputs);
    if (v.weights) {
      session.setWeights({ kind: 'file', name: v.weights, bytes: readBytes(v.weights, 'weights file') });
      if (session.mismatch) throw session.mismatch; // strict, as `run`: a file that does not fit is an error here
    } else {
      session.setWeights({ kind: 'random', seed });
    }
    const roles = session.conditionalInputs();
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
    const inC = info.find((i) => i.def.io === 'x')?.out?.dims[0];
    const outC = info.find((i) => i.def.io === 'output')?.inputs.x?.shape?.dims[0];
    const learnedSigma = inC !== undefined && outC === 2 * inC;
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
    const nchw = toPytorchLayout(out!);
    const data = (await nchw.data()) as Float32Array;
    const shape = nchw.shape;
    tf.dispose([out!, nchw]);
    writeSafetensorsFile(v.out, { out: { dtype: 'F32', shape, data } }, {
      producer: 'unet-studio sample', sampler, steps: String(steps), seed: String(seed), guidance: String(guidance), ...(sampler === 'ddim' ? { eta: String(eta) } : {}),
    });
    io.err(`out [${shape.join(', ')}] (${sampler}, ${steps} of ${trainSteps} steps${guidance !== 1 ? `, guidance ${guidance}` : ''}) on ${backend} in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${v.out}\n`);
    return 0;
  } finally {
    session.dispose();
  }
}
