/** Canvas layouts and the edges drawn in view (pure functions). */
import { describe, expect, it } from 'vitest';
import { completeLayout, edgesInView, templateLayout, type Rect } from './layout';
import { iddpm } from '../graph/templates';
import { IDDPM_SMALL } from '../bench/configs';

const box = (x: number, y: number): Rect => ({ x, y, width: 10, height: 10 });
const rects = new Map<string, Rect>([
  ['a', box(0, 0)],
  ['b', box(50, 0)],
  ['far1', box(-1000, 20)],
  ['far2', box(1000, 20)],
  ['away1', box(0, 5000)],
  ['away2', box(100, 5000)],
]);
const e = (source: string, target: string) => ({ id: `${source}-${target}`, source, target });
const view: Rect = { x: -5, y: -5, width: 100, height: 50 };

describe('edgesInView', () => {
  it('keeps edges with an end in view and edges crossing it, drops the rest', () => {
    const edges = [e('far1', 'far2'), e('a', 'b'), e('away1', 'away2'), e('b', 'away1'), e('far1', 'away2'), e('ghost', 'a')];
    // far1 → far2 crosses the view; far1 → away2's box (-1000…110, 20…5010) meets it too; ghost has no box but a is in view.
    expect(edgesInView(edges, rects, view, 100).map((x) => x.id)).toEqual(['a-b', 'b-away1', 'ghost-a', 'far1-far2', 'far1-away2']);
  });

  it('takes edges with an end in view first when there are more than the cap', () => {
    const edges = [e('far1', 'far2'), e('a', 'b'), e('b', 'away1')];
    expect(edgesInView(edges, rects, view, 2).map((x) => x.id)).toEqual(['a-b', 'b-away1']);
    expect(edgesInView(edges, rects, view, 1).map((x) => x.id)).toEqual(['a-b']);
  });
});

describe('layouts', () => {
  it('places every block of a template, and completes a partial layout below it', () => {
    const g = iddpm(IDDPM_SMALL, 16);
    const full = templateLayout(g);
    expect(Object.keys(full).sort()).toEqual(g.nodes.map((n) => n.id).sort());
    const partial = { [g.nodes[0].id]: { x: 0, y: 300 } };
    const done = completeLayout(g, partial);
    expect(Object.keys(done).length).toBe(g.nodes.length);
    // The missing ones go below the lowest placed block.
    for (const n of g.nodes.slice(1)) expect(done[n.id].y).toBeGreaterThanOrEqual(500);
  });
});
