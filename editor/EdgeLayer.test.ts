import { describe, expect, it } from 'vitest';
import { Position, type Edge } from '@xyflow/react';
import { layerPaths, splitEdges, type HandleBounds } from './EdgeLayer';

const edge = (id: string, source: string, target: string, extra: Partial<Edge> = {}): Edge => ({ id, source, sourceHandle: 'out', target, targetHandle: 'x', className: 'edge-feature', style: { stroke: '#2563eb' }, ...extra });

describe('splitEdges', () => {
  it('keeps selected edges and those touching kept nodes real; layers the rest', () => {
    const es = [edge('e1', 'a', 'b'), edge('e2', 'b', 'c'), edge('e3', 'c', 'd', { selected: true }), edge('e4', 'd', 'e')];
    const s = splitEdges(es, new Set(['a']));
    expect(s.real.map((e) => e.id)).toEqual(['e1', 'e3']);
    expect(s.layered.map((e) => e.id)).toEqual(['e2', 'e4']);
  });
  it('hands back the same array when nothing is layered', () => {
    const es = [edge('e1', 'a', 'b')];
    expect(splitEdges(es, new Set(['b'])).real).toBe(es);
  });
});

describe('layerPaths', () => {
  // A block's output handle (14 px box at the right edge) and an input handle on the left edge.
  const bounds: Record<string, HandleBounds> = {
    a: { source: [{ id: 'out', x: 186, y: 38, width: 14, height: 14, position: Position.Right }], target: [] },
    b: { source: [], target: [{ id: 'x', x: -7, y: 20, width: 14, height: 14, position: Position.Left }] },
  };
  const at: Record<string, { x: number; y: number }> = { a: { x: 0, y: 0 }, b: { x: 300, y: 100 }, c: { x: 0, y: 0 } };

  it('draws the bezier curve between the handles, as React Flow draws a default edge', () => {
    // Source point (0 + 186 + 14, 0 + 38 + 7) = (200, 45); target (300 - 7, 100 + 20 + 7) = (293, 127);
    // the control points sit half the horizontal distance (93 / 2) out from each end.
    const [p] = layerPaths([edge('e1', 'a', 'b')], (id) => at[id], (id) => bounds[id]);
    expect(p).toMatchObject({ className: 'edge-feature', edges: 1, d: 'M200,45 C246.5,45 246.5,127 293,127' });
  });

  it('one path per look, one curve per edge; edges to a node without handles (not measured) are left out', () => {
    const es = [edge('e1', 'a', 'b'), edge('e2', 'a', 'b', { className: 'edge-temb', style: { stroke: '#d97706' } }), edge('e3', 'a', 'b'), edge('e4', 'a', 'c'), edge('e5', 'a', 'b', { targetHandle: 'emb' })];
    const ps = layerPaths(es, (id) => at[id], (id) => bounds[id]);
    expect(ps.map((p) => [p.className, p.edges, (p.d.match(/M/g) ?? []).length])).toEqual([
      ['edge-feature', 2, 2],
      ['edge-temb', 1, 1],
    ]);
  });
});
