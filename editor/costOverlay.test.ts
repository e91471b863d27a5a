import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../graph/builder';
import { analyze } from '../graph/analyze';
import { diffGraphs } from '../graph/diff';
import { costTints, costValues, DIFF_COLOURS, diffTints, legendFor, scaleColour, scalePosition } from './costOverlay';

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
