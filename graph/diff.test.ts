import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder';
import { describeChange, diffGraphs, DiffError, formatDelta } from './diff';
import type { Graph } from './model';

interface Opts {
  readonly conv1?: Record<string, number | boolean>;
  readonly act?: 'SiLU' | 'ReLU';
  readonly norm?: boolean;
  readonly conv2Name?: string;
}

/**
 * x (4×8×8) → conv1 (3×3 → 8) → silu → [norm: GroupNorm 4 groups] → conv2 (3×3 → 4) → add(x, ·) → output.
 * Parameters by hand: conv1 4·8·9 + 8 = 296; conv2 8·4·9 + 4 = 292; norm 8 + 8 = 16.
 */
function net(o: Opts = {}): Graph {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
  const c1 = b.add('Conv2d', 'conv1', { out_channels: 8, ...o.conv1 }, { x });
  let h = b.add(o.act ?? 'SiLU', 'silu', {}, { x: c1 });
  if (o.norm) h = b.add('GroupNorm', 'norm', { groups: 4 }, { x: h });
  const c2 = b.add('Conv2d', o.conv2Name ?? 'conv2', { out_channels: 4 }, { x: h });
  const add = b.add('Add', 'add', {}, { a: x, b: c2 });
  b.add('Output', 'output', {}, { x: add });
  return b.build('net');
}

describe('diffGraphs', () => {
  it('finds nothing between a graph and itself, defaults written out or not', () => {
    const d = diffGraphs(net(), net({ conv1: { kernel_size: 3, padding: 1, bias: true } }));
    expect(d).toEqual({ added: [], removed: [], changed: [], unchanged: 6, parametersBefore: 588, parametersAfter: 588, parameterDelta: 0 });
  });

  it('an added block (and the block now reading it)', () => {
    const d = diffGraphs(net(), net({ norm: true }));
    expect(d.added).toEqual([{ name: 'norm', id: expect.any(String), type: 'GroupNorm', parameters: 16 }]);
    expect(d.removed).toEqual([]);
    expect(d.changed.map((c) => [c.name, c.reasons, c.inputs])).toEqual([['conv2', ['inputs'], [{ port: 'x', before: 'silu', after: 'norm' }]]]);
    expect(d.parameterDelta).toBe(16);
    expect([d.parametersBefore, d.parametersAfter]).toEqual([588, 604]);
    expect(describeChange(d.changed[0])).toBe('changed "conv2": input x from silu → norm');
  });

  it('a removed block', () => {
    const d = diffGraphs(net({ norm: true }), net());
    expect(d.removed.map((r) => [r.name, r.type, r.parameters])).toEqual([['norm', 'GroupNorm', 16]]);
    expect(d.added).toEqual([]);
    expect(d.parameterDelta).toBe(-16);
    expect(formatDelta(d.parameterDelta)).toBe('−16');
  });

  it('changed parameters, old → new, and what that does to the parameter counts downstream', () => {
    // conv1 → 16 channels: conv1 4·16·9 + 16 = 592 (+296); conv2 reads 16: 16·4·9 + 4 = 580 (+288).
    const d = diffGraphs(net(), net({ conv1: { out_channels: 16, bias: false } }));
    // Without bias conv1 is 4·16·9 = 576 (+280).
    const conv1 = d.changed.find((c) => c.name === 'conv1')!;
    expect(conv1.reasons).toEqual(['params', 'parameters']);
    expect(conv1.params).toEqual([
      { param: 'out_channels', before: 8, after: 16 },
      { param: 'bias', before: true, after: false },
    ]);
    expect([conv1.parametersBefore, conv1.parametersAfter, conv1.parameterDelta]).toEqual([296, 576, 280]);
    const conv2 = d.changed.find((c) => c.name === 'conv2')!;
    expect(conv2.reasons).toEqual(['parameters']);
    expect(conv2.params).toEqual([]);
    expect(conv2.parameterDelta).toBe(288);
    expect(d.changed.map((c) => c.name)).toEqual(['conv1', 'conv2']);
    expect(d.unchanged).toBe(4);
    expect(d.parameterDelta).toBe(280 + 288);
    expect(describeChange(conv1)).toBe('changed "conv1": out_channels 8 → 16 · bias true → false · parameters +280');
  });

  it('same name, another type: changed (type)', () => {
    const d = diffGraphs(net(), net({ act: 'ReLU' }));
    expect(d.changed).toHaveLength(1);
    expect(d.changed[0]).toMatchObject({ name: 'silu', typeBefore: 'SiLU', typeAfter: 'ReLU', reasons: ['type'], params: [], parameterDelta: 0 });
    expect(describeChange(d.changed[0])).toBe('changed (type) "silu": SiLU → ReLU');
  });

  it('a block renamed to another path is a removal plus an addition', () => {
    const d = diffGraphs(net(), net({ conv2Name: 'out.conv' }));
    expect(d.removed.map((r) => [r.name, r.parameters])).toEqual([['conv2', 292]]);
    expect(d.added.map((r) => [r.name, r.parameters])).toEqual([['out.conv', 292]]);
    expect(d.changed.map((c) => [c.name, c.inputs])).toEqual([['add', [{ port: 'b', before: 'conv2', after: 'out.conv' }]]]);
    expect(d.parameterDelta).toBe(0);
  });

  it('refuses a graph with a repeated name, naming it', () => {
    const g = net();
    const dup: Graph = { ...g, nodes: g.nodes.map((n) => (n.name === 'conv2' ? { ...n, name: 'conv1' } : n)) };
    expect(() => diffGraphs(g, dup)).toThrow(DiffError);
    expect(() => diffGraphs(g, dup)).toThrow('the second graph "net" has two blocks named "conv1"');
  });
});
