/**
 * The PyTorch export's model.py, run by Debian's PyTorch (/usr/bin/python3, torch 1.13): it
 * reproduces the PyTorch reference outputs (shared fixtures, test/reference), equals the tfjs
 * interpreter on random valid graphs of every block type (weights through a .safetensors file),
 * survives hostile names, compiles, passes pyflakes and is deterministic. All the Python runs in two
 * processes (the harness and pyflakes), started once in beforeAll.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { BLOCK_TYPES, blockDef } from '../../blocks/registry';
import { GraphBuilder } from '../../graph/builder';
import { analyze, nodeWeights } from '../../graph/analyze';
import { expectedWeights } from '../../graph/weights';
import type { Graph } from '../../graph/model';
import { withImageSize } from '../../graph/edit';
import { iddpm } from '../../graph/templates';
import { Rng } from '../../weights/rng';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../../weights/safetensors';
import { generatePytorchModel, PytorchExportError } from '../../codegen/targets/pytorch/model';
import { planGraph, runGraph } from '../../runtime/interpreter';
import { disposeWeights, loadWeights } from '../../runtime/weights';
import { useBackend } from '../../runtime/backend-node';
import { FIXTURES, REFERENCE, readSafetensors } from '../util';
import { fixtureGraph, REFERENCE_CASES } from '../fixture-run';
import { MODEL_CASES } from '../cond-cases';
import { buildCase, contextShape, corners, labelValues, recipeArb, REQUIRED_CORNERS, timestepValues } from '../random-graph';
import { INPUT_ROLES, type InputRole } from '../../blocks/roles';
import { jobResult, pythonCheck, runHarness } from '../python';

const HARNESS = fileURLToPath(new URL('./harness.py', import.meta.url));

interface Job {
  readonly id: string;
  readonly model: string;
  readonly plain?: string;
  readonly graph_name: string;
  readonly expected_keys: readonly string[];
  readonly ordered?: boolean;
  readonly state_dict_sha256?: string;
  readonly weights?: string;
  readonly io?: string;
  readonly inputs?: Readonly<Record<string, string>>;
  readonly out?: string;
  readonly atol?: number;
  readonly rtol?: number;
  readonly run_main?: boolean;
  /** Also deepcopy the model and take a training step (no reference needed). */
  readonly train?: boolean;
}

interface Result {
  readonly id: string;
  readonly error?: string;
  readonly same_structure?: boolean;
  readonly structure_diff?: string;
  readonly keys_equal?: boolean;
  readonly keys_diff?: unknown;
  readonly sha_equal?: boolean;
  readonly parameter_count_ok?: boolean;
  readonly metadata?: {
    readonly INPUT_SHAPE: number[];
    readonly OUTPUT_SHAPE: number[];
    readonly NUM_CLASSES: number | null;
    readonly INPUT_NAMES: string[];
    readonly PARAMETER_COUNT: number;
    readonly MODEL_NAME_ok: boolean;
  };
  readonly shape_equal?: boolean;
  readonly worst?: number;
  readonly max_abs?: number;
  readonly max_ref?: number;
  readonly finite?: boolean;
  readonly out_shape?: number[];
  readonly main_output?: string;
  readonly deepcopy_ok?: boolean;
  readonly backward_ok?: boolean;
  readonly pwned?: boolean;
}

const dir = mkdtempSync(join(tmpdir(), 'pytorch-export-'));
const jobs: Job[] = [];
let results = new Map<string, Result>();
let pyflakes = { status: -1, output: '' };
let pyCompile = { status: -1, output: '' };
/** Block types and parameter corners (test/random-graph.ts) the random graphs reach. */
const seen = new Set<string>();
const texts = new Map<string, string>();

/** state_dict keys in document order (PyTorch's registration order for the templates). */
function documentKeys(graph: Graph): string[] {
  const a = analyze(graph);
  return graph.nodes.flatMap((n) => nodeWeights(a.info.get(n.id)!).map((w) => `${n.name}.${w.key}`));
}

function writeModel(id: string, graph: Graph): string {
  const path = join(dir, `${id}.py`);
  const { text } = generatePytorchModel(graph);
  texts.set(id, text);
  writeFileSync(path, text);
  return path;
}

// ---------------------------------------------------------------------------------------------
// PyTorch references

function referenceJobs(): void {
  for (const [name, io] of [
    ['iddpm-small', 'io.safetensors'],
    ['vanilla-small', 'io.safetensors'],
    ['vanilla-small', 'io_odd.safetensors'],
  ] as const) {
    const ioPath = `${FIXTURES}${name}/${io}`;
    const x = readSafetensors(ioPath).tensors.get('x')!;
    const graph = withImageSize(fixtureGraph(name), x.shape[2], x.shape[3]);
    const id = `fixture-${name}-${io.replace('.safetensors', '')}`;
    jobs.push({
      id,
      model: writeModel(id, graph),
      graph_name: graph.name,
      expected_keys: documentKeys(graph),
      ordered: true,
      weights: `${FIXTURES}${name}/weights.safetensors`,
      io: ioPath,
      inputs: { x: 'x', timesteps: 'timesteps' },
      out: 'out',
      atol: 1e-5,
      rtol: 1e-5,
      run_main: name === 'iddpm-small',
    });
  }
  for (const name of REFERENCE_CASES) {
    const meta = JSON.parse(readFileSync(`${REFERENCE}${name}.json`, 'utf8')) as { kwargs: Record<string, unknown>; image_size: number; state_dict_sha256: string };
    const graph = iddpm(meta.kwargs, meta.image_size);
    const id = `reference-${name}`;
    const file = `${REFERENCE}${name}.safetensors`;
    jobs.push({
      id,
      model: writeModel(id, graph),
      graph_name: graph.name,
      expected_keys: documentKeys(graph),
      ordered: true,
      state_dict_sha256: meta.state_dict_sha256,
      weights: file,
      io: file,
      inputs: { x: 'io.x', timesteps: 'io.timesteps', y: 'io.y' },
      out: 'io.out',
      atol: 1e-5,
      rtol: 1e-5,
    });
  }
  // Issue 13's whole text-conditioned models (test/cond-cases.ts): the files' keys are the real
  // state_dict's (latent-diffusion's UNetModel, diffusers' UNet2DConditionModel), in its order.
  for (const c of MODEL_CASES) {
    const graph = c.graph();
    const id = `text-${c.name}`;
    jobs.push({
      id,
      model: writeModel(id, graph),
      graph_name: graph.name,
      expected_keys: c.state_dict.map(([key]) => key),
      ordered: true,
      weights: c.path,
      io: c.path,
      inputs: { x: 'io.x', timesteps: 'io.timesteps', context: 'io.context', y: 'io.y' },
      out: 'io.out',
      atol: 1e-4,
      rtol: 1e-4,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Random graphs against the tfjs interpreter

/**
 * Of 3000 seeds whose first graphs reach every block type and every corner in REQUIRED_CORNERS
 * (only 8 do within 16 graphs), the cheapest but the tfjs property test's own, so the two tests see
 * different graphs: 15 graphs, 774 MFLOPs in all, batch included.
 */
const PROPERTY_SEED = 2001;
const PROPERTY_RUNS = 15;

/**
 * Weights that let every path matter (PyTorch's defaults zero the ResBlock's and attention's output
 * convs): N(0, 1/fan_in) for matrices, 0.1·N(0, 1) for vectors around the defaults (1 for norm
 * scales), running variances in [0.5, 1.5), counters 0.
 */
function randomStateDict(graph: Graph, seed: number): Record<string, TensorToWrite> {
  const rng = new Rng(seed);
  const out: Record<string, TensorToWrite> = {};
  for (const w of expectedWeights(analyze(graph))) {
    const n = w.shape.reduce((x, y) => x * y, 1);
    if (w.dtype === 'int64') {
      out[w.fullKey] = { dtype: 'I64', shape: w.shape, data: Array.from({ length: n }, () => 0) };
      continue;
    }
    const v = new Float32Array(n);
    if (w.key.endsWith('running_var')) for (let i = 0; i < n; i++) v[i] = 0.5 + rng.next();
    else if (w.shape.length >= 2) {
      const fanIn = n / w.shape[0];
      for (let i = 0; i < n; i++) v[i] = rng.normal() / Math.sqrt(fanIn);
    } else {
      const base = w.init.kind === 'const' ? w.init.value : 0;
      for (let i = 0; i < n; i++) v[i] = base + 0.1 * rng.normal();
    }
    out[w.fullKey] = { dtype: 'F32', shape: w.shape, data: v };
  }
  return out;
}

async function propertyJobs(): Promise<void> {
  await useBackend('cpu');
  const recipes = fc.sample(recipeArb, { seed: PROPERTY_SEED, numRuns: PROPERTY_RUNS });
  recipes.forEach((recipe, k) => {
    const c = buildCase(recipe);
    const { graph } = c;
    const plan = planGraph(graph);
    expect(plan.ok, plan.problems.map((p) => p.message).join('\n')).toBe(true);
    for (const n of graph.nodes) seen.add(n.type);
    for (const t of corners(graph, analyze(graph), recipe.batch)) seen.add(t);
    const xShape = plan.info.get(graph.nodes[0].id)!.out!.dims;
    const b = recipe.batch;
    const rng = new Rng(recipe.dataSeed);
    const normal = (shape: readonly number[]) => Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => rng.normal());
    const ctxShape = contextShape(recipe) ?? [b, 1, 1];
    // Every role's input in PyTorch's layout (a new role is a compile error here); each goes to Python
    // as io.<role>, and to the interpreter in the role's tfjs layout.
    const io: Record<InputRole, TensorToWrite & { readonly data: Float32Array | readonly number[] }> = {
      x: { dtype: 'F32', shape: [b, ...xShape], data: normal([b, ...xShape]) },
      timesteps: { dtype: 'I64', shape: [b], data: timestepValues(recipe) },
      y: { dtype: 'I64', shape: [b], data: labelValues(c) },
      context: { dtype: 'F32', shape: ctxShape, data: normal(ctxShape) },
    };
    const tensors: Record<string, TensorToWrite> = {
      ...randomStateDict(graph, recipe.weightSeed),
      ...Object.fromEntries(INPUT_ROLES.map(({ role }) => [`io.${role}`, io[role]])),
    };
    // The interpreter reads the same file (io.* left out, like the app's strict loader would need).
    const file = parseSafetensors(writeSafetensors(tensors));
    const weightsOnly = { metadata: file.metadata, tensors: new Map([...file.tensors].filter(([key]) => !key.startsWith('io.'))) };
    const store = loadWeights(plan, weightsOnly, 'random weights');
    const out = tf.tidy(() => {
      const inputs = Object.fromEntries(
        INPUT_ROLES.map((role) => {
          const t = tf.tensor(Float32Array.from(io[role.role].data), [...io[role.role].shape]);
          return [role.role, role.toTfjs ? tf.transpose(t, [...role.toTfjs]) : t];
        }),
      );
      const r = runGraph(plan, store, inputs);
      return tf.transpose(r.out, [0, 3, 1, 2]);
    });
    tensors['io.out'] = { dtype: 'F32', shape: out.shape, data: out.dataSync() as Float32Array };
    out.dispose();
    disposeWeights(store);
    const path = join(dir, `random-${k}.safetensors`);
    writeFileSync(path, writeSafetensors(tensors));
    const id = `random-${k}`;
    jobs.push({
      id,
      model: writeModel(id, graph),
      graph_name: graph.name,
      expected_keys: expectedWeights(plan).map((w) => w.fullKey),
      weights: path,
      io: path,
      inputs: Object.fromEntries(INPUT_ROLES.map(({ role }) => [role, `io.${role}`])),
      out: 'io.out',
      atol: 1e-4,
      rtol: 1e-4,
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Hostile names (the corpus of codegen/hostile.test.ts, plus Python's own traps)

const NODE_NAMES: readonly string[] = [
  'q"uote', "it's", 'back`tick', 'end*/', '/*start', '//slash', '${process.exit(1)}', 'line\nbreak', 'cr\r\nlf',
  'ls\u2028sep', 'ps\u2029sep', '</script>', '<!-- html -->', 'class', 'constructor', 'this', 'return', 'tf', 'x', 'at',
  'CONFIG', 'WEIGHTS', '__proto__', 'a.b', 'a_b', 'a-b', 'resBlockForward', 'groupNorm', 'é', '😀', 'naïve→ünïcode',
  '1abc', '.', 'long'.repeat(500), '"); globalThis.__pwned = 1; ("', '*/ globalThis.__pwned = 1; /*',
  'p\u2028globalThis.__pwned = 1', "'); globalThis.__pwned = 1; ('", '`); globalThis.__pwned = 1; (`',
  '${globalThis.__pwned = 1}', 'n\nglobalThis.__pwned = 1 //', '\\', '\\u0022', 'tab\there', 'nul\u0000', 'NO_WEIGHTS',
  'EXPECTED', 'Rng', 'WeightGetter', 'self', 'timesteps', 'y', 'weights', 'undefined', 'arguments', 'tf.dispose',
  // Python
  '"""', "'''", '"""); __import__("builtins").__pwned = 1; ("""', 'p\n__import__("builtins").__pwned = 1\n#c',
  '# comment', '\\\n__import__("builtins").__pwned = 1', 'def', 'lambda', 'None', 'print', 'torch', 'nn', 'F', 'math',
  'Optional', 'Container', 'attach', 'build_model', 'MODEL_NAME', 'INPUT_SHAPE', 'ResBlock', 'GroupNorm32', 'zero_module',
  'forward', 'training', '_modules', '_parameters', '__class__', '__dict__', 'node', 'state_dict', '{0}%s', '\\N{BULLET}',
  '..', 'a..b', '.lead', 'trail.', 'input_blocks.4.0', '0', 'f"{x}"', 'a\x0c\x0bb', '\ud800 lone', 'x.y.z',
];

const GRAPH_NAMES: readonly string[] = [
  'plain', '', '\n', '\r\n', '\u2028', '"); __import__("builtins").__pwned = 1; ("', '"""', '\\', "it's", '#', 'class',
  'Container', 'ResBlock', 'build_model', '😀', '1abc', '.', 'g/'.repeat(1000), '\ud800 lone surrogate', 'None',
];

const NODES_PER_GRAPH = 18;

/** Every block kind that owns weights or none, wired so that all names end up in keys, comments and locals. */
function hostileGraph(graphName: string, names: readonly string[]): Graph {
  const n = (i: number) => names[i];
  const b = new GraphBuilder();
  const x = b.add('ImageInput', n(0), { channels: 32, height: 8, width: 8 });
  const t = b.add('TimestepsInput', n(1));
  const sin = b.add('TimestepEmbedding', n(2), { dim: 16 }, { x: t });
  const mlp = b.add('TimeEmbedMLP', n(3), { dim: 32 }, { x: sin });
  const y = b.add('ClassLabelInput', n(4), { num_classes: 5 });
  const emb = b.add('LabelEmbedding', n(5), {}, { x: mlp, y });
  const res = b.add('ResBlock', n(6), { out_channels: 64, use_scale_shift_norm: true }, { x, emb });
  const attn = b.add('AttentionBlock', n(7), { num_heads: 2 }, { x: res });
  const conv = b.add('Conv2d', n(8), { out_channels: 32, kernel_size: 3, padding: 1 }, { x: attn });
  const norm = b.add('GroupNorm', n(9), {}, { x: conv });
  const act = b.add('SiLU', n(10), {}, { x: norm });
  const bn = b.add('BatchNorm2d', n(11), {}, { x: act });
  const dc = b.add('DoubleConv', n(12), { out_channels: 32 }, { x: bn });
  const down = b.add('Downsample', n(13), { use_conv: true }, { x: dc });
  const up = b.add('Upsample', n(14), { use_conv: true }, { x: down });
  const cat = b.add('Concat', n(15), { order: 'x_first' }, { x: up, skip: conv });
  const sum = b.add('Add', n(16), {}, { a: cat, b: attn });
  b.add('Output', n(17), {}, { x: sum });
  return b.build(graphName);
}

const CHUNKS: readonly (readonly string[])[] = Array.from({ length: Math.ceil(NODE_NAMES.length / NODES_PER_GRAPH) }, (_, i) => {
  const chunk = NODE_NAMES.slice(i * NODES_PER_GRAPH, (i + 1) * NODES_PER_GRAPH);
  return [...chunk, ...Array.from({ length: NODES_PER_GRAPH - chunk.length }, (_, k) => `filler.${k}`)];
});

/** Names nested under other blocks: a block inside a block (beside its weights), inside a container, named like attributes. */
const NESTED_NAMES: readonly string[] = [
  'conv', 'conv.weight', 'conv.forward', 'res', 'res.training.x', 'deep.a.b.c', 'deep.a', 'deep', 'mlp', 'mlp.weight', 'attn',
  'attn.attention', 'conv.training', 'cat', 'cat.skip_first', 'dc', 'dc.double', 'out',
];

function hostileJobs(): void {
  const plainPath = join(dir, 'plain.py');
  writeFileSync(plainPath, generatePytorchModel(hostileGraph('plain', Array.from({ length: NODES_PER_GRAPH }, (_, i) => `n${i}`))).text);
  [...CHUNKS, NESTED_NAMES].forEach((names, k) => {
    const graph = hostileGraph(GRAPH_NAMES[k % GRAPH_NAMES.length], names);
    const a = analyze(graph);
    expect(a.ok, a.problems.map((p) => p.message).join('\n')).toBe(true);
    const id = `hostile-${k}`;
    jobs.push({ id, model: writeModel(id, graph), plain: plainPath, graph_name: graph.name, expected_keys: expectedWeights(a).map((w) => w.fullKey), train: true });
  });
  // Graph names alone (one node name set).
  GRAPH_NAMES.forEach((g, k) => {
    const graph = hostileGraph(g, Array.from({ length: NODES_PER_GRAPH }, (_, i) => `n${i}`));
    const id = `graph-name-${k}`;
    jobs.push({ id, model: writeModel(id, graph), plain: plainPath, graph_name: g, expected_keys: documentKeys(graph) });
  });
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  referenceJobs();
  await propertyJobs();
  hostileJobs();
  results = runHarness<Result>(HARNESS, dir, jobs);
  const files = jobs.map((j) => j.model);
  pyCompile = pythonCheck('py_compile', files);
  pyflakes = pythonCheck('pyflakes', files);
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const result = (id: string): Result => jobResult(results, id);

/** `id: worst ratio` for the jobs whose output is not within tolerance. */
function outsideTolerance(prefix: string): string[] {
  return jobs
    .filter((j) => j.id.startsWith(prefix))
    .map((j) => result(j.id))
    .filter((r) => !(r.shape_equal === true && r.finite === true && (r.worst ?? Infinity) <= 1))
    .map((r) => `${r.id}: shape ${String(r.shape_equal)}, worst ${String(r.worst)}× tolerance, max |d| ${String(r.max_abs)}`);
}

describe('every block type declares its PyTorch module', () => {
  it('all but the inputs and the Output, with the class named after the type and its input ports', () => {
    for (const t of BLOCK_TYPES) {
      const def = blockDef(t);
      const p = def.pytorch;
      expect(p === undefined, t).toBe(def.io !== undefined);
      if (!p) continue;
      expect(p.className).toBe(t);
      expect(p.source.startsWith(`class ${t}(`), t).toBe(true);
      expect([...p.forwardInputs].sort(), t).toEqual(def.inputs.map((i) => i.name).sort());
      expect(p.source, t).toMatch(/def forward\(self(, \w+: torch\.Tensor)+\) -> torch\.Tensor:/);
    }
  });
});

describe('model.py reproduces PyTorch (1e-5 + 1e-5·|ref|, strict load)', () => {
  it('the shared fixtures iddpm-small and vanilla-small (32×32 and the odd 30×26)', () => {
    expect(outsideTolerance('fixture-')).toEqual([]);
    for (const id of ['fixture-iddpm-small-io', 'fixture-vanilla-small-io', 'fixture-vanilla-small-io_odd']) {
      const r = result(id);
      expect(r.keys_equal, JSON.stringify(r.keys_diff)).toBe(true);
      expect(r.max_ref).toBeGreaterThan(0.5); // a real signal
    }
    expect(result('fixture-iddpm-small-io').metadata).toEqual({
      INPUT_SHAPE: [3, 16, 16],
      OUTPUT_SHAPE: [3, 16, 16],
      NUM_CLASSES: null,
      INPUT_NAMES: ['x', 'timesteps'],
      PARAMETER_COUNT: 756163,
      MODEL_NAME_ok: true,
    });
    expect(result('fixture-vanilla-small-io').metadata).toMatchObject({ INPUT_NAMES: ['x'], OUTPUT_SHAPE: [2, 32, 32], PARAMETER_COUNT: 121186 });
    expect(result('fixture-vanilla-small-io_odd').metadata).toMatchObject({ INPUT_SHAPE: [3, 30, 26], OUTPUT_SHAPE: [2, 30, 26] });
  });

  it('every guided-diffusion model in test/reference, with its state_dict (keys, order, shapes) as PyTorch lists it', () => {
    expect(outsideTolerance('reference-')).toEqual([]);
    for (const name of REFERENCE_CASES) {
      const r = result(`reference-${name}`);
      expect(r.sha_equal, name).toBe(true);
      expect(r.keys_equal, name).toBe(true);
      expect(r.parameter_count_ok, name).toBe(true);
    }
    expect(result('reference-guided-classcond').metadata).toMatchObject({ NUM_CLASSES: 10, INPUT_NAMES: ['x', 'timesteps', 'y'] });
  });

  it('python model.py prints the parameter count and the shapes', () => {
    expect(result('fixture-iddpm-small-io').main_output).toBe('parameters: 756,163 (756,163 in the module)\ninput:  (2, 3, 16, 16)\noutput: (2, 3, 16, 16)\n');
  });
});

describe('model.py reproduces the text-conditioned reference models (1e-4 + 1e-4·|ref|, strict load)', () => {
  it('the ldm template (latent-diffusion UNetModel: SD 1.x code, SD 2.x code, class-conditional) and UNet2DConditionModel cases, with their real state_dict', () => {
    expect(MODEL_CASES.map((c) => c.name)).toEqual(['ldm-sd1-depth2', 'ldm-sd2-linear', 'ldm-classcond-attn', 'cond-conv', 'cond-linear']);
    expect(outsideTolerance('text-')).toEqual([]);
    for (const c of MODEL_CASES) {
      const r = result(`text-${c.name}`);
      expect(r.keys_equal, `${c.name}: ${JSON.stringify(r.keys_diff)}`).toBe(true);
      expect(r.parameter_count_ok, c.name).toBe(true);
      expect(r.metadata?.PARAMETER_COUNT, c.name).toBe(c.num_parameters);
      // forward(x, timesteps, context, y=None): the context where the model reads one, the label where it has classes.
      expect(r.metadata?.INPUT_NAMES, c.name).toEqual(c.tokens === null ? ['x', 'timesteps', 'y'] : ['x', 'timesteps', 'context']);
      expect(r.max_ref, c.name).toBeGreaterThan(1); // a real signal
    }
    expect(result('text-ldm-classcond-attn').metadata?.NUM_CLASSES).toBe(5);
  });
});

describe('model.py equals the tfjs interpreter on random valid graphs', () => {
  it(`${PROPERTY_RUNS} graphs over every block type and parameter corner, weights through .safetensors (1e-4 + 1e-4·|ref|)`, () => {
    expect(BLOCK_TYPES.filter((t) => !seen.has(t))).toEqual([]);
    expect(REQUIRED_CORNERS.filter((t) => !seen.has(t))).toEqual([]);
    expect(outsideTolerance('random-')).toEqual([]);
    for (const j of jobs.filter((jj) => jj.id.startsWith('random-'))) {
      const r = result(j.id);
      expect(r.keys_equal, `${j.id}: ${JSON.stringify(r.keys_diff)}`).toBe(true);
      expect(r.parameter_count_ok, j.id).toBe(true);
    }
  });
});

describe('hostile names', () => {
  it('every model.py has the token structure of the plain-named one, the exact keys, runs (eval, deepcopy, a training step) and executes nothing', () => {
    const hostile = jobs.filter((j) => j.id.startsWith('hostile-') || j.id.startsWith('graph-name-'));
    expect(hostile.length).toBe(CHUNKS.length + 1 + GRAPH_NAMES.length);
    expect(hostile.filter((j) => j.train).length).toBe(CHUNKS.length + 1);
    for (const j of hostile) {
      const r = result(j.id);
      expect(r.same_structure, `${j.id}: ${String(r.structure_diff)}`).toBe(true);
      expect(r.keys_equal, `${j.id}: ${JSON.stringify(r.keys_diff)}`).toBe(true);
      expect(r.out_shape, j.id).toEqual([2, 64, 8, 8]);
      expect(r.finite, j.id).toBe(true);
      if (j.train) {
        expect(r.deepcopy_ok, j.id).toBe(true);
        expect(r.backward_ok, j.id).toBe(true);
      }
      expect(r.metadata?.MODEL_NAME_ok, j.id).toBe(true);
      expect(r.metadata?.INPUT_NAMES, j.id).toEqual(['x', 'timesteps', 'y']);
    }
    expect(result('__pwned').pwned).toBe(false);
  });

  it('the text is printable ASCII whatever the names (they appear only as escaped literals)', () => {
    for (const [id, text] of texts) expect(/^[\x20-\x7e\n]*$/.test(text), id).toBe(true);
  });

  it('refuses a block inside another block\'s own submodule, naming both', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 32, height: 8, width: 8 });
    const t = b.add('TimestepsInput', 't');
    const e = b.add('TimestepEmbedding', 'emb', { dim: 32 }, { x: t });
    const r = b.add('ResBlock', 'r', { out_channels: 32 }, { x, emb: e });
    const c = b.add('Conv2d', 'r.in_layers', { out_channels: 32 }, { x: r });
    b.add('Output', 'out', {}, { x: c });
    const g = b.build('clash');
    expect(analyze(g).ok).toBe(true);
    expect(() => generatePytorchModel(g)).toThrow(PytorchExportError);
    expect(() => generatePytorchModel(g)).toThrow(/ResBlock "r" has a submodule "in_layers" of its own, so Conv2d "r.in_layers" cannot sit inside it/);
  });
});

describe('checks and determinism', () => {
  it('generated files pass py_compile and pyflakes', () => {
    expect(jobs.length).toBeGreaterThan(40);
    expect(pyCompile).toEqual({ status: 0, output: '' });
    expect(pyflakes).toEqual({ status: 0, output: '' });
  });

  it('an invalid graph is refused with its problems listed', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
    const n = b.add('GroupNorm', 'norm', { groups: 32 }, { x });
    b.add('Output', 'out', {}, { x: n });
    const g = b.build('bad');
    let err: unknown;
    try {
      generatePytorchModel(g);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PytorchExportError);
    expect((err as PytorchExportError).problems).toEqual(['GroupNorm "norm": 3 channels are not divisible by 32 groups']);
    expect((err as Error).message).toContain('graph "bad" is not valid');
  });

  it('the same graph gives the same bytes (also from a copy of the document)', () => {
    const g = fixtureGraph('iddpm-small');
    const first = generatePytorchModel(g).text;
    expect(generatePytorchModel(g).text).toBe(first);
    expect(generatePytorchModel(JSON.parse(JSON.stringify(g)) as Graph).text).toBe(first);
    expect(first).toBe(texts.get('fixture-iddpm-small-io'));
    expect(first.split('\n')[0]).toBe('# Generated by UNet Studio from "iddpm-32ch-16x16". Do not edit.');
    expect(generatePytorchModel(g).className).toBe('Iddpm32ch16x16');
  });
});
