/**
 * The exported training project for the tests: a model.py generated from a small template graph
 * (codegen/targets/pytorch/model.ts) beside train.py, sample.py and README.md
 * (codegen/targets/pytorch/project.ts). The README's facts come from the graph's analysis.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyze, countParameters, graphInputs, nodeWeights } from '../../graph/analyze';
import type { Graph } from '../../graph/model';
import { expectedWeights } from '../../graph/weights';
import { iddpm } from '../../graph/templates';
import { Rng } from '../../weights/rng';
import { initialValues } from '../../weights/pytorch';
import { writeSafetensors, type TensorToWrite } from '../../weights/safetensors';
import { generatePytorchModel } from '../../codegen/targets/pytorch/model';
import { readmeMd, samplePy, trainPy, type ProjectMeta, type Shape3 } from '../../codegen/targets/pytorch/project';
import { PYTHON } from '../python';

export { PYTHON };
export const HERE = fileURLToPath(new URL('.', import.meta.url));

/** plain: ε only, no labels; learned: ε and variance, 3 classes; ddp: plain plus a block that does not lead to the output. */
export type Variant = 'plain' | 'learned' | 'ddp';

/** The smallest iDDPM UNet: 8×8, 32 channels, one level, one ResBlock per level, attention only in the middle. */
const TINY = { model_channels: 32, channel_mult: [1], num_res_blocks: 1, attention_resolutions: [] } as const;

const plain: Graph = { ...iddpm({ ...TINY, in_channels: 1, out_channels: 1 }, 8), name: 'tiny "plain" net\n\u00e9' };
const learned: Graph = { ...iddpm({ ...TINY, in_channels: 3, out_channels: 6, num_classes: 3 }, 8), name: 'tiny learned-sigma class-conditional net' };

/** The plain graph with one Conv2d fed by the image that leads nowhere (valid, with a warning). */
function withDanglingConv(g: Graph): Graph {
  const image = g.nodes.find((n) => n.type === 'ImageInput')!;
  return {
    ...g,
    nodes: [...g.nodes, { id: 'dangling', name: 'unused_conv', type: 'Conv2d', params: { out_channels: 4, kernel_size: 3, padding: 1 } }],
    edges: [...g.edges, { id: 'dangling-in', from: { node: image.id, port: 'out' }, to: { node: 'dangling', port: 'x' } }],
  };
}

export const GRAPHS: Readonly<Record<Variant, Graph>> = { plain, learned, ddp: withDanglingConv(plain) };

const shape3 = (dims: readonly number[] | undefined, what: string): Shape3 => {
  if (!dims || dims.length !== 3) throw new Error(`${what}: expected [C, H, W], got ${JSON.stringify(dims)}`);
  return [dims[0], dims[1], dims[2]];
};

/** What the README states, from the graph's analysis. */
export function projectMeta(graph: Graph): ProjectMeta {
  const a = analyze(graph);
  if (!a.ok) throw new Error(`test graph ${graph.name} is not valid: ${a.problems.map((p) => p.message).join('; ')}`);
  const inputs = graphInputs(a);
  const image = inputs.find((i) => i.role.role === 'x')!;
  const label = inputs.find((i) => i.role.role === 'y');
  const output = [...a.info.values()].find((inf) => inf.def.io === 'output')!;
  return {
    graphName: graph.name,
    parameterCount: countParameters(a),
    inputShape: shape3(image.info.out?.dims, 'image input'),
    outputShape: shape3(output.inputs.x.shape?.dims, 'output'),
    numClasses: label ? Number(label.info.params.num_classes) : null,
    inputNames: inputs.map((i) => i.role.role),
  };
}

export const META: Readonly<Record<Variant, ProjectMeta>> = {
  plain: projectMeta(GRAPHS.plain),
  learned: projectMeta(GRAPHS.learned),
  ddp: projectMeta(GRAPHS.ddp),
};

/** The graph's state_dict as PyTorch lists it: [key, shape] in registration (document) order. */
export function stateDictOf(graph: Graph): [string, number[]][] {
  const a = analyze(graph);
  return graph.nodes.flatMap((n) => nodeWeights(a.info.get(n.id)!).map((w): [string, number[]] => [`${n.name}.${w.key}`, [...w.shape]]));
}

/**
 * Starting weights (for train.py --init) under which every path carries signal: PyTorch's default
 * initialisers, except that the layers the reference code zero-initialises (a ResBlock's and the
 * attention's output convs, the model's last conv) get the default uniform ±1/√fan_in instead, and
 * constants (norm scales and shifts, zero biases) are moved by up to ±0.1.
 */
export function liveWeights(graph: Graph, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const tensors: Record<string, TensorToWrite> = {};
  for (const w of expectedWeights(analyze(graph))) {
    if (w.dtype === 'int64') {
      tensors[w.fullKey] = { dtype: 'I64', shape: w.shape, data: Array.from({ length: w.shape.reduce((x, y) => x * y, 1) }, () => 0) };
      continue;
    }
    let v = initialValues(w.shape, w.init, rng);
    if (w.init.kind === 'const') {
      const fanIn = w.shape.length >= 2 ? w.shape.slice(1).reduce((x, y) => x * y, 1) : 0;
      v = v.map((c) => (fanIn > 0 ? (rng.next() * 2 - 1) / Math.sqrt(fanIn) : c + 0.1 * (rng.next() * 2 - 1)));
    }
    tensors[w.fullKey] = { dtype: 'F32', shape: w.shape, data: v };
  }
  return writeSafetensors(tensors);
}

/** Writes model.py (generated from the variant's graph), train.py, sample.py and README.md into `dir` (made if needed). */
export function writeProject(dir: string, variant: Variant): void {
  mkdirSync(dir, { recursive: true });
  const graph = GRAPHS[variant];
  writeFileSync(join(dir, 'model.py'), generatePytorchModel(graph).text);
  const meta = META[variant];
  writeFileSync(join(dir, 'train.py'), trainPy(meta));
  writeFileSync(join(dir, 'sample.py'), samplePy(meta));
  writeFileSync(join(dir, 'README.md'), readmeMd(meta));
}

/** torchrun through torch.distributed.run's own main (see torchrun_shim.py for why not /usr/bin/torchrun). */
export const TORCHRUN = [PYTHON, join(HERE, 'torchrun_shim.py')];
export const DRIVER = join(HERE, 'driver.py');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a process to its end (one thread for its maths: the suite shares two cores). */
export function run(cmd: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd[0], cmd.slice(1), { cwd, maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** One line of train.py's metrics.jsonl. */
export interface Metric {
  step: number;
  loss: number;
  lr: number;
  seconds: number;
  images_per_second: number;
  mse?: number;
  vb?: number;
}

export const readMetrics = (path: string): Metric[] =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Metric);
