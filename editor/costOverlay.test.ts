import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../graph/builder';
import { analyze } from '../graph/analyze';
import { diffGraphs } from '../graph/diff';
import { costTints, costValues, DIFF_COLOURS, diffTints, groupCost, groupCostTitles, groupDiffMarks, legendFor, scaleColour, scalePosition, shownCostValues } from './costOverlay';
import { canvasItems, nodesInside } from './groupView';

function net(width: number) {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
  const c = b.add('Conv2d', 'conv', { out_channels: width }, { x });
  const s = b.add('SiLU', 'silu', {}, { x: c });
  b.add('Output', 'output', {}, { x: s });
  return b.build('net');
}

describe('cost overlay', () => {
  it('spans viridis, half mixed with white', () => {
    // viridis[0] = (68, 1, 84): (68 + 187/2, 1 + 254/2, 84 + 171/2) = (161.5, 128, 169.5) → a2 80 aa.
    expect(scaleColour(0)).toBe('#a280aa');
    // viridis[8] = (253, 231, 37): (254, 243, 146).
    expect(scaleColour(1)).toBe('#fef392');
    expect(scaleColour(-3)).toBe(scaleColour(0));
    expect(scaleColour(Number.NaN)).toBe(scaleColour(0));
    // log scale: log(1 + 0) = 0; log(1 + 99) / log(1 + 99) = 1; log(1 + 9) / log(100) = 0.5.
    expect(scalePosition(9, 99)).toBeCloseTo(0.5, 12);
    expect(scalePosition(5, 0)).toBe(0);
  });

  it('values per block: parameters, FLOPs, output bytes, measured times by name', () => {
    const g = net(8);
    const a = analyze(g);
    const id = (name: string) => g.nodes.find((n) => n.name === name)!.id;
    // conv: 4·8·9 + 8 = 296 parameters; 2·4·8·9·64 = 36864 FLOPs; 8·8·8·4 = 2048 bytes out.
    expect(costValues(a, 'parameters').get(id('conv'))).toBe(296);
    expect(costValues(a, 'flops').get(id('conv'))).toBe(36864);
    expect(costValues(a, 'activation').get(id('silu'))).toBe(2048);
    expect(costValues(a, 'none').size).toBe(0);
    const t = costValues(a, 'time', new Map([['conv', 1.5]]));
    expect([...t]).toEqual([[id('conv'), 1.5]]);
    const tints = costTints(costValues(a, 'parameters'));
    expect(tints.get(id('conv'))).toBe(scaleColour(1));
    expect(tints.get(id('silu'))).toBe(scaleColour(0));
  });

  it('legend: range and an explanation when there is nothing to show', () => {
    const a = analyze(net(8));
    const l = legendFor('parameters', costValues(a, 'parameters'))!;
    expect([l.min, l.max, l.empty]).toEqual(['0', '296', null]);
    expect(legendFor('time', costValues(a, 'time'))!.empty).toMatch(/Profile in the Run panel/);
    expect(legendFor('none', new Map())).toBeNull();
  });

  it('diff tints on the shown graph by name', () => {
    const before = net(8);
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
    const c = b.add('Conv2d', 'conv', { out_channels: 16 }, { x });
    const n = b.add('GroupNorm', 'norm', { groups: 4 }, { x: c });
    b.add('Output', 'output', {}, { x: n });
    const after = b.build('after');
    const tints = diffTints(diffGraphs(before, after), after);
    const id = (name: string) => after.nodes.find((m) => m.name === name)!.id;
    expect(tints.get(id('norm'))).toBe(DIFF_COLOURS.added);
    expect(tints.get(id('conv'))).toBe(DIFF_COLOURS.changed);
    // output now reads norm instead of silu: changed (inputs).
    expect(tints.get(id('output'))).toBe(DIFF_COLOURS.changed);
    expect(tints.has(id('x'))).toBe(false);
  });
});

/**
 * x (4×8×8) → [body: conv1 (→ width) → silu → [inner: conv2 (→ 4)]] → add(x, ·) → output.
 * By hand: conv1 4·w·9 + w parameters (296 at w = 8), 2·4·w·9·64 FLOPs, w·64·4 bytes out;
 * conv2 w·4·9 + 4 (292), 2·w·4·9·64 FLOPs, 4·64·4 = 1024 bytes; SiLU and Add own nothing and count 0 FLOPs.
 */
function grouped(opts: { width?: number; conv2?: string; norm?: boolean } = {}) {
  const w = opts.width ?? 8;
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
  const last = b.group('body', () => {
    const c1 = b.add('Conv2d', 'conv1', { out_channels: w }, { x });
    const s = b.add('SiLU', 'silu', {}, { x: c1 });
    return b.group('inner', () => {
      const c2 = b.add('Conv2d', opts.conv2 ?? 'conv2', { out_channels: 4 }, { x: s });
      return opts.norm ? b.add('GroupNorm', 'norm', { groups: 4 }, { x: c2 }) : c2;
    });
  });
  const add = b.add('Add', 'add', {}, { a: x, b: last });
  b.add('Output', 'output', {}, { x: add });
  return b.build('grouped');
}

describe('cost overlay on collapsed groups', () => {
  const g = grouped();
  const a = analyze(g);
  const id = (name: string) => g.nodes.find((n) => n.name === name)!.id;
  const gid = (name: string) => g.groups!.find((x) => x.name === name)!.id;

  it('values of what is drawn: visible blocks and collapsed groups (sum; largest output for memory)', () => {
    const items = canvasItems(g, [gid('body')]);
    const params = shownCostValues(costValues(a, 'parameters'), 'parameters', items);
    // body = conv1 + silu + conv2 = 296 + 0 + 292; its members are not drawn, so not in the map.
    expect(Object.fromEntries(params)).toEqual({ [id('x')]: 0, [id('add')]: 0, [id('output')]: 0, [gid('body')]: 588 });
    expect(shownCostValues(costValues(a, 'flops'), 'flops', items).get(gid('body'))).toBe(2 * 36864);
    // Activation: the largest member output (conv1 and silu 8·64·4 = 2048 B, conv2 1024 B), not the sum.
    const mem = shownCostValues(costValues(a, 'activation'), 'activation', items);
    expect(mem.get(gid('body'))).toBe(2048);
    expect(mem.get(id('x'))).toBe(1024);
    // Time: the sum of the members measured; an unmeasured block or group gets no value.
    const times = new Map([['conv1', 1.5], ['conv2', 0.25], ['add', 0.5]]);
    expect(Object.fromEntries(shownCostValues(costValues(a, 'time', times), 'time', items))).toEqual({ [id('add')]: 0.5, [gid('body')]: 1.75 });
    expect(shownCostValues(costValues(a, 'time', new Map([['add', 0.5]])), 'time', items).has(gid('body'))).toBe(false);
    // A nested collapsed group inside a collapsed one is not drawn: everything goes to the outer one.
    const both = shownCostValues(costValues(a, 'parameters'), 'parameters', canvasItems(g, [gid('body'), gid('inner')].sort()));
    expect(both.get(gid('body'))).toBe(588);
    expect(both.has(gid('inner'))).toBe(false);
    expect(shownCostValues(costValues(a, 'none'), 'none', items).size).toBe(0);
  });

  it('one scale over blocks and groups: the legend and the tints span both', () => {
    // Only inner collapsed: conv1 (296) is the largest item drawn, inner (292) just below it.
    const items = canvasItems(g, [gid('inner')]);
    const v = shownCostValues(costValues(a, 'parameters'), 'parameters', items);
    expect(v.get(gid('inner'))).toBe(292);
    const tints = costTints(v);
    expect(tints.get(id('conv1'))).toBe(scaleColour(1));
    expect(tints.get(gid('inner'))).toBe(scaleColour(Math.log(293) / Math.log(297)));
    expect(tints.get(id('silu'))).toBe(scaleColour(0));
    const l = legendFor('parameters', v)!;
    // Drawn: x, conv1, silu, add, output and inner.
    expect([l.min, l.max, l.count]).toEqual(['0', '296', 6]);
    expect(l.groups).toMatch(/sum of its blocks/);
    // body collapsed: the group is the maximum, above every block drawn.
    const vb = shownCostValues(costValues(a, 'parameters'), 'parameters', canvasItems(g, [gid('body')]));
    expect(legendFor('parameters', vb)!.max).toBe('588');
    expect(costTints(vb).get(gid('body'))).toBe(scaleColour(1));
    expect(legendFor('activation', vb)!.groups).toMatch(/largest output/);
  });

  it('group tooltips say how the value was made', () => {
    const items = canvasItems(g, [gid('body')]);
    const titles = (m: 'parameters' | 'activation' | 'time', times?: Map<string, number>) => {
      const blocks = costValues(a, m, times);
      return groupCostTitles(shownCostValues(blocks, m, items), m, items, blocks);
    };
    expect(titles('parameters').get(gid('body'))).toBe('Parameters: 588 (sum of its 3 blocks)');
    expect(titles('activation').get(gid('body'))).toBe('Activation memory: 2.00 KiB (the largest output of its 3 blocks, batch 1)');
    expect(titles('parameters').has(id('add'))).toBe(false);
    expect(titles('time', new Map([['conv1', 1.5], ['conv2', 0.25]])).get(gid('body'))).toBe('Last measured time: 1.75 ms (sum of its 2 measured blocks of 3)');
    expect(titles('time', new Map([['add', 1]])).size).toBe(0);
  });

  it('a group’s costs for the inspector', () => {
    const c = groupCost(a, nodesInside(g, gid('body')), new Map([['conv1', 1.5], ['add', 9]]));
    expect(c).toEqual({ blocks: 3, parameters: 588, flops: 73728, largestOutputBytes: 2048, ms: 1.5, measured: 1 });
    expect(groupCost(a, nodesInside(g, gid('inner'))).ms).toBeUndefined();
  });

  it('diff: a collapsed group with an added or changed block is changed, one of only added blocks is added', () => {
    const before = grouped();
    // conv1 wider (changed: params), conv2 reads 16 channels now (changed: its parameter count), a norm added inside inner.
    const after = grouped({ width: 16, norm: true });
    const gidA = (name: string) => after.groups!.find((x) => x.name === name)!.id;
    const marks = groupDiffMarks(diffGraphs(before, after), after, canvasItems(after, [gidA('body')]));
    expect(marks.get(gidA('body'))).toEqual({ tint: DIFF_COLOURS.changed, title: 'Changed: 1 added, 2 changed of 4 blocks' });
    // conv2 renamed conv3: inner holds only a new block (conv2 is removed, conv3 added) → added.
    const renamed = grouped({ conv2: 'conv3' });
    const gidR = (name: string) => renamed.groups!.find((x) => x.name === name)!.id;
    const m2 = groupDiffMarks(diffGraphs(before, renamed), renamed, canvasItems(renamed, [gidR('inner')]));
    expect(m2.get(gidR('inner'))).toEqual({ tint: DIFF_COLOURS.added, title: 'Added: 1 added, 0 changed of 1 block' });
    // Nothing different inside: no mark.
    const same = groupDiffMarks(diffGraphs(before, grouped()), before, canvasItems(before, [gid('body')]));
    expect(same.size).toBe(0);
  });
});
