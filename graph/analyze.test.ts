/**
 * `validate` / `analyze` / `inferShapes` / `countParameters`: one test per validation message
 * (severity, code, node, exact text, a fix), robustness on garbage, and exact shapes and parameter
 * totals on the templates (totals from PyTorch, see ../shared/fixtures/*\/config.json).
 */
import { describe, it, expect } from 'vitest';
import { analyze, countFlops, countParameters, inferShapes, nodeLabel, nodeWeights, validate, type Problem, type ProblemCode } from './analyze';
import { GraphBuilder } from './builder';
import type { Graph, GraphNode } from './model';
import { iddpm, vanilla } from './templates';
import { withImageSize } from './edit';

// ---------------------------------------------------------------------------------------------
// helpers

/** x (Image input) of the given size. */
function withImage(c: number, h: number, w: number): { b: GraphBuilder; x: string } {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: c, height: h, width: w });
  return { b, x };
}

/** x, timesteps, a 128-d embedding (TimestepEmbedding 32 → TimeEmbedMLP 128). */
function withEmbedding(c: number, h: number, w: number): { b: GraphBuilder; x: string; emb: string } {
  const { b, x } = withImage(c, h, w);
  const t = b.add('TimestepsInput', 'timesteps');
  const sin = b.add('TimestepEmbedding', 'timestep_embedding', { dim: 32 }, { x: t });
  const emb = b.add('TimeEmbedMLP', 'time_embed', { dim: 128 }, { x: sin });
  return { b, x, emb };
}

const errors = (ps: readonly Problem[]): Problem[] => ps.filter((p) => p.severity === 'error');

/** The one problem with this code; fails when there is none or several. */
function only(ps: readonly Problem[], code: ProblemCode): Problem {
  const hits = ps.filter((p) => p.code === code);
  if (hits.length !== 1) throw new Error(`expected one "${code}" problem, got ${hits.length}: ${JSON.stringify(ps, null, 1)}`);
  return hits[0];
}

function expectProblem(p: Problem, want: { severity: 'error' | 'warning'; code: ProblemCode; node?: string; message: string | RegExp; param?: string }): void {
  expect(p.severity).toBe(want.severity);
  expect(p.code).toBe(want.code);
  expect(p.node).toBe(want.node);
  if (typeof want.message === 'string') expect(p.message).toBe(want.message);
  else expect(p.message).toMatch(want.message);
  if (want.param !== undefined) expect(p.param).toBe(want.param);
  expect(p.fix.trim().length).toBeGreaterThan(0);
}

function shapeOfNode(g: Graph, name: string): readonly number[] | null {
  const node = g.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node named ${name}`);
  const s = inferShapes(g).get(node.id);
  if (s === undefined) throw new Error(`no shape entry for ${name}`);
  return s === null ? null : s.dims;
}

const IDDPM_SMALL = {
  in_channels: 3,
  model_channels: 32,
  out_channels: 3,
  num_res_blocks: 1,
  attention_resolutions: [2],
  channel_mult: [1, 2],
  num_heads: 2,
  use_scale_shift_norm: true,
};
const VANILLA_SMALL = { n_channels: 3, n_classes: 2, widths: [8, 16, 32, 64] };

// ---------------------------------------------------------------------------------------------

describe('a valid graph', () => {
  it('has no problems, an order covering every node, and shapes for all', () => {
    const { b, x } = withImage(3, 16, 16);
    const c = b.add('Conv2d', 'conv', { out_channels: 8 }, { x });
    b.add('Output', 'output', {}, { x: c });
    const g = b.build('tiny');
    const a = analyze(g);
    expect(a.problems).toEqual([]);
    expect(a.ok).toBe(true);
    expect(a.order).toEqual(['n1', 'n2', 'n3']);
    expect([...inferShapes(g).entries()]).toEqual([
      ['n1', { kind: 'feature', dims: [3, 16, 16] }],
      ['n2', { kind: 'feature', dims: [8, 16, 16] }],
      ['n3', { kind: 'feature', dims: [8, 16, 16] }],
    ]);
    // 8·3·9 + 8
    expect(countParameters(a)).toBe(224);
    expect(countFlops(a)).toBe(2 * 3 * 8 * 9 * 256);
  });

  it('nodeLabel quotes the name as JSON and falls back to "Block" for an unknown type', () => {
    const node: GraphNode = { id: 'n1', name: 'input_blocks.4.0', type: 'ResBlock', params: {} };
    expect(nodeLabel(node)).toBe('ResBlock "input_blocks.4.0"');
    expect(nodeLabel({ ...node, type: 'AttentionBlock', name: 'a"b' })).toBe('Attention "a\\"b"');
    const unknown = { id: 'n2', name: 'mystery', type: 'Transformer', params: {} } as unknown as GraphNode;
    expect(nodeLabel(unknown)).toBe('Block "mystery"');
  });
});

describe('one test per validation message', () => {
  it('cycle: lists the names with →', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
    const add = b.add('Add', 'add', {}, { a: x });
    const s1 = b.add('SiLU', 's1', {}, { x: add });
    const s2 = b.add('SiLU', 's2', {}, { x: s1 });
    b.connect(s2, add, 'b');
    b.add('Output', 'output', {}, { x: s2 });
    const g = b.build('cycle');
    const ps = validate(g);
    expectProblem(only(ps, 'cycle'), {
      severity: 'error',
      code: 'cycle',
      node: 'add',
      message: 'Add "add": is on a cycle: "add" → "s1" → "s2" → "add"',
    });
    expect(only(ps, 'cycle').fix).toMatch(/remove one edge/);
    // Nodes on or behind the cycle are left out of the order; only x is placed.
    expect(analyze(g).order).toEqual([x]);
    expect(ps).toHaveLength(1);
  });

  it('cycle: a node feeding itself', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
    const add = b.add('Add', 'self', {}, { a: x });
    b.connect(add, add, 'b');
    b.add('Output', 'output', {}, { x: add });
    const p = only(validate(b.build('self-loop')), 'cycle');
    expect(p.message).toBe('Add "self": is on a cycle: "self" → "self"');
  });

  it('unconnected required input', () => {
    const { b, x } = withImage(32, 8, 8);
    const r = b.add('ResBlock', 'input_blocks.1.0', { out_channels: 32 }, { x });
    b.add('Output', 'output', {}, { x: r });
    const ps = validate(b.build('g'));
    expect(ps).toHaveLength(1);
    expectProblem(ps[0], {
      severity: 'error',
      code: 'unconnected-input',
      node: 'input_blocks.1.0',
      message: 'ResBlock "input_blocks.1.0": input "emb" (embedding) is not connected',
    });
    expect(ps[0].fix).toContain('"emb"');
  });

  it('port-kind mismatch: an embedding into a feature input', () => {
    const { b, emb } = withEmbedding(3, 8, 8);
    const c = b.add('Conv2d', 'conv', { out_channels: 4 }, { x: emb });
    b.add('Output', 'output', {}, { x: c });
    const ps = validate(b.build('g'));
    const p = only(ps, 'port-kind');
    expectProblem(p, {
      severity: 'error',
      code: 'port-kind',
      node: 'conv',
      message: /^Conv2d "conv": input "x" takes a feature map, but TimeEmbed "time_embed" gives a[n]? embedding$/,
    });
    expect(p.edgeId).toBe('e3');
    expect(p.fix).toMatch(/feature map.*"x"/);
    // The rejected edge leaves the input unconnected, which is reported too.
    expect(only(ps, 'unconnected-input').node).toBe('conv');
  });

  it('channel mismatch at Add', () => {
    const { b, x } = withImage(3, 8, 8);
    const c1 = b.add('Conv2d', 'c1', { out_channels: 8 }, { x });
    const c2 = b.add('Conv2d', 'c2', { out_channels: 16 }, { x });
    const add = b.add('Add', 'add', {}, { a: c1, b: c2 });
    b.add('Output', 'output', {}, { x: add });
    const g = b.build('g');
    const ps = validate(g);
    expect(ps).toHaveLength(1);
    expectProblem(ps[0], { severity: 'error', code: 'shape', node: 'add', message: 'Add "add": channel mismatch: input a has 8 channels, input b has 16' });
    expect(ps[0].nodeId).toBe(add);
    // Shapes downstream of the failure are unknown, upstream ones are known.
    expect(shapeOfNode(g, 'c2')).toEqual([16, 8, 8]);
    expect(shapeOfNode(g, 'add')).toBeNull();
    expect(shapeOfNode(g, 'output')).toBeNull();
  });

  it('resolution mismatch at Add', () => {
    const { b, x } = withImage(3, 8, 8);
    const c1 = b.add('Conv2d', 'c1', { out_channels: 8 }, { x });
    const c2 = b.add('Conv2d', 'c2', { out_channels: 8, stride: 2 }, { x });
    const add = b.add('Add', 'res.add', {}, { a: c1, b: c2 });
    b.add('Output', 'output', {}, { x: add });
    const ps = validate(b.build('g'));
    expect(ps).toHaveLength(1);
    expectProblem(ps[0], { severity: 'error', code: 'shape', node: 'res.add', message: 'Add "res.add": resolution mismatch: input a is 8×8, input b is 4×4' });
  });

  it('resolution mismatch at Concat', () => {
    const { b, x } = withImage(3, 16, 16);
    const c1 = b.add('Conv2d', 'c1', { out_channels: 8 }, { x });
    const d = b.add('Downsample', 'down', {}, { x: c1 });
    const cat = b.add('Concat', 'output_blocks.0.cat', {}, { x: d, skip: c1 });
    b.add('Output', 'output', {}, { x: cat });
    const ps = validate(b.build('g'));
    expect(ps).toHaveLength(1);
    expectProblem(ps[0], {
      severity: 'error',
      code: 'shape',
      node: 'output_blocks.0.cat',
      message: 'Concat "output_blocks.0.cat": resolution mismatch: x is 8×8 but skip is 16×16',
    });
    expect(ps[0].fix).toContain('"Pad to match"');
  });

  it('channels not divisible by GroupNorm groups (ResBlock "input_blocks.4.0" fed 80 channels)', () => {
    const { b, x, emb } = withEmbedding(3, 8, 8);
    const c = b.add('Conv2d', 'input_blocks.0.0', { out_channels: 80 }, { x });
    const r = b.add('ResBlock', 'input_blocks.4.0', { out_channels: 96 }, { x: c, emb });
    b.add('Output', 'output', {}, { x: r });
    const ps = validate(b.build('g'));
    expect(ps).toHaveLength(1);
    expectProblem(ps[0], {
      severity: 'error',
      code: 'shape',
      node: 'input_blocks.4.0',
      message: 'ResBlock "input_blocks.4.0": 80 input channels are not divisible by 32 groups',
    });
    expect(ps[0].fix).toBe('use a multiple of 32 (64 or 96)');
  });

  it('a shape error keeps the output shape where it is clear, so downstream problems are listed too', () => {
    const { b, x, emb } = withEmbedding(3, 8, 8);
    const c = b.add('Conv2d', 'input_blocks.0.0', { out_channels: 80 }, { x });
    const r = b.add('ResBlock', 'input_blocks.4.0', { out_channels: 96 }, { x: c, emb });
    const at = b.add('AttentionBlock', 'input_blocks.4.1', { num_heads: 5 }, { x: r });
    const gn = b.add('GroupNorm', 'out.0', { groups: 7 }, { x: at });
    b.add('Output', 'output', {}, { x: gn });
    const g = b.build('g');
    const ps = validate(g);
    expect(ps.map((p) => [p.code, p.node, p.message])).toEqual([
      ['shape', 'input_blocks.4.0', 'ResBlock "input_blocks.4.0": 80 input channels are not divisible by 32 groups'],
      ['shape', 'input_blocks.4.1', 'Attention "input_blocks.4.1": 96 channels are not divisible by 5 heads'],
      ['shape', 'out.0', 'GroupNorm "out.0": 96 channels are not divisible by 7 groups'],
    ]);
    expect(shapeOfNode(g, 'input_blocks.4.0')).toEqual([96, 8, 8]);
    expect(shapeOfNode(g, 'output')).toEqual([96, 8, 8]);
  });

  it('channels not divisible by GroupNorm groups (GroupNorm block, param groups)', () => {
    const { b, x } = withImage(48, 8, 8);
    const n = b.add('GroupNorm', 'out.0', {}, { x });
    b.add('Output', 'output', {}, { x: n });
    const p = only(validate(b.build('g')), 'shape');
    expectProblem(p, { severity: 'error', code: 'shape', node: 'out.0', param: 'groups', message: 'GroupNorm "out.0": 48 channels are not divisible by 32 groups' });
    expect(p.fix).toMatch(/32 or 64/);
  });

  it('channels not divisible by attention heads', () => {
    const { b, x } = withImage(64, 8, 8);
    const at = b.add('AttentionBlock', 'middle_block.1', { num_heads: 3 }, { x });
    b.add('Output', 'output', {}, { x: at });
    const p = only(validate(b.build('g')), 'shape');
    expectProblem(p, {
      severity: 'error',
      code: 'shape',
      node: 'middle_block.1',
      param: 'num_heads',
      message: 'Attention "middle_block.1": 64 channels are not divisible by 3 heads',
    });
  });

  it('channels not divisible by channels per head', () => {
    const { b, x } = withImage(96, 4, 4);
    const at = b.add('AttentionBlock', 'attn', { num_head_channels: 64 }, { x });
    b.add('Output', 'output', {}, { x: at });
    const p = only(validate(b.build('g')), 'shape');
    expectProblem(p, {
      severity: 'error',
      code: 'shape',
      node: 'attn',
      param: 'num_head_channels',
      message: 'Attention "attn": 96 channels are not divisible by 64 channels per head',
    });
  });

  it('odd resolution before a stride-2 Downsample', () => {
    const { b, x } = withImage(32, 15, 16);
    const d = b.add('Downsample', 'input_blocks.2.0', {}, { x });
    b.add('Output', 'output', {}, { x: d });
    const p = only(validate(b.build('g')), 'shape');
    expectProblem(p, { severity: 'error', code: 'shape', node: 'input_blocks.2.0', message: 'Downsample "input_blocks.2.0": odd resolution 15×16 before a stride-2 downsample' });
    expect(p.fix).toMatch(/divisible by 2/);
  });

  it('odd resolution appears deeper down: the second Downsample of 12×12 (12 → 6 → 3)', () => {
    const { b, x } = withImage(8, 12, 12);
    const d1 = b.add('Downsample', 'd1', {}, { x });
    const d2 = b.add('Downsample', 'd2', {}, { x: d1 });
    const d3 = b.add('Downsample', 'd3', {}, { x: d2 });
    b.add('Output', 'output', {}, { x: d3 });
    const ps = validate(b.build('g'));
    expect(ps.map((p) => [p.code, p.node, p.message])).toEqual([['shape', 'd3', 'Downsample "d3": odd resolution 3×3 before a stride-2 downsample']]);
  });

  describe('invalid params', () => {
    const withConv = (params: Record<string, number | boolean | string>): readonly Problem[] => {
      const { b, x } = withImage(3, 8, 8);
      const c = b.add('Conv2d', 'conv', params, { x });
      b.add('Output', 'output', {}, { x: c });
      return validate(b.build('g'));
    };

    it('unknown parameter name', () => {
      const ps = withConv({ filters: 8 });
      expect(ps).toHaveLength(1);
      expectProblem(ps[0], { severity: 'error', code: 'param', node: 'conv', param: 'filters', message: 'Conv2d "conv": unknown parameter "filters"' });
      expect(ps[0].fix).toBe('remove it (known: out_channels, kernel_size, stride, padding, bias, zero_init)');
    });

    it('unknown parameter on a block without parameters', () => {
      const { b, x } = withImage(3, 8, 8);
      const s = b.add('SiLU', 'act', { inplace: true }, { x });
      b.add('Output', 'output', {}, { x: s });
      const p = only(validate(b.build('g')), 'param');
      expect(p.message).toBe('SiLU "act": unknown parameter "inplace"');
      expect(p.fix).toBe('remove it (SiLU takes no parameters)');
    });

    it('out of range', () => {
      const p = only(withConv({ kernel_size: 12 }), 'param');
      expectProblem(p, { severity: 'error', code: 'param', node: 'conv', param: 'kernel_size', message: 'Conv2d "conv": parameter "kernel_size" is 12, outside 1…11' });
      expect(p.fix).toBe('use a value between 1 and 11');
    });

    it('wrong type (string for a number, string for a bool)', () => {
      const ps = withConv({ out_channels: '64', bias: 'yes' });
      expect(ps).toHaveLength(2);
      expectProblem(ps[0], { severity: 'error', code: 'param', node: 'conv', param: 'out_channels', message: 'Conv2d "conv": parameter "out_channels" must be a number, got "64"' });
      expect(ps[0].fix).toBe('set it to a number between 1 and 16384');
      expectProblem(ps[1], { severity: 'error', code: 'param', node: 'conv', param: 'bias', message: 'Conv2d "conv": parameter "bias" must be true or false, got "yes"' });
      expect(ps[1].fix).toBe('use true or false');
    });

    it('non-integer', () => {
      const p = only(withConv({ out_channels: 2.5 }), 'param');
      expectProblem(p, { severity: 'error', code: 'param', node: 'conv', param: 'out_channels', message: 'Conv2d "conv": parameter "out_channels" must be a whole number, got 2.5' });
      expect(p.fix).toBe('use 3');
    });

    it('bad enum value', () => {
      const { b, x } = withImage(3, 8, 8);
      const cat = b.add('Concat', 'cat', { order: 'middle' }, { x, skip: x });
      b.add('Output', 'output', {}, { x: cat });
      const p = only(validate(b.build('g')), 'param');
      expectProblem(p, { severity: 'error', code: 'param', node: 'cat', param: 'order', message: 'Concat "cat": parameter "order" must be one of x_first, skip_first; got "middle"' });
      expect(p.fix).toBe('use x_first');
    });

    it('cross-parameter check (checkParams): 0 channels per head', () => {
      const { b, x } = withImage(64, 4, 4);
      const at = b.add('AttentionBlock', 'attn', { num_head_channels: 0 }, { x });
      b.add('Output', 'output', {}, { x: at });
      const ps = validate(b.build('g'));
      expect(ps).toHaveLength(1);
      expectProblem(ps[0], { severity: 'error', code: 'param', node: 'attn', param: 'num_head_channels', message: 'Attention "attn": 0 channels per head' });
    });
  });

  it('duplicate names', () => {
    const { b, x } = withImage(3, 8, 8);
    const c = b.add('Conv2d', 'dup', { out_channels: 4 }, { x });
    const s = b.add('SiLU', 'dup', {}, { x: c });
    b.add('Output', 'output', {}, { x: s });
    const ps = validate(b.build('g'));
    const p = only(ps, 'duplicate-name');
    expectProblem(p, { severity: 'error', code: 'duplicate-name', node: 'dup', message: 'SiLU "dup": the name is also used by Conv2d "dup"' });
    expect(p.nodeId).toBe(s);
    expect(p.fix).toMatch(/unique/);
    expect(ps).toHaveLength(1);
  });

  it('duplicate node ids', () => {
    const g: Graph = {
      name: 'g',
      nodes: [
        { id: 'n1', name: 'x', type: 'ImageInput', params: {} },
        { id: 'n1', name: 'y', type: 'SiLU', params: {} },
        { id: 'n2', name: 'output', type: 'Output', params: {} },
      ],
      edges: [{ id: 'e1', from: { node: 'n1', port: 'out' }, to: { node: 'n2', port: 'x' } }],
    };
    const ps = validate(g);
    expect(ps).toHaveLength(1);
    expectProblem(ps[0], { severity: 'error', code: 'duplicate-name', node: 'y', message: 'SiLU "y": duplicate node id "n1"' });
  });

  it('empty name or spaces at either end', () => {
    const { b, x } = withImage(3, 8, 8);
    const c = b.add('Conv2d', ' conv', { out_channels: 4 }, { x });
    const s = b.add('SiLU', '', {}, { x: c });
    b.add('Output', 'output', {}, { x: s });
    const ps = validate(b.build('g'));
    expect(ps.map((p) => [p.code, p.node, p.message])).toEqual([
      ['name', ' conv', 'Conv2d " conv": the name is empty or has spaces at either end'],
      ['name', '', 'SiLU "": the name is empty or has spaces at either end'],
    ]);
  });

  it('unknown block type', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
    const g0 = b.build('g');
    const g: Graph = {
      ...g0,
      nodes: [...g0.nodes, { id: 'n2', name: 'mystery', type: 'Transformer', params: { depth: 12 } } as unknown as GraphNode, { id: 'n3', name: 'output', type: 'Output', params: {} }],
      edges: [
        { id: 'e1', from: { node: x, port: 'out' }, to: { node: 'n2', port: 'x' } },
        { id: 'e2', from: { node: 'n2', port: 'out' }, to: { node: 'n3', port: 'x' } },
      ],
    };
    const ps = validate(g);
    const p = only(ps, 'unknown-type');
    expectProblem(p, { severity: 'error', code: 'unknown-type', node: 'mystery', message: 'Block "mystery": unknown block type "Transformer"' });
    expect(p.fix).toBe('replace it with a block from the palette');
    // Its edges are reported as joining an unknown block, and the Output is left unconnected.
    expect(ps.filter((q) => q.code === 'bad-edge').map((q) => q.edgeId)).toEqual(['e1', 'e2']);
    expect(only(ps, 'unconnected-input').node).toBe('output');
  });

  it('edge to a missing node', () => {
    const { b, x } = withImage(3, 8, 8);
    const o = b.add('Output', 'output', {}, { x });
    b.connect('ghost', o, 'x');
    const ps = validate(b.build('g'));
    const p = only(ps, 'bad-edge');
    // The destination exists: the problem is pinned to it.
    expectProblem(p, { severity: 'error', code: 'bad-edge', node: 'output', message: 'Output "output": edge "e2" joins a block that does not exist or is unknown ("ghost")' });
    expect(p.edgeId).toBe('e2');
    expect(p.fix).toBe('delete the edge');
  });

  it('edge from an existing node into a missing one (no node to pin it to)', () => {
    const { b, x } = withImage(3, 8, 8);
    b.add('Output', 'output', {}, { x });
    b.connect(x, 'nowhere', 'x');
    const p = only(validate(b.build('g')), 'bad-edge');
    expect(p.severity).toBe('error');
    expect(p.node).toBeUndefined();
    expect(p.nodeId).toBeUndefined();
    expect(p.message).toBe('edge "e2" joins a block that does not exist or is unknown ("nowhere")');
    expect(p.edgeId).toBe('e2');
  });

  it('edge to a missing input port', () => {
    const { b, x } = withImage(3, 8, 8);
    const c = b.add('Conv2d', 'conv', { out_channels: 4 }, { x });
    b.add('Output', 'output', {}, { x: c });
    b.connect(x, c, 'skip');
    const p = only(validate(b.build('g')), 'bad-edge');
    expectProblem(p, { severity: 'error', code: 'bad-edge', node: 'conv', message: 'Conv2d "conv": has no input port "skip"' });
    expect(p.fix).toBe('connect to one of: x');
  });

  it('edge from a missing output port, and from the Output (which has none)', () => {
    const g: Graph = {
      name: 'g',
      nodes: [
        { id: 'x', name: 'x', type: 'ImageInput', params: {} },
        { id: 's', name: 's', type: 'SiLU', params: {} },
        { id: 'o', name: 'output', type: 'Output', params: {} },
        { id: 't', name: 't', type: 'ReLU', params: {} },
      ],
      edges: [
        { id: 'e1', from: { node: 'x', port: 'result' }, to: { node: 's', port: 'x' } },
        { id: 'e2', from: { node: 'x', port: 'out' }, to: { node: 'o', port: 'x' } },
        { id: 'e3', from: { node: 'o', port: 'out' }, to: { node: 't', port: 'x' } },
      ],
    };
    const bad = validate(g).filter((p) => p.code === 'bad-edge');
    expect(bad.map((p) => [p.node, p.edgeId, p.message])).toEqual([
      ['x', 'e1', 'Image input "x": has no output port "result"'],
      ['output', 'e3', 'Output "output": has no output to connect from'],
    ]);
    for (const p of bad) expect(p.fix).toBe('connect from the block\'s "out" port');
  });

  it('two edges into one input', () => {
    const { b, x } = withImage(3, 8, 8);
    const c1 = b.add('Conv2d', 'c1', { out_channels: 4 }, { x });
    const c2 = b.add('Conv2d', 'c2', { out_channels: 4 }, { x });
    const s = b.add('SiLU', 'act', {}, { x: c1 });
    b.connect(c2, s, 'x');
    b.add('Output', 'output', {}, { x: s });
    const ps = validate(b.build('g'));
    const p = only(ps, 'multiple-inputs');
    expectProblem(p, { severity: 'error', code: 'multiple-inputs', node: 'act', message: 'SiLU "act": input "x" has more than one connection' });
    expect(p.edgeId).toBe('e4');
    expect(p.fix).toBe('keep one edge into each input');
    // The second edge was dropped, so c2 leads nowhere.
    expect(only(ps, 'unused').node).toBe('c2');
  });

  it('no Output block', () => {
    const { b, x } = withImage(3, 8, 8);
    b.add('Conv2d', 'conv', { out_channels: 4 }, { x });
    const ps = validate(b.build('g'));
    expect(ps).toEqual([{ severity: 'error', code: 'io', message: 'the graph has no Output block', fix: 'add an Output block and connect the last layer to it' }]);
  });

  it('an empty graph is not reported as missing an Output', () => {
    expect(validate({ name: 'empty', nodes: [], edges: [] })).toEqual([]);
  });

  it('two Image inputs', () => {
    const { b, x } = withImage(3, 8, 8);
    const x2 = b.add('ImageInput', 'x2', { channels: 3, height: 8, width: 8 });
    const add = b.add('Add', 'add', {}, { a: x, b: x2 });
    b.add('Output', 'output', {}, { x: add });
    const ps = validate(b.build('g'));
    expect(ps).toHaveLength(1);
    expectProblem(ps[0], { severity: 'error', code: 'io', node: 'x2', message: 'Image input "x2": the graph already has Image input "x" of this kind' });
  });

  it('two Outputs', () => {
    const { b, x } = withImage(3, 8, 8);
    b.add('Output', 'output', {}, { x });
    b.add('Output', 'output2', {}, { x });
    const p = only(validate(b.build('g')), 'io');
    expect(p.message).toBe('Output "output2": the graph already has Output "output" of this kind');
  });

  it('a node that does not lead to the Output: warning "unused"', () => {
    const { b, x } = withImage(3, 8, 8);
    const c = b.add('Conv2d', 'conv', { out_channels: 4 }, { x });
    b.add('SiLU', 'dangling', {}, { x: c });
    b.add('Output', 'output', {}, { x: c });
    const g = b.build('g');
    const ps = validate(g);
    expect(ps).toHaveLength(1);
    expectProblem(ps[0], { severity: 'warning', code: 'unused', node: 'dangling', message: 'SiLU "dangling": does not lead to the Output' });
    expect(ps[0].fix).toBe('connect it or delete it');
    // Warnings alone keep the graph ok.
    expect(analyze(g).ok).toBe(true);
  });

  it('weight-key collision: Downsample "d" owns "op.weight", a Conv2d named "d.op" owns "weight"', () => {
    const { b, x } = withImage(4, 8, 8);
    const d = b.add('Downsample', 'd', {}, { x });
    const c = b.add('Conv2d', 'd.op', { out_channels: 4 }, { x: d });
    b.add('Output', 'output', {}, { x: c });
    const ps = validate(b.build('g'));
    expect(ps).toHaveLength(1);
    expectProblem(ps[0], { severity: 'error', code: 'weight-key', node: 'd.op', message: 'Conv2d "d.op": its weight "d.op.weight" has the same key as one of Downsample "d"' });
    expect(ps[0].fix).toBe('rename one of the two blocks');
  });

  it('weight-key collision deeper in the name: ResBlock "r" vs GroupNorm "r.in_layers.0"', () => {
    const { b, x, emb } = withEmbedding(32, 8, 8);
    const r = b.add('ResBlock', 'r', { out_channels: 32 }, { x, emb });
    const n = b.add('GroupNorm', 'r.in_layers.0', {}, { x: r });
    b.add('Output', 'output', {}, { x: n });
    const p = only(validate(b.build('g')), 'weight-key');
    expect(p.node).toBe('r.in_layers.0');
    expect(p.message).toBe('GroupNorm "r.in_layers.0": its weight "r.in_layers.0.weight" has the same key as one of ResBlock "r"');
  });

  it('no weight-key collision when the prefix node owns no such key', () => {
    // "d" without conv has no weights; "d.op" and "x.weight"-like names are then fine.
    const { b, x } = withImage(4, 8, 8);
    const d = b.add('Downsample', 'd', { use_conv: false }, { x });
    const c = b.add('Conv2d', 'd.op', { out_channels: 4 }, { x: d });
    const c2 = b.add('Conv2d', 'd.op.weight', { out_channels: 4 }, { x: c });
    b.add('Output', 'output', {}, { x: c2 });
    expect(validate(b.build('g'))).toEqual([]);
  });

  it('several problems at once are all reported', () => {
    const { b, x, emb } = withEmbedding(3, 15, 16);
    b.add('Conv2d', 'conv', { out_channels: 8, kernel_size: 99 }, { x });
    const c48 = b.add('Conv2d', 'c48', { out_channels: 48 }, { x });
    const gn = b.add('GroupNorm', 'norm', {}, { x: c48 });
    const r = b.add('ResBlock', 'res', { out_channels: 64 }, { x: gn });
    const d = b.add('Downsample', 'down', {}, { x });
    const a = b.add('Add', 'add', {}, { a: d, b: r });
    b.add('SiLU', 'dup', {}, { x: a });
    b.add('ReLU', 'dup', {}, { x: emb });
    const ps = validate(b.build('g'));
    // (Order follows the checking passes and the topological order; compared as a set.)
    expect(ps.map((p) => `${p.severity}:${p.code}:${p.node ?? ''}`).sort()).toEqual(
      [
        'error:duplicate-name:dup',
        'error:port-kind:dup',
        'error:unconnected-input:dup',
        'error:param:conv',
        'error:shape:norm',
        'error:unconnected-input:res',
        'error:shape:down',
        'error:io:',
      ].sort(),
    );
    expect(ps.find((p) => p.code === 'param')!.message).toBe('Conv2d "conv": parameter "kernel_size" is 99, outside 1…11');
    expect(ps.find((p) => p.node === 'norm')!.message).toBe('GroupNorm "norm": 48 channels are not divisible by 32 groups');
    expect(ps.find((p) => p.node === 'down')!.message).toBe('Downsample "down": odd resolution 15×16 before a stride-2 downsample');
    for (const p of ps) expect(p.fix.length).toBeGreaterThan(0);
  });
});

describe('validate never throws on garbage', () => {
  const garbage = (g: unknown): Graph => g as Graph;

  it('params of wrong types, edges pointing nowhere, non-string types and names', () => {
    const g = garbage({
      name: 'junk',
      nodes: [
        { id: 'a', name: 'x', type: 'ImageInput', params: { channels: null, height: [1], width: { w: 1 } } },
        { id: 'b', name: 'conv', type: 'Conv2d', params: { out_channels: Number.NaN, kernel_size: Infinity, bias: 0, zero_init: 'false' } },
        { id: 'c', name: 'n', type: 42, params: {} },
        { id: 'd', name: 'nn', type: null, params: {} },
        { id: 'e', name: 'toString', type: 'toString', params: {} },
        { id: 'f', name: 'proto', type: '__proto__', params: {} },
        { id: 'g', name: 'output', type: 'Output', params: JSON.parse('{"__proto__": 1, "constructor": 2}') as unknown },
      ],
      edges: [
        { id: 'e1', from: { node: 'a', port: 'out' }, to: { node: 'b', port: 'x' } },
        { id: 'e2', from: { node: 'zzz', port: 'out' }, to: { node: 'g', port: 'x' } },
        { id: 'e3', from: { node: 'b', port: 'out' }, to: { node: 'qqq', port: 'x' } },
        { id: 'e4', from: { node: 'c', port: 'out' }, to: { node: 'g', port: 'x' } },
        { id: 'e5', from: { node: 'b', port: 42 }, to: { node: 'g', port: 'nope' } },
      ],
    });
    let ps: readonly Problem[] = [];
    expect(() => {
      ps = validate(g);
    }).not.toThrow();
    expect(errors(ps).length).toBeGreaterThan(0);
    expect(ps.some((p) => p.code === 'internal')).toBe(false);
    expect(ps.filter((p) => p.code === 'unknown-type').map((p) => p.node)).toEqual(['n', 'nn', 'toString', 'proto']);
    expect(ps.filter((p) => p.code === 'unknown-type').map((p) => p.message)).toEqual([
      'Block "n": unknown block type 42',
      'Block "nn": unknown block type null',
      'Block "toString": unknown block type "toString"',
      'Block "proto": unknown block type "__proto__"',
    ]);
    expect(ps.filter((p) => p.node === 'x' && p.code === 'param').map((p) => p.param)).toEqual(['channels', 'height', 'width']);
    expect(ps.filter((p) => p.node === 'conv' && p.code === 'param').map((p) => p.param)).toEqual(['out_channels', 'kernel_size', 'bias', 'zero_init']);
    expect(ps.filter((p) => p.node === 'output' && p.code === 'param').map((p) => p.message)).toEqual(['Output "output": unknown parameter "__proto__"', 'Output "output": unknown parameter "constructor"']);
    for (const p of ps) {
      expect(typeof p.message).toBe('string');
      expect(p.fix.length).toBeGreaterThan(0);
    }
  });

  it('structural garbage comes back as an internal problem, not an exception', () => {
    for (const g of [
      garbage({ name: 'g', nodes: null, edges: [] }),
      garbage({ name: 'g', nodes: [null], edges: [] }),
      garbage({ name: 'g', nodes: [], edges: [{}] }),
      garbage({ name: 'g', nodes: [{ id: 'a', name: 7, type: 'SiLU', params: {} }], edges: [] }),
    ]) {
      let ps: readonly Problem[] = [];
      expect(() => {
        ps = validate(g);
      }).not.toThrow();
      expect(ps).toHaveLength(1);
      expect(ps[0].code).toBe('internal');
      expect(ps[0].message).toMatch(/^the graph could not be checked: /);
    }
  });

  it('a graph that is not an object at all (null, undefined, a number, a string) gives an internal problem', () => {
    // Regression: the per-graph WeakMap cache threw "Invalid value used as weak map key" here.
    for (const g of [null, undefined, 42, 'graph']) {
      let ps: readonly Problem[] = [];
      expect(() => {
        ps = validate(garbage(g));
      }).not.toThrow();
      expect(ps.map((p) => [p.severity, p.code])).toEqual([['error', 'internal']]);
      expect(ps[0].message).toMatch(/^the graph could not be checked: /);
      expect(ps[0].fix).toBe('report this graph as a bug');
    }
  });

  it('a 200-node chain is valid, in order, with the right shape at the end', () => {
    const { b, x } = withImage(4, 8, 8);
    let h = x;
    for (let i = 0; i < 200; i++) h = b.add(i % 2 === 0 ? 'SiLU' : 'ReLU', `chain.${i}`, {}, { x: h });
    b.add('Output', 'output', {}, { x: h });
    const g = b.build('chain');
    const a = analyze(g);
    expect(a.problems).toEqual([]);
    expect(a.order).toHaveLength(202);
    expect(shapeOfNode(g, 'chain.199')).toEqual([4, 8, 8]);
  });

  it('a 200-node cycle is reported once, without recursion trouble', () => {
    const { b, x } = withImage(4, 8, 8);
    const add = b.add('Add', 'ring.0', {}, { a: x });
    let h = add;
    for (let i = 1; i < 200; i++) h = b.add('SiLU', `ring.${i}`, {}, { x: h });
    b.connect(h, add, 'b');
    b.add('Output', 'output', {}, { x: h });
    const p = only(validate(b.build('ring')), 'cycle');
    expect(p.node).toBe('ring.0');
    expect(p.message.split(' → ')).toHaveLength(201);
    expect(p.message).toMatch(/^Add "ring\.0": is on a cycle: "ring\.0" → "ring\.1" → .* → "ring\.199" → "ring\.0"$/);
  });
});

describe('templates: shapes and PyTorch parameter totals', () => {
  it('iDDPM small (fixture iddpm-small) at 16×16: exact shapes and 756163 parameters', () => {
    const g = iddpm(IDDPM_SMALL, 16);
    const a = analyze(g);
    expect(a.problems).toEqual([]);
    expect(a.order).toHaveLength(g.nodes.length);
    const want: Readonly<Record<string, readonly number[]>> = {
      x: [3, 16, 16],
      timesteps: [],
      timestep_embedding: [32],
      time_embed: [128],
      'input_blocks.0.0': [32, 16, 16],
      'input_blocks.1.0': [32, 16, 16],
      'input_blocks.2.0': [32, 8, 8],
      'input_blocks.3.0': [64, 8, 8],
      'input_blocks.3.1': [64, 8, 8],
      'middle_block.0': [64, 8, 8],
      'middle_block.1': [64, 8, 8],
      'middle_block.2': [64, 8, 8],
      'output_blocks.0.cat': [128, 8, 8],
      'output_blocks.0.0': [64, 8, 8],
      'output_blocks.0.1': [64, 8, 8],
      'output_blocks.1.cat': [96, 8, 8],
      'output_blocks.1.0': [64, 8, 8],
      'output_blocks.1.1': [64, 8, 8],
      'output_blocks.1.2': [64, 16, 16],
      'output_blocks.2.cat': [96, 16, 16],
      'output_blocks.2.0': [32, 16, 16],
      'output_blocks.3.cat': [64, 16, 16],
      'output_blocks.3.0': [32, 16, 16],
      'out.0': [32, 16, 16],
      'out.1': [32, 16, 16],
      'out.2': [3, 16, 16],
      output: [3, 16, 16],
    };
    expect(g.nodes.map((n) => n.name).sort()).toEqual(Object.keys(want).sort());
    for (const [name, dims] of Object.entries(want)) expect([name, shapeOfNode(g, name)]).toEqual([name, dims]);
    expect(g.nodes.find((n) => n.name === 'output_blocks.1.2')!.type).toBe('Upsample');
    expect(countParameters(a)).toBe(756163);
    // 128 state_dict tensors in PyTorch (no buffers in this model).
    const keys = a.order.flatMap((id) => nodeWeights(a.info.get(id)!).map((w) => `${a.info.get(id)!.node.name}.${w.key}`));
    expect(keys).toHaveLength(128);
    expect(new Set(keys).size).toBe(128);
    expect(keys).toContain('input_blocks.3.1.qkv.weight');
    expect(keys).toContain('output_blocks.1.2.conv.weight');
  });

  it('iDDPM small: 10×10 is valid (its one Downsample halves 10 → 5), 14×15 is not', () => {
    // channel_mult [1, 2] has one Downsample: 10×10 → 5×5 is allowed, 14×15 is not.
    expect(validate(iddpm(IDDPM_SMALL, 10))).toEqual([]);
    const ps = validate(iddpm(IDDPM_SMALL, { height: 14, width: 15 }));
    expect(ps.map((p) => [p.code, p.node, p.message])).toEqual([
      ['shape', 'input_blocks.2.0', 'Downsample "input_blocks.2.0": odd resolution 14×15 before a stride-2 downsample'],
    ]);
  });

  it('vanilla (fixture vanilla-small) at 32×32: 121186 parameters (buffers excluded)', () => {
    const g = vanilla(VANILLA_SMALL, 32);
    const a = analyze(g);
    expect(a.problems).toEqual([]);
    expect(countParameters(a)).toBe(121186);
    expect(shapeOfNode(g, 'down3.maxpool_conv.1')).toEqual([64, 4, 4]);
    expect(shapeOfNode(g, 'up1.up')).toEqual([32, 8, 8]);
    expect(shapeOfNode(g, 'outc.conv')).toEqual([2, 32, 32]);
    // 92 state_dict tensors in PyTorch, buffers included.
    const n = a.order.reduce((s, id) => s + nodeWeights(a.info.get(id)!).length, 0);
    expect(n).toBe(92);
  });

  it('vanilla at 30×26 is valid: MaxPool warnings only, shapes as PyTorch (io_odd)', () => {
    const g = withImageSize(vanilla(VANILLA_SMALL, 32), 30, 26);
    const ps = validate(g);
    expect(errors(ps)).toEqual([]);
    expect(ps.map((p) => [p.severity, p.code, p.node, p.message])).toEqual([
      ['warning', 'shape', 'down2.maxpool_conv.0', 'MaxPool2d "down2.maxpool_conv.0": 15×13 is not divisible by 2: the last row/column is dropped'],
      ['warning', 'shape', 'down3.maxpool_conv.0', 'MaxPool2d "down3.maxpool_conv.0": 7×6 is not divisible by 2: the last row/column is dropped'],
    ]);
    expect(analyze(g).ok).toBe(true);
    // io_odd intermediates: inc 8×30×26, down1 16×15×13, down2 32×7×6, down3 64×3×3, up1.up 32×6×6, up1 32×7×6, up2 16×15×13, up3 8×30×26.
    expect(shapeOfNode(g, 'inc')).toEqual([8, 30, 26]);
    expect(shapeOfNode(g, 'down1.maxpool_conv.1')).toEqual([16, 15, 13]);
    expect(shapeOfNode(g, 'down2.maxpool_conv.1')).toEqual([32, 7, 6]);
    expect(shapeOfNode(g, 'down3.maxpool_conv.1')).toEqual([64, 3, 3]);
    expect(shapeOfNode(g, 'up1.up')).toEqual([32, 6, 6]);
    expect(shapeOfNode(g, 'up1.conv')).toEqual([32, 7, 6]);
    expect(shapeOfNode(g, 'up2.conv')).toEqual([16, 15, 13]);
    expect(shapeOfNode(g, 'up3.conv')).toEqual([8, 30, 26]);
    expect(shapeOfNode(g, 'output')).toEqual([2, 30, 26]);
    // Parameters do not depend on the resolution.
    expect(countParameters(analyze(g))).toBe(121186);
  });
});

describe('analysis caching', () => {
  it('the same graph object gives the same analysis; an edited copy is analysed afresh', () => {
    const g = iddpm(IDDPM_SMALL, 16);
    expect(analyze(g)).toBe(analyze(g));
    const g2 = withImageSize(g, 14, 15);
    expect(analyze(g2)).not.toBe(analyze(g));
    expect(analyze(g2).ok).toBe(false);
    expect(analyze(g).ok).toBe(true);
  });
});
