/**
 * Every block declaration: parameter defaults, shape rules (positive and negative), weight specs
 * (exact PyTorch keys, shapes, layouts and initialisers) and FLOP counts.
 */
import { describe, it, expect } from 'vitest';
import { BLOCK_TYPES, BLOCKS, blockDef, isBlockType, type BlockType } from './registry';
import type { BlockIssue, InputShapes, ParamValue, ShapeResult, TensorShape, WeightLayout, WeightSpec } from './types';
import { feature, vector } from './common';

// ---------------------------------------------------------------------------------------------
// helpers

/** Each parameter's declared default (graph/params' `defaultParams`, without importing graph/). */
const defaultParams = (type: BlockType): Record<string, ParamValue> =>
  Object.fromEntries(Object.entries(blockDef(type).params).map(([name, spec]) => [name, spec.default]));

const f = feature;
const emb = vector;
const timesteps: TensorShape = { kind: 'timesteps', dims: [] };
const label = (numClasses?: number): TensorShape =>
  numClasses === undefined ? { kind: 'label', dims: [] } : { kind: 'label', dims: [], numClasses };

type Overrides = Readonly<Record<string, ParamValue>>;

const paramsOf = (type: BlockType, over: Overrides = {}) => ({ ...defaultParams(type), ...over });

function shapeOf(type: BlockType, inputs: InputShapes, over: Overrides = {}): ShapeResult {
  return blockDef(type).shape(inputs, paramsOf(type, over));
}

function outOf(type: BlockType, inputs: InputShapes, over: Overrides = {}): TensorShape {
  const r = shapeOf(type, inputs, over);
  if (!r.ok) throw new Error(`${type}: expected a shape, got ${r.issues.map((i) => i.message).join('; ')}`);
  return r.out;
}

function issuesOf(type: BlockType, inputs: InputShapes, over: Overrides = {}): readonly BlockIssue[] {
  const r = shapeOf(type, inputs, over);
  if (r.ok) throw new Error(`${type}: expected issues, got ${JSON.stringify(r.out)}`);
  return r.issues;
}

function weightsOf(type: BlockType, inputs: InputShapes, over: Overrides = {}): readonly WeightSpec[] {
  return blockDef(type).weights(inputs, paramsOf(type, over));
}

function weightMap(type: BlockType, inputs: InputShapes, over: Overrides = {}): Map<string, WeightSpec> {
  const m = new Map<string, WeightSpec>();
  for (const w of weightsOf(type, inputs, over)) m.set(w.key, w);
  return m;
}

function weight(m: ReadonlyMap<string, WeightSpec>, key: string): WeightSpec {
  const w = m.get(key);
  if (w === undefined) throw new Error(`no weight "${key}" (have ${[...m.keys()].join(', ')})`);
  return w;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const paramCount = (ws: readonly WeightSpec[]): number => ws.filter((w) => w.role === 'param').reduce((n, w) => n + numel(w.shape), 0);

const RANK: Readonly<Record<WeightLayout, number | null>> = { conv2d: 4, convT: 4, linear: 2, conv1d: 3, same: null };

// ---------------------------------------------------------------------------------------------
// positive shape cases, one table entry per block type (the Record type makes a missing type a
// compile error; the first test checks it at run time too)

interface ShapeCase {
  readonly name: string;
  readonly inputs: InputShapes;
  readonly params?: Overrides;
  readonly out: TensorShape;
  /** Expected warning messages (none when absent). */
  readonly warnings?: readonly RegExp[];
}

const CASES: { readonly [K in BlockType]: readonly ShapeCase[] } = {
  ImageInput: [
    { name: 'defaults give 3×32×32', inputs: {}, out: f(3, 32, 32) },
    { name: 'channels/height/width are taken as given', inputs: {}, params: { channels: 1, height: 30, width: 26 }, out: f(1, 30, 26) },
  ],
  TimestepsInput: [{ name: 'gives a scalar timesteps tensor', inputs: {}, out: { kind: 'timesteps', dims: [] } }],
  ClassLabelInput: [
    { name: 'carries its class count', inputs: {}, params: { num_classes: 7 }, out: { kind: 'label', dims: [], numClasses: 7 } },
    { name: 'default is 10 classes', inputs: {}, out: { kind: 'label', dims: [], numClasses: 10 } },
  ],
  Output: [{ name: 'passes its input shape through', inputs: { x: f(3, 16, 16) }, out: f(3, 16, 16) }],
  TimestepEmbedding: [
    { name: 'dim 32', inputs: { x: timesteps }, params: { dim: 32 }, out: emb(32) },
    { name: 'odd dim 33 (zero-padded column)', inputs: { x: timesteps }, params: { dim: 33 }, out: emb(33) },
    { name: 'default dim 128', inputs: { x: timesteps }, out: emb(128) },
  ],
  TimeEmbedMLP: [
    { name: '32 → 128', inputs: { x: emb(32) }, params: { dim: 128 }, out: emb(128) },
    { name: 'default dim 512', inputs: { x: emb(128) }, out: emb(512) },
  ],
  LabelEmbedding: [{ name: 'keeps the embedding dim', inputs: { x: emb(128), y: label(10) }, out: emb(128) }],
  Conv2d: [
    // PyTorch: floor((17 + 2·1 − 3) / 2) + 1 = 9
    { name: 'k3 s2 p1 on 3×17×17 → 64×9×9', inputs: { x: f(3, 17, 17) }, params: { kernel_size: 3, stride: 2, padding: 1 }, out: f(64, 9, 9) },
    { name: 'k3 s2 p1 on 3×16×16 → 64×8×8', inputs: { x: f(3, 16, 16) }, params: { stride: 2 }, out: f(64, 8, 8) },
    { name: 'k3 s1 p1 keeps the resolution', inputs: { x: f(3, 30, 26) }, params: { out_channels: 16 }, out: f(16, 30, 26) },
    { name: 'k1 p0 (outc) on 8×30×26 → 2×30×26', inputs: { x: f(8, 30, 26) }, params: { out_channels: 2, kernel_size: 1, padding: 0 }, out: f(2, 30, 26) },
    { name: 'k5 p0 on 3×7×9 → 64×3×5', inputs: { x: f(3, 7, 9) }, params: { kernel_size: 5, padding: 0 }, out: f(64, 3, 5) },
    // floor((10 + 0 − 3) / 3) + 1 = 3
    { name: 'k3 s3 p0 on 4×10×10 → 5×3×3', inputs: { x: f(4, 10, 10) }, params: { out_channels: 5, stride: 3, padding: 0 }, out: f(5, 3, 3) },
  ],
  GroupNorm: [
    { name: '64 channels, 32 groups', inputs: { x: f(64, 8, 8) }, out: f(64, 8, 8) },
    { name: '48 channels, 16 groups', inputs: { x: f(48, 5, 7) }, params: { groups: 16 }, out: f(48, 5, 7) },
  ],
  SiLU: [{ name: 'keeps the shape', inputs: { x: f(32, 16, 16) }, out: f(32, 16, 16) }],
  ResBlock: [
    { name: 'none: 32 → 64 at 16×16', inputs: { x: f(32, 16, 16), emb: emb(128) }, params: { out_channels: 64 }, out: f(64, 16, 16) },
    { name: 'down: 32 → 64, 16×16 → 8×8', inputs: { x: f(32, 16, 16), emb: emb(128) }, params: { out_channels: 64, resample: 'down' }, out: f(64, 8, 8) },
    { name: 'up: 64 → 32, 8×6 → 16×12', inputs: { x: f(64, 8, 6), emb: emb(128) }, params: { out_channels: 32, resample: 'up' }, out: f(32, 16, 12) },
    { name: 'up on an odd size is fine: 15×16 → 30×32', inputs: { x: f(32, 15, 16), emb: emb(128) }, params: { out_channels: 32, resample: 'up' }, out: f(32, 30, 32) },
    { name: 'default out_channels 128', inputs: { x: f(64, 8, 8), emb: emb(256) }, out: f(128, 8, 8) },
  ],
  AttentionBlock: [
    { name: '2 heads on 64×8×8', inputs: { x: f(64, 8, 8) }, params: { num_heads: 2 }, out: f(64, 8, 8) },
    { name: '32 channels per head on 128×4×4', inputs: { x: f(128, 4, 4) }, params: { num_head_channels: 32 }, out: f(128, 4, 4) },
  ],
  Downsample: [
    { name: 'conv: 64×16×16 → 64×8×8', inputs: { x: f(64, 16, 16) }, out: f(64, 8, 8) },
    { name: 'avgpool: 32×8×4 → 32×4×2', inputs: { x: f(32, 8, 4) }, params: { use_conv: false }, out: f(32, 4, 2) },
  ],
  Upsample: [
    { name: 'conv: 64×8×8 → 64×16×16', inputs: { x: f(64, 8, 8) }, out: f(64, 16, 16) },
    { name: 'nearest only: 32×7×5 → 32×14×10', inputs: { x: f(32, 7, 5) }, params: { use_conv: false }, out: f(32, 14, 10) },
  ],
  Concat: [
    { name: 'x_first: 64 + 32 channels', inputs: { x: f(64, 8, 8), skip: f(32, 8, 8) }, params: { order: 'x_first' }, out: f(96, 8, 8) },
    { name: 'skip_first: 16 + 48 channels', inputs: { x: f(16, 4, 4), skip: f(48, 4, 4) }, params: { order: 'skip_first' }, out: f(64, 4, 4) },
    {
      name: 'pad_to_match: x 7×6 into skip 15×13 → 15×13',
      inputs: { x: f(32, 7, 6), skip: f(16, 15, 13) },
      params: { order: 'skip_first', pad_to_match: true },
      out: f(48, 15, 13),
    },
    { name: 'pad_to_match with equal sizes', inputs: { x: f(8, 6, 6), skip: f(8, 6, 6) }, params: { pad_to_match: true }, out: f(16, 6, 6) },
  ],
  Add: [{ name: 'same shapes', inputs: { a: f(32, 8, 8), b: f(32, 8, 8) }, out: f(32, 8, 8) }],
  DoubleConv: [
    { name: '3 → 8 keeps 30×26', inputs: { x: f(3, 30, 26) }, params: { out_channels: 8 }, out: f(8, 30, 26) },
    { name: 'mid channels do not change the output', inputs: { x: f(16, 8, 8) }, params: { out_channels: 4, mid_channels: 12 }, out: f(4, 8, 8) },
  ],
  MaxPool2d: [
    { name: '32×32 → 16×16', inputs: { x: f(8, 32, 32) }, out: f(8, 16, 16) },
    { name: '30×26 → 15×13 (both even: no warning)', inputs: { x: f(8, 30, 26) }, out: f(8, 15, 13) },
    {
      name: '15×13 → 7×6 with a warning',
      inputs: { x: f(16, 15, 13) },
      out: f(16, 7, 6),
      warnings: [/^15×13 is not divisible by 2: the last row\/column is dropped$/],
    },
    {
      name: 'k3 on 9×10 → 3×3 with a warning',
      inputs: { x: f(4, 9, 10) },
      params: { kernel_size: 3 },
      out: f(4, 3, 3),
      warnings: [/^9×10 is not divisible by 3/],
    },
  ],
  ConvTranspose2d: [
    { name: 'k2 s2: 64×4×4 → 32×8×8', inputs: { x: f(64, 4, 4) }, params: { out_channels: 32 }, out: f(32, 8, 8) },
    { name: 'k2 s2: 64×3×3 → 32×6×6', inputs: { x: f(64, 3, 3) }, params: { out_channels: 32 }, out: f(32, 6, 6) },
    // (H − 1)·s + k = 3·1 + 3 = 6
    { name: 'k3 s1: 8×4×5 → 16×6×7', inputs: { x: f(8, 4, 5) }, params: { out_channels: 16, kernel_size: 3, stride: 1 }, out: f(16, 6, 7) },
  ],
  BatchNorm2d: [{ name: 'keeps the shape', inputs: { x: f(16, 15, 13) }, out: f(16, 15, 13) }],
  ReLU: [{ name: 'keeps the shape', inputs: { x: f(8, 3, 3) }, out: f(8, 3, 3) }],
  Timesteps: [
    { name: 'dim 32', inputs: { x: timesteps }, params: { num_channels: 32 }, out: emb(32) },
    { name: 'odd dim 33 (zero-padded column)', inputs: { x: timesteps }, params: { num_channels: 33, flip_sin_to_cos: false }, out: emb(33) },
  ],
  DiffusersTimestepEmbedding: [{ name: '32 → 128', inputs: { x: emb(32) }, params: { dim: 128 }, out: emb(128) }],
  ResnetBlock2D: [
    { name: 'none: 32 → 64 at 16×16', inputs: { x: f(32, 16, 16), emb: emb(128) }, params: { out_channels: 64 }, out: f(64, 16, 16) },
    { name: 'down: 64 → 64, 16×16 → 8×8', inputs: { x: f(64, 16, 16), emb: emb(128) }, params: { out_channels: 64, resample: 'down' }, out: f(64, 8, 8) },
    { name: 'down on an odd 7×9 (avg-pool floor) → 3×4', inputs: { x: f(32, 7, 9), emb: emb(128) }, params: { out_channels: 32, resample: 'down' }, out: f(32, 3, 4) },
    { name: 'up: 64 → 32, 8×6 → 16×12, 16 groups, scale-shift', inputs: { x: f(64, 8, 6), emb: emb(128) }, params: { out_channels: 32, resample: 'up', groups: 16, time_embedding_norm: 'scale_shift' }, out: f(32, 16, 12) },
    { name: 'mish: 32 → 32 at 8×8', inputs: { x: f(32, 8, 8), emb: emb(64) }, params: { out_channels: 32, act_fn: 'mish' }, out: f(32, 8, 8) },
  ],
  Attention: [
    { name: 'head size 8 on 64×8×8', inputs: { x: f(64, 8, 8) }, out: f(64, 8, 8) },
    { name: 'one head (0), no group norm, 48 channels', inputs: { x: f(48, 4, 4) }, params: { attention_head_dim: 0, group_norm: false }, out: f(48, 4, 4) },
  ],
  Downsample2D: [
    { name: 'conv, padding 1: 64×16×16 → 64×8×8', inputs: { x: f(64, 16, 16) }, out: f(64, 8, 8) },
    { name: 'conv, padding 0 (pad right/bottom): 32×16×16 → 32×8×8', inputs: { x: f(32, 16, 16) }, params: { padding: 0 }, out: f(32, 8, 8) },
    // padding 0 on 15: floor((15 + 1 − 3) / 2) + 1 = 7; padding 1: floor((15 + 2 − 3) / 2) + 1 = 8
    { name: 'conv, padding 0 on 15×16 → 7×8', inputs: { x: f(8, 15, 16) }, params: { padding: 0 }, out: f(8, 7, 8) },
    { name: 'conv, padding 1 on 15×16 → 8×8', inputs: { x: f(8, 15, 16) }, out: f(8, 8, 8) },
    { name: 'avgpool: 32×8×5 → 32×4×2', inputs: { x: f(32, 8, 5) }, params: { use_conv: false }, out: f(32, 4, 2) },
  ],
  LearnedTimesteps: [
    { name: '1000 rows of 32', inputs: { x: timesteps }, out: emb(32) },
    { name: '10 rows of 7', inputs: { x: timesteps }, params: { num_embeddings: 10, num_channels: 7 }, out: emb(7) },
  ],
  Rescale: [{ name: 'keeps the shape', inputs: { x: f(3, 7, 5) }, out: f(3, 7, 5) }],
  ContextInput: [
    { name: 'defaults give 77 tokens × 768', inputs: {}, out: { kind: 'context', dims: [77, 768] } },
    { name: 'tokens and dim as given', inputs: {}, params: { tokens: 8, dim: 48 }, out: { kind: 'context', dims: [8, 48] } },
  ],
  SpatialTransformer: [
    { name: 'keeps x: 64×8×8 with 77×768 context', inputs: { x: f(64, 8, 8), context: { kind: 'context', dims: [77, 768] } }, out: f(64, 8, 8) },
    {
      // Computed (proj_out [C, inner], diffusers' layout), but Stability-AI's Linear(in_channels, inner_dim) needs inner = C.
      name: 'inner ≠ C, linear, depth 2: a warning about the checkpoint layout',
      inputs: { x: f(32, 5, 3), context: { kind: 'context', dims: [4, 16] } },
      params: { n_heads: 3, d_head: 8, depth: 2, use_linear: true },
      out: f(32, 5, 3),
      warnings: [/^3 heads × 8 = 24 ≠ 32 channels with linear projections: Stability-AI's SpatialTransformer builds proj_out as Linear\(in_channels, inner_dim\), so its checkpoint layout needs equal sizes \(this block computes it with proj_out \[32, 24\], diffusers' layout\)$/],
    },
    { name: 'inner ≠ C with 1×1 conv projections: no warning', inputs: { x: f(64, 3, 5), context: { kind: 'context', dims: [5, 40] } }, params: { n_heads: 3, d_head: 8, use_linear: false }, out: f(64, 3, 5) },
    { name: 'inner = C, linear (SD 2.x): no warning', inputs: { x: f(320, 8, 8), context: { kind: 'context', dims: [77, 1024] } }, params: { n_heads: 5, d_head: 64, use_linear: true }, out: f(320, 8, 8) },
  ],
  Transformer2DModel: [
    { name: 'keeps x: 320×8×8 with 77×768 context', inputs: { x: f(320, 8, 8), context: { kind: 'context', dims: [77, 768] } }, params: { num_attention_heads: 8, attention_head_dim: 40 }, out: f(320, 8, 8) },
    // diffusers' own proj_out is Linear(inner_dim, in_channels): any inner width is a real checkpoint.
    { name: 'inner ≠ C, linear (diffusers\' layout): no warning', inputs: { x: f(32, 4, 4), context: { kind: 'context', dims: [8, 24] } }, params: { num_attention_heads: 3, attention_head_dim: 10, use_linear_projection: true }, out: f(32, 4, 4) },
  ],
};

describe('registry', () => {
  it('declares 31 block types, each registered once under its own type name', () => {
    expect(BLOCK_TYPES).toHaveLength(31);
    expect(new Set(BLOCK_TYPES).size).toBe(31);
    expect(Object.keys(BLOCKS).sort()).toEqual([...BLOCK_TYPES].sort());
    for (const t of BLOCK_TYPES) {
      expect(isBlockType(t)).toBe(true);
      expect(blockDef(t).type).toBe(t);
    }
    expect(isBlockType('Transformer')).toBe(false);
    expect(isBlockType('toString')).toBe(false);
    expect(isBlockType('__proto__')).toBe(false);
  });

  it('the shape-case table covers every block type with at least one case', () => {
    expect(Object.keys(CASES).sort()).toEqual([...BLOCK_TYPES].sort());
    const covered = BLOCK_TYPES.filter((t) => CASES[t].length > 0);
    expect(covered).toHaveLength(31);
  });
});

describe.each(BLOCK_TYPES)('%s declaration', (type) => {
  const def = blockDef(type);

  it('has a display name, description, category, name hint and ports', () => {
    expect(def.displayName.length).toBeGreaterThan(0);
    expect(def.description.length).toBeGreaterThan(5);
    expect(['Inputs & outputs', 'Diffusion', 'Layers', 'Classic UNet']).toContain(def.category);
    expect(def.nameHint).toMatch(/^[a-z_]+$/);
    expect(new Set(def.inputs.map((p) => p.name)).size).toBe(def.inputs.length);
    if (def.output !== null) expect(def.output.name).toBe('out');
    // Only graph inputs lack inputs; only the Output lacks an output.
    expect(def.inputs.length === 0).toBe(def.io === 'x' || def.io === 'timesteps' || def.io === 'y' || def.io === 'context');
    expect(def.output === null).toBe(type === 'Output');
  });

  it('every parameter default is within its bounds, and summary(defaults) is a string', () => {
    for (const spec of Object.values(def.params)) {
      if (spec.type === 'int' || spec.type === 'float') expect(spec.min).toBeLessThanOrEqual(spec.max);
      if (spec.type === 'enum') expect(spec.options).toContain(spec.default);
    }
    const defaults = defaultParams(type);
    expect(Object.keys(defaults).sort()).toEqual(Object.keys(def.params).sort());
    expect(typeof def.view.summary(defaults)).toBe('string');
    expect(def.view.color).toMatch(/^#[0-9a-f]{6}$/);
    expect(def.checkParams?.(defaults) ?? []).toEqual([]);
  });

  for (const c of CASES[type]) {
    it(`shape: ${c.name}`, () => {
      const r = shapeOf(type, c.inputs, c.params);
      if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('; '));
      expect(r.out).toEqual(c.out);
      const warnings = r.warnings ?? [];
      expect(warnings).toHaveLength(c.warnings?.length ?? 0);
      warnings.forEach((w, i) => {
        expect(w.message).toMatch(c.warnings![i]);
        expect(w.severity).toBe('warning');
        expect(w.fix.length).toBeGreaterThan(0);
      });
    });

    it(`weights and flops are well-formed: ${c.name}`, () => {
      const params = paramsOf(type, c.params);
      const ws = def.weights(c.inputs, params);
      expect(new Set(ws.map((w) => w.key)).size).toBe(ws.length);
      for (const w of ws) {
        expect(w.key).toMatch(/^[A-Za-z0-9_.]+$/);
        expect(w.key.startsWith('.') || w.key.endsWith('.')).toBe(false);
        for (const d of w.shape) expect(Number.isInteger(d) && d > 0).toBe(true);
        const rank = RANK[w.layout];
        if (rank !== null) expect(w.shape).toHaveLength(rank);
        expect(w.dtype).toBe(w.key.endsWith('num_batches_tracked') ? 'int64' : 'float32');
        expect(w.role).toBe(/running_(mean|var)$|num_batches_tracked$/.test(w.key) ? 'buffer' : 'param');
      }
      const flops = def.flops(c.inputs, c.out, params);
      expect(Number.isInteger(flops) && flops >= 0).toBe(true);
      // A block without weights does no multiply-adds worth counting; one with conv/linear weights does.
      if (ws.some((w) => w.layout !== 'same')) expect(flops).toBeGreaterThan(0);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// negative shape cases

describe('shape rules: what is wrong, and the fix', () => {
  it('GroupNorm: 48 channels / 32 groups', () => {
    expect(issuesOf('GroupNorm', { x: f(48, 8, 8) })).toEqual([
      { message: '48 channels are not divisible by 32 groups', fix: 'use a multiple of 32 (32 or 64)', param: 'groups' },
    ]);
  });

  it('GroupNorm: fewer channels than groups offers only the next multiple', () => {
    expect(issuesOf('GroupNorm', { x: f(16, 8, 8) })).toEqual([
      { message: '16 channels are not divisible by 32 groups', fix: 'use a multiple of 32 (32)', param: 'groups' },
    ]);
  });

  it('ResBlock: input channels not divisible by 32', () => {
    const issues = issuesOf('ResBlock', { x: f(80, 8, 8), emb: emb(128) }, { out_channels: 64 });
    expect(issues).toEqual([{ message: '80 input channels are not divisible by 32 groups', fix: 'use a multiple of 32 (64 or 96)' }]);
  });

  it('ResBlock: output channels not divisible by 32 (param at fault: out_channels)', () => {
    const issues = issuesOf('ResBlock', { x: f(64, 8, 8), emb: emb(128) }, { out_channels: 100 });
    expect(issues).toEqual([
      { message: '100 output channels are not divisible by 32 groups', fix: 'use a multiple of 32 (96 or 128)', param: 'out_channels' },
    ]);
  });

  it('ResBlock: input and output and odd resolution all reported together', () => {
    const issues = issuesOf('ResBlock', { x: f(48, 15, 16), emb: emb(128) }, { out_channels: 40, resample: 'down' });
    expect(issues.map((i) => i.message)).toEqual([
      '48 input channels are not divisible by 32 groups',
      '40 output channels are not divisible by 32 groups',
      'odd resolution 15×16 before a stride-2 downsample',
    ]);
  });

  it('ResBlock: down on an odd 15×16 input', () => {
    expect(issuesOf('ResBlock', { x: f(32, 15, 16), emb: emb(128) }, { out_channels: 32, resample: 'down' })).toEqual([
      {
        message: 'odd resolution 15×16 before a stride-2 downsample',
        fix: 'use an input whose size is divisible by 2 at every level (e.g. 2^levels)',
        param: 'resample',
      },
    ]);
    // odd width only
    expect(issuesOf('ResBlock', { x: f(32, 16, 9), emb: emb(128) }, { out_channels: 32, resample: 'down' })[0].message).toBe(
      'odd resolution 16×9 before a stride-2 downsample',
    );
  });

  it('Downsample: odd resolution (conv or avgpool)', () => {
    for (const use_conv of [true, false]) {
      const issues = issuesOf('Downsample', { x: f(64, 15, 16) }, { use_conv });
      expect(issues).toHaveLength(1);
      expect(issues[0].message).toBe('odd resolution 15×16 before a stride-2 downsample');
      expect(issues[0].fix).toContain('divisible by 2');
    }
    expect(issuesOf('Downsample', { x: f(64, 1, 1) })[0].message).toBe('odd resolution 1×1 before a stride-2 downsample');
  });

  it('AttentionBlock: heads that do not divide the channels', () => {
    expect(issuesOf('AttentionBlock', { x: f(64, 8, 8) }, { num_heads: 3 })).toEqual([
      { message: '64 channels are not divisible by 3 heads', fix: 'use a number of heads that divides 64', param: 'num_heads' },
    ]);
  });

  it('AttentionBlock: channels per head that do not divide the channels (num_heads then ignored)', () => {
    expect(issuesOf('AttentionBlock', { x: f(64, 8, 8) }, { num_head_channels: 24, num_heads: 3 })).toEqual([
      { message: '64 channels are not divisible by 24 channels per head', fix: 'use a divisor of 64 for channels per head', param: 'num_head_channels' },
    ]);
  });

  it('AttentionBlock: GroupNorm rule on its input, and 0 channels per head in checkParams', () => {
    const issues = issuesOf('AttentionBlock', { x: f(48, 4, 4) }, { num_heads: 5 });
    expect(issues.map((i) => i.message)).toEqual(['48 channels are not divisible by 32 groups', '48 channels are not divisible by 5 heads']);
    const check = blockDef('AttentionBlock').checkParams;
    expect(check).toBeDefined();
    expect(check!(paramsOf('AttentionBlock', { num_head_channels: 0 }))).toEqual([
      { message: '0 channels per head', fix: 'use -1 (then Heads counts) or a positive number', param: 'num_head_channels' },
    ]);
    expect(check!(paramsOf('AttentionBlock', { num_head_channels: 64 }))).toEqual([]);
  });

  it('Add: channel mismatch', () => {
    expect(issuesOf('Add', { a: f(32, 8, 8), b: f(64, 8, 8) })).toEqual([
      { message: 'channel mismatch: input a has 32 channels, input b has 64', fix: 'make both inputs carry the same number of channels' },
    ]);
  });

  it('Add: resolution mismatch', () => {
    expect(issuesOf('Add', { a: f(32, 8, 8), b: f(32, 8, 16) })).toEqual([
      { message: 'resolution mismatch: input a is 8×8, input b is 8×16', fix: 'add feature maps of the same resolution' },
    ]);
  });

  it('Add: both mismatches at once', () => {
    expect(issuesOf('Add', { a: f(3, 4, 4), b: f(4, 2, 2) }).map((i) => i.message)).toEqual([
      'channel mismatch: input a has 3 channels, input b has 4',
      'resolution mismatch: input a is 4×4, input b is 2×2',
    ]);
  });

  it('Concat: resolution mismatch without padding suggests "Pad to match"', () => {
    const issues = issuesOf('Concat', { x: f(32, 7, 6), skip: f(16, 15, 13) });
    expect(issues).toHaveLength(1);
    expect(issues[0].message).toBe('resolution mismatch: x is 7×6 but skip is 15×13');
    expect(issues[0].fix).toMatch(/same resolution.*"Pad to match"/);
  });

  it('Concat: padding cannot shrink x larger than the skip', () => {
    const issues = issuesOf('Concat', { x: f(32, 16, 12), skip: f(16, 15, 13) }, { pad_to_match: true });
    expect(issues).toHaveLength(1);
    expect(issues[0].message).toBe('resolution mismatch: x is 16×12 but skip is 15×13');
    expect(issues[0].fix).toBe('x must not be larger than the skip; connect the skip from the matching encoder level');
  });

  it('Conv2d: a kernel that does not fit', () => {
    expect(issuesOf('Conv2d', { x: f(3, 3, 3) }, { kernel_size: 5, padding: 0 })).toEqual([
      { message: 'a 5×5 kernel does not fit a 3×3 input with padding 0', fix: 'use a smaller kernel or more padding', param: 'kernel_size' },
    ]);
    // With padding 1 it fits: 3 + 2 − 5 + 1 = 1.
    expect(outOf('Conv2d', { x: f(3, 3, 3) }, { kernel_size: 5, padding: 1 })).toEqual(f(64, 1, 1));
  });

  it('MaxPool2d: input smaller than the pool', () => {
    expect(issuesOf('MaxPool2d', { x: f(8, 1, 4) })).toEqual([
      { message: 'a 1×4 input is smaller than the 2×2 pool', fix: 'remove a downsampling level or use a larger input', param: 'kernel_size' },
    ]);
  });

  it('a failure keeps a best-effort output where it is still clear (ResBlock, GroupNorm, Attention)', () => {
    const res = shapeOf('ResBlock', { x: f(80, 8, 8), emb: emb(128) }, { out_channels: 64 });
    expect(res).toMatchObject({ ok: false, out: f(64, 8, 8) });
    // avg-pool floor on the odd side: 15×16 → 7×8
    expect(shapeOf('ResBlock', { x: f(32, 15, 16), emb: emb(128) }, { out_channels: 32, resample: 'down' })).toMatchObject({ ok: false, out: f(32, 7, 8) });
    expect(shapeOf('ResBlock', { x: f(48, 5, 4), emb: emb(128) }, { out_channels: 40, resample: 'up' })).toMatchObject({ ok: false, out: f(40, 10, 8) });
    expect(shapeOf('GroupNorm', { x: f(48, 8, 8) })).toMatchObject({ ok: false, out: f(48, 8, 8) });
    expect(shapeOf('AttentionBlock', { x: f(64, 8, 8) }, { num_heads: 3 })).toMatchObject({ ok: false, out: f(64, 8, 8) });
  });

  it('a failure without a clear output leaves it out (Add, Concat, Conv2d, Downsample, MaxPool2d)', () => {
    const cases: ReadonlyArray<readonly [BlockType, InputShapes, Overrides]> = [
      ['Add', { a: f(3, 4, 4), b: f(4, 4, 4) }, {}],
      ['Concat', { x: f(8, 4, 4), skip: f(8, 8, 8) }, {}],
      ['Conv2d', { x: f(3, 2, 2) }, { kernel_size: 5, padding: 0 }],
      ['Downsample', { x: f(8, 5, 4) }, {}],
      ['MaxPool2d', { x: f(8, 1, 1) }, {}],
    ];
    for (const [type, inputs, over] of cases) {
      const r = shapeOf(type, inputs, over);
      expect(r.ok).toBe(false);
      expect('out' in r && r.out !== undefined).toBe(false);
    }
  });

  it("SpatialTransformer: linear projections with heads × head size ≠ channels warn (Stability-AI's checkpoint layout), with the sizes that fit", () => {
    const ctx = { kind: 'context', dims: [8, 24] } as const;
    const warn = (c: number, nHeads: number, dHead: number) => {
      const r = shapeOf('SpatialTransformer', { x: f(c, 4, 4), context: ctx }, { n_heads: nHeads, d_head: dHead, use_linear: true });
      if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('; '));
      expect(r.out).toEqual(f(c, 4, 4));
      return r.warnings ?? [];
    };
    expect(warn(32, 3, 8)).toEqual([
      {
        severity: 'warning',
        message:
          "3 heads × 8 = 24 ≠ 32 channels with linear projections: Stability-AI's SpatialTransformer builds proj_out as Linear(in_channels, inner_dim), so its checkpoint layout needs equal sizes (this block computes it with proj_out [32, 24], diffusers' layout)",
        fix: 'use heads × head size = 32 (4 heads of 8), or 1×1 conv projections (Linear projections off), which take any inner width',
        param: 'n_heads',
      },
    ]);
    // Both ways to fit are offered when both divide; none when neither does; larger inner widths warn too.
    expect(warn(64, 4, 8)[0].fix).toBe('use heads × head size = 64 (4 heads of 16 or 8 heads of 8), or 1×1 conv projections (Linear projections off), which take any inner width');
    expect(warn(64, 3, 5)[0].fix).toBe('use heads × head size = 64, or 1×1 conv projections (Linear projections off), which take any inner width');
    expect(warn(32, 4, 16)[0].message).toMatch(/^4 heads × 16 = 64 ≠ 32 channels with linear projections: .* proj_out \[32, 64\]/);
    expect(warn(32, 4, 8)).toEqual([]);
    // An error still comes alone: the warning is about a valid block.
    expect(issuesOf('SpatialTransformer', { x: f(48, 4, 4), context: ctx }, { n_heads: 3, d_head: 8, use_linear: true }).map((i) => i.severity ?? 'error')).toEqual(['error']);
  });

  it('LabelEmbedding: a label without a class count', () => {
    expect(issuesOf('LabelEmbedding', { x: emb(128), y: label() })).toEqual([
      { message: 'the label input has no class count', fix: 'connect a Class-label input' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// weights

describe('weights: PyTorch keys, shapes, layouts, initialisers', () => {
  it('ResBlock 32 → 64, emb 128, scale-shift: every key in order', () => {
    const ws = weightsOf('ResBlock', { x: f(32, 16, 16), emb: emb(128) }, { out_channels: 64, use_scale_shift_norm: true });
    expect(ws.map((w) => [w.key, w.shape])).toEqual([
      ['in_layers.0.weight', [32]],
      ['in_layers.0.bias', [32]],
      ['in_layers.2.weight', [64, 32, 3, 3]],
      ['in_layers.2.bias', [64]],
      ['emb_layers.1.weight', [128, 128]],
      ['emb_layers.1.bias', [128]],
      ['out_layers.0.weight', [64]],
      ['out_layers.0.bias', [64]],
      ['out_layers.3.weight', [64, 64, 3, 3]],
      ['out_layers.3.bias', [64]],
      ['skip_connection.weight', [64, 32, 1, 1]],
      ['skip_connection.bias', [64]],
    ]);
    const m = weightMap('ResBlock', { x: f(32, 16, 16), emb: emb(128) }, { out_channels: 64, use_scale_shift_norm: true });
    // zero_module: the last conv starts at 0.
    expect(weight(m, 'out_layers.3.weight').init).toEqual({ kind: 'const', value: 0 });
    expect(weight(m, 'out_layers.3.bias').init).toEqual({ kind: 'const', value: 0 });
    expect(weight(m, 'in_layers.0.weight').init).toEqual({ kind: 'const', value: 1 });
    expect(weight(m, 'in_layers.0.bias').init).toEqual({ kind: 'const', value: 0 });
    expect(weight(m, 'in_layers.2.weight')).toMatchObject({ layout: 'conv2d', init: { kind: 'uniform', bound: 1 / Math.sqrt(32 * 9) } });
    expect(weight(m, 'in_layers.2.bias')).toMatchObject({ layout: 'same', init: { kind: 'uniform', bound: 1 / Math.sqrt(32 * 9) } });
    expect(weight(m, 'emb_layers.1.weight')).toMatchObject({ layout: 'linear', init: { kind: 'uniform', bound: 1 / Math.sqrt(128) } });
    expect(weight(m, 'skip_connection.weight')).toMatchObject({ layout: 'conv2d', init: { kind: 'uniform', bound: 1 / Math.sqrt(32) } });
    // PyTorch's count for this block: 64 + 18496 + 16512 + 128 + 36928 + 2112.
    expect(paramCount(ws)).toBe(74240);
  });

  it('ResBlock without scale-shift: emb_layers.1 projects to out_channels', () => {
    const m = weightMap('ResBlock', { x: f(32, 8, 8), emb: emb(128) }, { out_channels: 64 });
    expect(weight(m, 'emb_layers.1.weight').shape).toEqual([64, 128]);
    expect(weight(m, 'emb_layers.1.bias').shape).toEqual([64]);
  });

  it('ResBlock: no skip_connection when channels are equal (any resample)', () => {
    for (const resample of ['none', 'up', 'down']) {
      const keys = weightsOf('ResBlock', { x: f(64, 8, 8), emb: emb(256) }, { out_channels: 64, resample }).map((w) => w.key);
      expect(keys).toHaveLength(10);
      expect(keys.some((k) => k.startsWith('skip_connection'))).toBe(false);
    }
  });

  it("ResBlock: skip_conv '3x3' gives a 3×3 skip conv", () => {
    const m = weightMap('ResBlock', { x: f(32, 8, 8), emb: emb(128) }, { out_channels: 64, skip_conv: '3x3' });
    expect(weight(m, 'skip_connection.weight').shape).toEqual([64, 32, 3, 3]);
    expect(weight(m, 'skip_connection.weight').init).toEqual({ kind: 'uniform', bound: 1 / Math.sqrt(32 * 9) });
    expect(weight(m, 'skip_connection.bias').shape).toEqual([64]);
  });

  it('AttentionBlock: norm, qkv [3C, C, 1], zero-initialised proj_out', () => {
    const ws = weightsOf('AttentionBlock', { x: f(64, 8, 8) }, { num_heads: 2 });
    expect(ws.map((w) => [w.key, w.shape, w.layout])).toEqual([
      ['norm.weight', [64], 'same'],
      ['norm.bias', [64], 'same'],
      ['qkv.weight', [192, 64, 1], 'conv1d'],
      ['qkv.bias', [192], 'same'],
      ['proj_out.weight', [64, 64, 1], 'conv1d'],
      ['proj_out.bias', [64], 'same'],
    ]);
    const m = weightMap('AttentionBlock', { x: f(64, 8, 8) });
    expect(weight(m, 'qkv.weight').init).toEqual({ kind: 'uniform', bound: 1 / 8 });
    expect(weight(m, 'proj_out.weight').init).toEqual({ kind: 'const', value: 0 });
    expect(weight(m, 'proj_out.bias').init).toEqual({ kind: 'const', value: 0 });
    expect(paramCount(ws)).toBe(64 + 64 + 192 * 64 + 192 + 64 * 64 + 64);
  });

  it('Conv2d: zero_init gives const 0 for weight and bias', () => {
    const ws = weightsOf('Conv2d', { x: f(32, 16, 16) }, { out_channels: 3, zero_init: true });
    expect(ws).toEqual([
      { key: 'weight', shape: [3, 32, 3, 3], layout: 'conv2d', init: { kind: 'const', value: 0 }, role: 'param', dtype: 'float32' },
      { key: 'bias', shape: [3], layout: 'same', init: { kind: 'const', value: 0 }, role: 'param', dtype: 'float32' },
    ]);
  });

  it('Conv2d: default init is uniform ±1/√fan_in for weight and bias', () => {
    const ws = weightsOf('Conv2d', { x: f(3, 17, 17) }, { kernel_size: 3 });
    const bound = 1 / Math.sqrt(3 * 3 * 3);
    expect(ws).toEqual([
      { key: 'weight', shape: [64, 3, 3, 3], layout: 'conv2d', init: { kind: 'uniform', bound }, role: 'param', dtype: 'float32' },
      { key: 'bias', shape: [64], layout: 'same', init: { kind: 'uniform', bound }, role: 'param', dtype: 'float32' },
    ]);
    expect(bound).toBeCloseTo(0.19245, 5);
  });

  it('Conv2d: no bias key when bias is off', () => {
    expect(weightsOf('Conv2d', { x: f(8, 4, 4) }, { out_channels: 2, kernel_size: 1, padding: 0, bias: false }).map((w) => [w.key, w.shape])).toEqual([
      ['weight', [2, 8, 1, 1]],
    ]);
  });

  it('ConvTranspose2d: weight [in, out, k, k], fan_in from out·k²', () => {
    const bound = 1 / Math.sqrt(32 * 2 * 2);
    expect(weightsOf('ConvTranspose2d', { x: f(64, 4, 4) }, { out_channels: 32 })).toEqual([
      { key: 'weight', shape: [64, 32, 2, 2], layout: 'convT', init: { kind: 'uniform', bound }, role: 'param', dtype: 'float32' },
      { key: 'bias', shape: [32], layout: 'same', init: { kind: 'uniform', bound }, role: 'param', dtype: 'float32' },
    ]);
    expect(weightsOf('ConvTranspose2d', { x: f(64, 4, 4) }, { out_channels: 32, bias: false }).map((w) => w.key)).toEqual(['weight']);
  });

  it('DoubleConv: double_conv.{0,1,3,4}, no conv bias, BatchNorm buffers', () => {
    const ws = weightsOf('DoubleConv', { x: f(3, 32, 32) }, { out_channels: 8 });
    const bn = (i: number, c: number) => [
      [`double_conv.${i}.weight`, [c], 'param', 'float32'],
      [`double_conv.${i}.bias`, [c], 'param', 'float32'],
      [`double_conv.${i}.running_mean`, [c], 'buffer', 'float32'],
      [`double_conv.${i}.running_var`, [c], 'buffer', 'float32'],
      [`double_conv.${i}.num_batches_tracked`, [], 'buffer', 'int64'],
    ];
    expect(ws.map((w) => [w.key, w.shape, w.role, w.dtype])).toEqual([
      ['double_conv.0.weight', [8, 3, 3, 3], 'param', 'float32'],
      ...bn(1, 8),
      ['double_conv.3.weight', [8, 8, 3, 3], 'param', 'float32'],
      ...bn(4, 8),
    ]);
    expect(ws.some((w) => /double_conv\.[03]\.bias/.test(w.key))).toBe(false);
    const m = weightMap('DoubleConv', { x: f(3, 32, 32) }, { out_channels: 8 });
    expect(weight(m, 'double_conv.1.running_mean').init).toEqual({ kind: 'const', value: 0 });
    expect(weight(m, 'double_conv.1.running_var').init).toEqual({ kind: 'const', value: 1 });
    expect(weight(m, 'double_conv.4.num_batches_tracked')).toEqual({
      key: 'double_conv.4.num_batches_tracked',
      shape: [],
      layout: 'same',
      init: { kind: 'const', value: 0 },
      role: 'buffer',
      dtype: 'int64',
    });
    // params only: 8·3·9 + 8 + 8 + 8·8·9 + 8 + 8 (buffers are not parameters)
    expect(paramCount(ws)).toBe(216 + 16 + 576 + 16);
  });

  it('DoubleConv: mid_channels sets the first conv and BatchNorm width', () => {
    const m = weightMap('DoubleConv', { x: f(16, 8, 8) }, { out_channels: 8, mid_channels: 12 });
    expect(weight(m, 'double_conv.0.weight').shape).toEqual([12, 16, 3, 3]);
    expect(weight(m, 'double_conv.1.running_var').shape).toEqual([12]);
    expect(weight(m, 'double_conv.3.weight').shape).toEqual([8, 12, 3, 3]);
    expect(weight(m, 'double_conv.4.weight').shape).toEqual([8]);
  });

  it('BatchNorm2d: affine parameters plus three buffers', () => {
    expect(weightsOf('BatchNorm2d', { x: f(16, 4, 4) }).map((w) => [w.key, w.shape, w.role, w.dtype])).toEqual([
      ['weight', [16], 'param', 'float32'],
      ['bias', [16], 'param', 'float32'],
      ['running_mean', [16], 'buffer', 'float32'],
      ['running_var', [16], 'buffer', 'float32'],
      ['num_batches_tracked', [], 'buffer', 'int64'],
    ]);
  });

  it('LabelEmbedding: weight [numClasses, dim], normal std 1', () => {
    expect(weightsOf('LabelEmbedding', { x: emb(128), y: label(10) })).toEqual([
      { key: 'weight', shape: [10, 128], layout: 'same', init: { kind: 'normal', std: 1 }, role: 'param', dtype: 'float32' },
    ]);
  });

  it('TimeEmbedMLP: Linear(in, dim) at 0, Linear(dim, dim) at 2', () => {
    const ws = weightsOf('TimeEmbedMLP', { x: emb(32) }, { dim: 128 });
    expect(ws.map((w) => [w.key, w.shape, w.layout])).toEqual([
      ['0.weight', [128, 32], 'linear'],
      ['0.bias', [128], 'same'],
      ['2.weight', [128, 128], 'linear'],
      ['2.bias', [128], 'same'],
    ]);
    expect(ws[0].init).toEqual({ kind: 'uniform', bound: 1 / Math.sqrt(32) });
    expect(ws[2].init).toEqual({ kind: 'uniform', bound: 1 / Math.sqrt(128) });
  });

  it('GroupNorm: weight 1, bias 0', () => {
    expect(weightsOf('GroupNorm', { x: f(64, 4, 4) }).map((w) => [w.key, w.shape, w.init])).toEqual([
      ['weight', [64], { kind: 'const', value: 1 }],
      ['bias', [64], { kind: 'const', value: 0 }],
    ]);
  });

  it('Downsample / Upsample: op / conv 3×3 C→C, nothing without conv', () => {
    expect(weightsOf('Downsample', { x: f(32, 8, 8) }).map((w) => [w.key, w.shape])).toEqual([
      ['op.weight', [32, 32, 3, 3]],
      ['op.bias', [32]],
    ]);
    expect(weightsOf('Upsample', { x: f(64, 8, 8) }).map((w) => [w.key, w.shape])).toEqual([
      ['conv.weight', [64, 64, 3, 3]],
      ['conv.bias', [64]],
    ]);
    expect(weightsOf('Downsample', { x: f(32, 8, 8) }, { use_conv: false })).toEqual([]);
    expect(weightsOf('Upsample', { x: f(32, 8, 8) }, { use_conv: false })).toEqual([]);
  });

  it('weightless blocks own no weights', () => {
    const none: ReadonlyArray<readonly [BlockType, InputShapes]> = [
      ['ImageInput', {}],
      ['TimestepsInput', {}],
      ['ClassLabelInput', {}],
      ['Output', { x: f(3, 8, 8) }],
      ['TimestepEmbedding', { x: timesteps }],
      ['SiLU', { x: f(3, 8, 8) }],
      ['ReLU', { x: f(3, 8, 8) }],
      ['Add', { a: f(3, 8, 8), b: f(3, 8, 8) }],
      ['Concat', { x: f(3, 8, 8), skip: f(3, 8, 8) }],
      ['MaxPool2d', { x: f(3, 8, 8) }],
    ];
    for (const [type, inputs] of none) expect(weightsOf(type, inputs)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// flops

describe('flops (2 per multiply-add)', () => {
  it('Conv2d = 2·Cin·Cout·k²·Hout·Wout', () => {
    const inputs = { x: f(3, 17, 17) };
    const p = paramsOf('Conv2d', { stride: 2 });
    const out = outOf('Conv2d', inputs, { stride: 2 });
    expect(out).toEqual(f(64, 9, 9));
    expect(blockDef('Conv2d').flops(inputs, out, p)).toBe(2 * 3 * 64 * 9 * 9 * 9);
    expect(blockDef('Conv2d').flops(inputs, out, p)).toBe(279936);
  });

  it('ConvTranspose2d = 2·Cin·Cout·k²·Hin·Win', () => {
    const inputs = { x: f(64, 4, 4) };
    expect(blockDef('ConvTranspose2d').flops(inputs, f(32, 8, 8), paramsOf('ConvTranspose2d', { out_channels: 32 }))).toBe(2 * 64 * 32 * 4 * 16);
  });

  it('ResBlock: two 3×3 convs, the 1×1 skip and the emb linear', () => {
    const inputs = { x: f(32, 16, 16), emb: emb(128) };
    const p = paramsOf('ResBlock', { out_channels: 64, use_scale_shift_norm: true });
    const conv1 = 2 * 32 * 64 * 9 * 256;
    const conv2 = 2 * 64 * 64 * 9 * 256;
    const skip = 2 * 32 * 64 * 256;
    const lin = 2 * 128 * 128;
    expect(blockDef('ResBlock').flops(inputs, f(64, 16, 16), p)).toBe(conv1 + conv2 + skip + lin);
  });

  it('AttentionBlock: qkv + two T×T products + proj_out', () => {
    const c = 64;
    const t = 64;
    expect(blockDef('AttentionBlock').flops({ x: f(c, 8, 8) }, f(c, 8, 8), paramsOf('AttentionBlock'))).toBe(
      2 * t * c * 3 * c + 4 * t * t * c + 2 * t * c * c,
    );
  });

  it('TimeEmbedMLP and DoubleConv', () => {
    expect(blockDef('TimeEmbedMLP').flops({ x: emb(32) }, emb(128), paramsOf('TimeEmbedMLP', { dim: 128 }))).toBe(2 * 32 * 128 + 2 * 128 * 128);
    expect(blockDef('DoubleConv').flops({ x: f(3, 8, 8) }, f(8, 8, 8), paramsOf('DoubleConv', { out_channels: 8 }))).toBe(
      2 * 3 * 8 * 9 * 64 + 2 * 8 * 8 * 9 * 64,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// diffusers' UNet2DModel modules: diffusers' own state_dict keys, in its registration order

describe("diffusers' modules", () => {
  it('ResnetBlock2D 32 → 64, scale_shift: norm1, conv1, time_emb_proj [2·64, temb], norm2, conv2, conv_shortcut 1×1', () => {
    const ws = weightsOf('ResnetBlock2D', { x: f(32, 16, 16), emb: emb(128) }, { out_channels: 64, time_embedding_norm: 'scale_shift' });
    expect(ws.map((w) => `${w.key}:${w.shape.join('x')}`)).toEqual([
      'norm1.weight:32', 'norm1.bias:32', 'conv1.weight:64x32x3x3', 'conv1.bias:64', 'time_emb_proj.weight:128x128', 'time_emb_proj.bias:128',
      'norm2.weight:64', 'norm2.bias:64', 'conv2.weight:64x64x3x3', 'conv2.bias:64', 'conv_shortcut.weight:64x32x1x1', 'conv_shortcut.bias:64',
    ]);
    // PyTorch defaults, no zero init (diffusers does not zero conv2).
    expect(ws.find((w) => w.key === 'conv2.weight')!.init).toEqual({ kind: 'uniform', bound: 1 / Math.sqrt(64 * 9) });
    expect(paramCount(weightsOf('ResnetBlock2D', { x: f(64, 8, 8), emb: emb(128) }, { out_channels: 64 }))).toBe(2 * 64 + 64 * 64 * 9 + 64 + 128 * 64 + 64 + 2 * 64 + 64 * 64 * 9 + 64);
  });

  it('ResnetBlock2D: groups must divide both channel counts; the output is still known', () => {
    const r = shapeOf('ResnetBlock2D', { x: f(48, 8, 8), emb: emb(64) }, { out_channels: 40 });
    expect(r).toMatchObject({ ok: false, out: f(40, 8, 8) });
    expect(!r.ok && r.issues.map((i) => [i.message, i.param])).toEqual([
      ['48 input channels are not divisible by 32 groups', 'groups'],
      ['40 output channels are not divisible by 32 groups', 'out_channels'],
    ]);
  });

  it('Attention: group_norm, to_q/k/v [inner, C], to_out.0 [C, inner]; inner = (C // head size)·head size', () => {
    const keys = (inputs: InputShapes, over: Overrides) => weightsOf('Attention', inputs, over).map((w) => `${w.key}:${w.shape.join('x')}`);
    expect(keys({ x: f(64, 8, 8) }, { attention_head_dim: 8 })).toEqual([
      'group_norm.weight:64', 'group_norm.bias:64', 'to_q.weight:64x64', 'to_q.bias:64', 'to_k.weight:64x64', 'to_k.bias:64',
      'to_v.weight:64x64', 'to_v.bias:64', 'to_out.0.weight:64x64', 'to_out.0.bias:64',
    ]);
    // 64 // 48 = 1 head of 48: diffusers' projections are then 64 → 48 → 64.
    expect(keys({ x: f(64, 4, 4) }, { attention_head_dim: 48, group_norm: false })).toEqual([
      'to_q.weight:48x64', 'to_q.bias:48', 'to_k.weight:48x64', 'to_k.bias:48', 'to_v.weight:48x64', 'to_v.bias:48', 'to_out.0.weight:64x48', 'to_out.0.bias:64',
    ]);
    expect(issuesOf('Attention', { x: f(32, 4, 4) }, { attention_head_dim: 64 })).toEqual([
      { message: 'a head size of 64 is larger than the 32 channels: no head fits', fix: 'use a head size of at most 32, or 0 for one head', param: 'attention_head_dim' },
    ]);
    expect(blockDef('Attention').workspace!({ x: f(64, 8, 8) }, paramsOf('Attention', { attention_head_dim: 16 }))).toEqual([4, 64, 64]);
  });

  it('Downsample2D: conv 3×3 C → C under "conv", nothing for the average pool', () => {
    expect(weightsOf('Downsample2D', { x: f(32, 8, 8) }).map((w) => `${w.key}:${w.shape.join('x')}`)).toEqual(['conv.weight:32x32x3x3', 'conv.bias:32']);
    expect(weightsOf('Downsample2D', { x: f(32, 8, 8) }, { use_conv: false })).toEqual([]);
    expect(issuesOf('Downsample2D', { x: f(8, 1, 4) }, { use_conv: false })[0].message).toBe('a 1×4 input is too small to downsample');
  });

  it('DiffusersTimestepEmbedding: linear_1 [dim, in], linear_2 [dim, dim]; Timesteps has none and rejects a zero denominator', () => {
    expect(weightsOf('DiffusersTimestepEmbedding', { x: emb(32) }, { dim: 128 }).map((w) => `${w.key}:${w.shape.join('x')}`)).toEqual([
      'linear_1.weight:128x32', 'linear_1.bias:128', 'linear_2.weight:128x128', 'linear_2.bias:128',
    ]);
    expect(weightsOf('Timesteps', { x: timesteps })).toEqual([]);
    expect(blockDef('Timesteps').checkParams!(paramsOf('Timesteps', { num_channels: 2, downscale_freq_shift: 1 }))[0].param).toBe('downscale_freq_shift');
  });

  it('LearnedTimesteps: one nn.Embedding "weight" [num_train_timesteps, dim], N(0, 1) like nn.Embedding; Rescale has none', () => {
    const ws = weightsOf('LearnedTimesteps', { x: timesteps }, { num_embeddings: 1000, num_channels: 16 });
    expect(ws).toEqual([{ key: 'weight', shape: [1000, 16], layout: 'same', init: { kind: 'normal', std: 1 }, role: 'param', dtype: 'float32' }]);
    expect(weightsOf('Rescale', { x: f(3, 8, 8) })).toEqual([]);
    expect(blockDef('Rescale').flops({ x: f(3, 8, 8) }, f(3, 8, 8), paramsOf('Rescale'))).toBe(2 * 3 * 8 * 8);
    expect(paramsOf('Rescale')).toEqual({ scale: 2, shift: -1 }); // center_input_sample by default
  });

  it('ResnetBlock2D act_fn: silu by default, mish an option; weights do not change; documents before it get silu (migration 2)', () => {
    expect(paramsOf('ResnetBlock2D').act_fn).toBe('silu');
    const keys = (over: Overrides) => weightsOf('ResnetBlock2D', { x: f(32, 8, 8), emb: emb(64) }, over).map((w) => `${w.key}:${w.shape.join('x')}`);
    expect(keys({ act_fn: 'mish' })).toEqual(keys({}));
    const steps = blockDef('ResnetBlock2D').migrations!;
    expect(steps.map((m) => m.version)).toEqual([2]);
    expect(steps[0].up({ out_channels: 64, groups: 32 })).toEqual({ out_channels: 64, groups: 32, act_fn: 'silu' });
  });
});
