/**
 * Grouped graphs in the tfjs export (issue 12): one function per group definition, called per
 * instance. The grouped module runs the flat module's kernels in the same order, equals it and the
 * interpreter bit for bit on cpu, leaks nothing, type-checks strictly; a flat graph's module is
 * unchanged (the golden files, codegen.test.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import type { Graph, GraphGroup } from '../graph/model';
import { diffusersUNet2D, DDPM_CIFAR10_32, IDDPM_DEFAULTS, iddpm, vanilla } from '../graph/templates';
import { IDDPM_64, IDDPM_SMALL } from '../bench/configs';
import { withoutGroups } from '../graph/groups';
import { generateModule } from './targets/tfjs/generate';
import { readSources } from './targets/tfjs/sources-node';
import { typecheckModule } from './targets/tfjs/typecheck';
import { loadModule, type GeneratedModel } from '../runtime/evaluate';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { expectedWeights } from '../graph/weights';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { useBackend } from '../runtime/backend-node';

/** A group to add: its members are the nodes named `prefix` or `prefix.…` (default: its name) not claimed by a later group; `prefix: null` holds only groups. */
interface GroupSpec {
  readonly name: string;
  readonly parent?: string;
  readonly prefix?: string | null;
  /** Explicit member names instead of a prefix. */
  readonly nodes?: readonly string[];
}

/** `graph` with groups (ids `g:<name>`), each node in the last listed group that claims it (children after parents: the innermost). */
function withGroups(graph: Graph, specs: readonly GroupSpec[]): Graph {
  const owner = new Map<string, string>();
  for (const s of specs) {
    for (const n of graph.nodes) {
      const p = s.prefix === undefined ? s.name : s.prefix;
      if (s.nodes ? s.nodes.includes(n.name) : p !== null && (n.name === p || n.name.startsWith(`${p}.`))) owner.set(n.id, s.name);
    }
  }
  const groups: GraphGroup[] = specs.map((s) => ({
    id: `g:${s.name}`,
    name: s.name,
    ...(s.parent === undefined ? {} : { parent: `g:${s.parent}` }),
    nodes: graph.nodes.filter((n) => owner.get(n.id) === s.name).map((n) => n.id),
  }));
  return { ...graph, groups };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const iddpmBlocks = (inputs: number, outputs: number, parentOf: (name: string) => string | undefined = () => undefined): GroupSpec[] =>
  [...range(inputs).map((i) => `input_blocks.${i}`), 'middle_block', ...range(outputs).map((i) => `output_blocks.${i}`)].map((name) => ({ name, parent: parentOf(name) }));

/**
 * IDDPM_64's structure (three levels, two ResBlocks each, attention at the middle level) at 4×4 and
 * 32 channels (a quarter of the weights to load three times), grouped by module and, with `levels`,
 * by level.
 */
function iddpm64(levels: boolean): Graph {
  const graph = { ...iddpm({ ...IDDPM_64, model_channels: 32 }, 4), name: 'iddpm-64ch-style' };
  const lv: [string, number[]][] = [
    ['encoder level 0', [1, 2, 3]],
    ['encoder level 1', [4, 5, 6]],
    ['encoder level 2', [7, 8]],
    ['decoder level 2', [0, 1, 2]],
    ['decoder level 1', [3, 4, 5]],
    ['decoder level 0', [6, 7, 8]],
  ];
  const parent = new Map<string, string>(lv.flatMap(([l, ks]) => ks.map((k) => [`${l.startsWith('encoder') ? 'input' : 'output'}_blocks.${k}`, l] as const)));
  const levelSpecs: GroupSpec[] = lv.map(([name]) => ({ name, prefix: null }));
  return withGroups(graph, [...(levels ? levelSpecs : []), ...iddpmBlocks(9, 9, levels ? (n: string) => parent.get(n) : undefined)]);
}

const DIFFUSERS_SMALL = {
  ...DDPM_CIFAR10_32,
  block_out_channels: [32, 64],
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D'],
  up_block_types: ['AttnUpBlock2D', 'UpBlock2D'],
  sample_size: 8,
};

/** Diffusers UNet2DModel, blocks grouped by module, and up_blocks.1's (concat, resnet) pairs as nested groups named off the module path. */
function diffusersGrouped(): Graph {
  const graph = { ...diffusersUNet2D(DIFFUSERS_SMALL), name: 'diffusers-small' };
  const stages = range(3).map((k) => ({ name: `up 1 stage ${k}`, parent: 'up_blocks.1', nodes: [`up_blocks.1.concat.${k}`, `up_blocks.1.resnets.${k}`] }));
  return withGroups(graph, [...['down_blocks.0', 'down_blocks.1', 'mid_block', 'up_blocks.0', 'up_blocks.1'].map((name) => ({ name })), ...stages]);
}

const VANILLA = () => ({ ...vanilla({ n_channels: 3, n_classes: 2, widths: [8, 16, 32, 64] }, 16), name: 'vanilla-small' });

/** The module's group functions and how often each is called. */
function groupFunctions(text: string): { defs: string[]; calls: number } {
  const start = text.indexOf('// One function per group definition');
  const end = text.indexOf('// Copied from UNet Studio');
  if (start < 0) return { defs: [], calls: 0 };
  const defs = [...text.slice(start, end).matchAll(/^function (\w+)\(/gm)].map((m) => m[1]);
  const calls = defs.reduce((n, f) => n + [...text.matchAll(new RegExp(`= ${f}\\(`, 'g'))].length, 0);
  return { defs, calls };
}

type Inputs = Record<string, tf.Tensor>;

function makeInputs(graph: Graph, roles: readonly string[]): Inputs {
  const plan = planGraph(graph);
  const xNode = graph.nodes.find((n) => n.type === 'ImageInput')!;
  const [c, h, w] = plan.info.get(xNode.id)!.out!.dims;
  const out: Inputs = { x: tf.randomNormal([1, h, w, c], 0, 1, 'float32', 7) };
  if (roles.includes('timesteps')) out.timesteps = tf.tensor1d([517]);
  if (roles.includes('y')) out.y = tf.tensor1d([1], 'int32');
  return out;
}

/**
 * Weights as a `.safetensors` state_dict: seeded normal values scaled to keep activations moderate
 * (PyTorch's zero-initialised output conv would make every output 0 and prove nothing).
 */
const bytesCache = new Map<string, Uint8Array>();
function stateDictBytes(graph: Graph): Uint8Array {
  const key = JSON.stringify(graph);
  const hit = bytesCache.get(key);
  if (hit) return hit;
  const sd: Record<string, TensorToWrite> = {};
  expectedWeights(planGraph(graph)).forEach((w, k) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const data = tf.tidy(() => tf.randomNormal([n], 0, 0.1, 'float32', 1000 + k).dataSync() as Float32Array);
    if (w.dtype === 'int64') sd[w.fullKey] = { dtype: 'I64', shape: w.shape, data: [3] };
    else sd[w.fullKey] = { dtype: 'F32', shape: w.shape, data: w.key.endsWith('running_var') ? data.map((v) => 1 + Math.abs(v)) : data };
  });
  const bytes = writeSafetensors(sd);
  bytesCache.set(key, bytes);
  return bytes;
}

/** A forward's output and its kernels (names and shapes) in the order they ran. */
async function traced(model: GeneratedModel, args: readonly tf.Tensor[]): Promise<{ out: tf.Tensor; kernels: string[]; peakBytes: number }> {
  let out: tf.Tensor | null = null;
  const info = await tf.profile(() => {
    out = model.forward(...args);
    return out;
  });
  return { out: out!, kernels: info.kernels.map((k) => `${k.name} ${JSON.stringify(k.inputShapes)} → ${JSON.stringify(k.outputShapes)}`), peakBytes: info.peakBytes };
}

function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Grouped against flat: strict type-check, kernels and order, bit-equal outputs (also to the interpreter), no leak across forwards. */
async function expectSameAsFlat(grouped: Graph, typecheck = false): Promise<string> {
  const flat: Graph = { ...grouped, groups: undefined };
  const g = generateModule(grouped, readSources());
  const f = generateModule(flat, readSources());
  expect(g.text).not.toBe(f.text);
  expect(generateModule(grouped, readSources()).text).toBe(g.text);
  // Strict type-checks cost seconds each here: the nested and the diffusers modules carry every construct.
  if (typecheck) expect(typecheckModule(g.text)).toEqual([]);
  expect(g.inputs).toEqual(f.inputs);
  const inputs = makeInputs(grouped, g.inputs);
  const args = g.inputs.map((r) => inputs[r]);
  const start = tf.memory().numTensors;
  const bytes = stateDictBytes(flat);
  const gm = loadModule(g.text, g.className).fromSafetensors(bytes);
  const fm = loadModule(f.text, f.className).fromSafetensors(bytes);

  // The same kernels on the same shapes in the same order, and the same bits out.
  const fromGrouped = await traced(gm, args);
  const fromFlat = await traced(fm, args);
  expect(fromGrouped.kernels.length).toBeGreaterThan(20);
  expect(fromGrouped.kernels).toEqual(fromFlat.kernels);
  // Tensors freed no later than the flat module frees them: a call frees what its caller hands over
  // (`own`). (Without it, a decoder level held its skips until it returned: a higher peak.)
  expect(fromGrouped.peakBytes).toBeLessThanOrEqual(fromFlat.peakBytes);
  expect(fromGrouped.peakBytes).toBeGreaterThan(0.99 * fromFlat.peakBytes);
  const want = fromFlat.out.dataSync();
  expect(Math.max(...Array.from(want, Math.abs))).toBeGreaterThan(0.01);
  const i = firstMismatch(fromGrouped.out.dataSync(), want);
  expect(i, i < 0 ? '' : `element ${i}: grouped ${fromGrouped.out.dataSync()[i]}, flat ${want[i]}`).toBe(-1);

  // And the interpreter's.
  const plan = planGraph(flat);
  const w = loadWeights(plan, parseSafetensors(bytes));
  const interp = runGraph(plan, w, inputs).out;
  expect(firstMismatch(interp.dataSync(), want)).toBe(-1);
  tf.dispose([interp, fromGrouped.out, fromFlat.out]);
  disposeWeights(w);

  // Repeated forwards leave only their output behind.
  const before = tf.memory().numTensors;
  for (let run = 0; run < 2; run++) {
    const got = gm.forward(...args);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(firstMismatch(got.dataSync(), want)).toBe(-1);
    got.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }
  gm.dispose();
  fm.dispose();
  expect(tf.memory().numTensors).toBe(start);
  tf.dispose(Object.values(inputs));
  return g.text;
}

describe('grouped graphs: one function per group definition (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('iddpm-small by module: 9 instances, 9 definitions (no two blocks alike), bit-equal to flat', async () => {
    const text = await expectSameAsFlat(withGroups({ ...iddpm(IDDPM_SMALL, 8), name: 'iddpm-small' }, iddpmBlocks(4, 4)));
    expect(groupFunctions(text)).toEqual({
      defs: ['inputBlocks0', 'inputBlocks1', 'inputBlocks2', 'inputBlocks3', 'middleBlock', 'outputBlocks0', 'outputBlocks1', 'outputBlocks2', 'outputBlocks3'],
      calls: 9,
    });
    // The forward calls each instance with its own weights, by state_dict name.
    expect(text).toContain('const input_blocks_3_1 = inputBlocks3([at("input_blocks.3.0"), at("input_blocks.3.1")], [false, false], input_blocks_2_0, time_embed);');
    expect(text).toContain('function outputBlocks1(w: readonly WeightGetter[], own: readonly boolean[], x: tf.Tensor, skip: tf.Tensor, emb: tf.Tensor): tf.Tensor {');
    // Each block still in its own tidy, its temporaries freed inside the function.
    expect(text).toContain('  const cat = tf.tidy(() => concatForward({ x: x, skip: skip }, NO_WEIGHTS, { order: "x_first", pad_to_match: false }));\n');
    expect(text).toMatch(/const attn = tf\.tidy\(\(\) => attentionForward\(\{ x: resblock \}, w\[1\], [^\n]*\n {2}tf\.dispose\(\[resblock\]\);\n/);
  }, 60_000);

  it('iddpm-64ch (4×4) by module: 19 instances share 14 definitions', async () => {
    const text = await expectSameAsFlat(iddpm64(false));
    // Alike: input_blocks.1 = .2 and .7 = .8 (ResBlock, same channels and size); output_blocks.0 = .1,
    // .3 = .4 and .7 = .8 (Concat of equal widths, ResBlock[, Attention]).
    const { defs, calls } = groupFunctions(text);
    expect(calls).toBe(19);
    expect(defs.length).toBe(14);
    expect(text).toContain('Group definition shared by 2 instances: "input_blocks.1", "input_blocks.2".');
    expect(text).toContain('Group definition shared by 2 instances: "output_blocks.3", "output_blocks.4".');
    expect(text).toContain('const input_blocks_8_0 = inputBlocks7([at("input_blocks.8.0")], [false, false], input_blocks_7_0, time_embed);');
  }, 60_000);

  it('iddpm-64ch with nested level groups: 25 instances, 20 definitions; a level returns its skips as a tuple', async () => {
    const text = await expectSameAsFlat(iddpm64(true), true);
    const { defs, calls } = groupFunctions(text);
    expect(calls).toBe(25);
    expect(defs.length).toBe(20);
    expect(text).toContain(
      'const [input_blocks_1_0, input_blocks_2_0, input_blocks_3_0] = encoderLevel0([at("input_blocks.1.0"), at("input_blocks.2.0"), at("input_blocks.3.0")], [false, false], input_blocks_0_0, time_embed);',
    );
    expect(text).toContain('function encoderLevel0(w: readonly WeightGetter[], own: readonly boolean[], x: tf.Tensor, emb: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] {');
    // Nested: the level calls the shared block function with its slice of the weights.
    expect(text).toContain('  const resblock_2 = inputBlocks1(w.slice(1, 2), [false, own[1]], resblock, emb);\n');
    expect(text).toContain('  return [resblock, resblock_2, down];\n');
  }, 60_000);

  it('diffusers UNet2DModel (small, cifar-like) by module plus nested stages named off the module path: 8 instances, 7 definitions', async () => {
    const text = await expectSameAsFlat(diffusersGrouped(), true);
    // up_blocks.1 stage 1 and 2 are alike (Concat 32+32, resnet 64→32); stage 0 reads 64+32.
    const { defs, calls } = groupFunctions(text);
    expect({ defs: defs.length, calls }).toEqual({ defs: 7, calls: 8 });
    expect(text).toContain('Group definition shared by 2 instances: "up 1 stage 1", "up 1 stage 2".');
    expect(text).toMatch(/\/\/ member 0: Concat → \[64, 8, 8\]/);
  }, 60_000);

  it('vanilla U-Net by module: 8 instances, 8 definitions', async () => {
    const text = await expectSameAsFlat(withGroups(VANILLA(), ['inc', 'down1', 'down2', 'down3', 'up1', 'up2', 'up3', 'outc'].map((name) => ({ name }))));
    expect(groupFunctions(text)).toEqual({ defs: ['inc', 'down1', 'down2', 'down3', 'up1', 'up2', 'up3', 'outc'], calls: 8 });
  }, 60_000);

  it('a group whose inner block also feeds a skip outside returns both outputs', async () => {
    const text = await expectSameAsFlat(withGroups({ ...iddpm(IDDPM_SMALL, 8), name: 'iddpm-small' }, [{ name: 'stem', nodes: ['input_blocks.1.0', 'input_blocks.2.0'] }]));
    expect(text).toContain('const [input_blocks_1_0, input_blocks_2_0] = stem([at("input_blocks.1.0"), at("input_blocks.2.0")], [false, false], input_blocks_0_0, time_embed);');
    expect(text).toContain('function stem(w: readonly WeightGetter[], own: readonly boolean[], x: tf.Tensor, emb: tf.Tensor): [tf.Tensor, tf.Tensor] {');
    // input_blocks.1.0 is read inside (by the Downsample) and returned: not freed in the function.
    expect(text).not.toMatch(/function stem[\s\S]*?tf\.dispose[\s\S]*?\n}/);
  }, 60_000);

  it('a group that cannot run as one call is dissolved (the flat module, byte for byte); malformed groups are the validator\'s to refuse', () => {
    const base = { ...withoutGroups(iddpm(IDDPM_SMALL, 8)), name: 'iddpm-small' };
    const flat = generateModule(base, readSources()).text;
    const id = (name: string) => base.nodes.find((n) => n.name === name)!.id;
    // input_blocks.1.0 → input_blocks.2.0 (outside) → input_blocks.3.0: no single call can run it.
    expect(generateModule(withGroups(base, [{ name: 'split', nodes: ['input_blocks.1.0', 'input_blocks.3.0'] }]), readSources()).text).toBe(flat);
    // Two groups feeding each other (a→b across, b→a across) cannot both be calls: both dissolve.
    const crossed = withGroups(base, [
      { name: 'p', nodes: ['input_blocks.1.0', 'input_blocks.3.0'] },
      { name: 'q', nodes: ['input_blocks.2.0', 'input_blocks.3.1'] },
    ]);
    expect(generateModule(crossed, readSources()).text).toBe(flat);
    // Malformed groups make the graph invalid (graph/group-problems.ts): refused with the problem named, like any invalid graph.
    const malformed: GraphGroup[][] = [
      [{ id: 'g1', name: 'a', nodes: ['no such node'] }],
      [{ id: 'g1', name: 'a', parent: 'g2', nodes: [id('input_blocks.1.0')] }, { id: 'g2', name: 'b', nodes: [id('input_blocks.2.0')] }],
      [{ id: 'g1', name: 'a', nodes: [id('input_blocks.1.0')] }, { id: 'g2', name: 'b', nodes: [id('input_blocks.1.0')] }],
      [{ id: 'g1', name: 'a', nodes: [id('input_blocks.1.0')] }, { id: 'g1', name: 'b', nodes: [id('input_blocks.2.0')] }],
      [{ id: id('input_blocks.1.0'), name: 'a', nodes: [id('input_blocks.2.0')] }],
      [{ id: 'g1', name: 'empty', nodes: [] }],
    ];
    for (const groups of malformed) expect(() => generateModule({ ...base, groups }, readSources()), JSON.stringify(groups)).toThrow(/is not valid[\s\S]*group "(a|b|empty)"/);
    expect(generateModule({ ...base, groups: [] }, readSources()).text).toBe(flat);
    // A group holding only Input/Output blocks leaves the module flat too.
    expect(generateModule(withGroups(base, [{ name: 'io', nodes: ['x', 'output'] }]), readSources()).text).toBe(flat);
  });
});

/**
 * Every template as it groups itself (levels, modules; graph/templates): its module and the flat
 * graph's give the same bits on cpu, and so does the interpreter. (A level may run a block earlier
 * or later than the flat order, e.g. the stem conv after the time embedding.) Strict type-checks of grouped template modules
 * are the golden files' (test/golden, checked in CI) and the diffusers case above.
 */
describe('every template, grouped as it builds itself, equals its flat graph (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  const cases: readonly (readonly [string, () => Graph])[] = [
    ["iDDPM, New…'s default (64 ch; at 8×8 to keep cpu time down)", () => iddpm(IDDPM_DEFAULTS, 8)],
    ['iDDPM, resblock_updown, new q|k|v order, 3 classes', () => iddpm({ ...IDDPM_SMALL, resblock_updown: true, use_new_attention_order: true, num_classes: 3 }, 8)],
    ['diffusers UNet2DModel (small)', () => diffusersUNet2D(DIFFUSERS_SMALL)],
    ['classic UNet', VANILLA],
  ];
  for (const [label, make] of cases) {
    it(label, async () => {
      const grouped = make();
      expect((grouped.groups ?? []).length).toBeGreaterThan(2);
      const flat = withoutGroups(grouped);
      const g = generateModule(grouped, readSources());
      const f = generateModule(flat, readSources());
      expect(groupFunctions(g.text).calls).toBeGreaterThan(2);
      const inputs = makeInputs(grouped, g.inputs);
      const args = g.inputs.map((r) => inputs[r]);
      const bytes = stateDictBytes(flat);
      const gm = loadModule(g.text, g.className).fromSafetensors(bytes);
      const fm = loadModule(f.text, f.className).fromSafetensors(bytes);
      const a = { out: gm.forward(...args) };
      const b = { out: fm.forward(...args) };
      const want = b.out.dataSync();
      expect(Math.max(...Array.from(want, Math.abs))).toBeGreaterThan(0.01);
      expect(firstMismatch(a.out.dataSync(), want)).toBe(-1);
      const plan = planGraph(grouped);
      const w = loadWeights(plan, parseSafetensors(bytes));
      const interp = runGraph(plan, w, inputs).out;
      expect(firstMismatch(interp.dataSync(), want)).toBe(-1);
      tf.dispose([interp, a.out, b.out, ...Object.values(inputs)]);
      disposeWeights(w);
      gm.dispose();
      fm.dispose();
    }, 60_000);
  }
});
