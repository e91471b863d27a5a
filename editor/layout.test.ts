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

import { elkLayout } from './layout';
import { defaultDoc } from './store';
import { canvasItems } from './groupView';

describe('elkLayout with groups', () => {
  it('lays out what is drawn: visible blocks and collapsed groups, not the blocks hidden inside', async () => {
    const d = defaultDoc();
    const items = canvasItems(d.graph, d.collapsed);
    const visible = d.graph.nodes.filter((n) => !items.hiddenIn.has(n.id)).map((n) => n.id);
    const pos = await elkLayout(d.graph, new Map(), d.collapsed);
    expect(Object.keys(pos).sort()).toEqual([...visible, ...items.collapsed].sort());
    // No two drawn items overlap (estimated sizes: blocks 190×90, groups 220×110).
    const boxes = Object.entries(pos).map(([id, p]) => ({ id, ...p, w: items.collapsed.includes(id) ? 220 : 190, h: items.collapsed.includes(id) ? 110 : 90 }));
    for (const a of boxes) for (const b of boxes) if (a.id < b.id) expect(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y).toBe(true);
  });

  it('an expanded group is a frame: its blocks are laid out together, clear of everything outside it', async () => {
    const d = defaultDoc();
    const level = d.graph.groups!.find((g) => g.name === 'encoder.1')!.id;
    const collapsed = d.collapsed.filter((id) => id !== level);
    const items = canvasItems(d.graph, collapsed);
    const pos = await elkLayout(d.graph, new Map(), collapsed);
    const drawnBlocks = d.graph.nodes.filter((n) => !items.hiddenIn.has(n.id)).map((n) => n.id);
    const members = new Set(d.graph.nodes.filter((n) => (d.graph.groups ?? []).some((g) => (g.id === level || g.parent === level) && g.nodes.includes(n.id))).map((n) => n.id));
    expect(members.size).toBe(5);
    for (const id of members) expect(pos[id]).toBeDefined();
    const xs = [...members].map((id) => pos[id].x);
    const ys = [...members].map((id) => pos[id].y);
    const box = { x1: Math.min(...xs), y1: Math.min(...ys), x2: Math.max(...xs) + 190, y2: Math.max(...ys) + 90 };
    for (const id of drawnBlocks.filter((x) => !members.has(x))) {
      const p = pos[id];
      expect(p.x + 190 <= box.x1 || p.x >= box.x2 || p.y + 90 <= box.y1 || p.y >= box.y2).toBe(true);
    }
    for (const id of items.collapsed) {
      const p = pos[id];
      expect(p.x + 220 <= box.x1 || p.x >= box.x2 || p.y + 110 <= box.y1 || p.y >= box.y2).toBe(true);
    }
  });
});
