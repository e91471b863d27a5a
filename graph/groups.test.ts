/** Groups (issue 12): grouping, ungrouping, nesting, ports, summaries, problems, pruning. */
import { describe, expect, it } from 'vitest';
import { iddpm, IDDPM_DEFAULTS } from './templates';
import { analyze, countFlops } from './analyze';
import { expectedWeights } from './weights';
import { removeNodes } from './edit';
import type { Graph, GraphGroup } from './model';
import {
  collapsedAncestor,
  commonModulePath,
  groupChain,
  groupDescendants,
  GroupError,
  groupNodes,
  groupOf,
  groupPorts,
  groupProblems,
  groupSummary,
  pruneGroups,
  renameGroup,
  ungroup,
  visibleItems,
  withoutGroups,
} from './groups';

/** The 64-channel 32×32 default (channel_mult 1,2,2; attention at 2× downsampling), built flat. */
const flat = withoutGroups(iddpm(IDDPM_DEFAULTS));
const id = (g: Graph, name: string): string => {
  const n = g.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name}`);
  return n.id;
};
const ids = (g: Graph, ...names: string[]) => names.map((n) => id(g, n));
const groupNamed = (g: Graph, name: string): GraphGroup => {
  const found = (g.groups ?? []).find((x) => x.name === name);
  if (!found) throw new Error(`no group ${name}`);
  return found;
};
function groupError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(GroupError);
    return (e as Error).message;
  }
  throw new Error('expected a GroupError');
}

describe('groupNodes and ungroup', () => {
  it('groups input_blocks.4.0 and .1 as "input_blocks.4", with ports derived from the edges crossing its border', () => {
    const { graph, groupId } = groupNodes(flat, ids(flat, 'input_blocks.4.0', 'input_blocks.4.1'));
    expect(graph.groups).toEqual([{ id: groupId, name: 'input_blocks.4', nodes: ids(flat, 'input_blocks.4.0', 'input_blocks.4.1') }]);
    // Nodes and edges are untouched: names stay module paths.
    expect(graph.nodes).toBe(flat.nodes);
    expect(graph.edges).toBe(flat.edges);
    const a = analyze(graph);
    expect(a.ok).toBe(true);
    const ports = groupPorts(graph, a, groupId);
    // x: the downsampled 64-channel map of level 0 (16×16); emb: time_embed's 4 × 64 = 256 channels.
    expect(ports.inputs.map((p) => ({ name: p.name, kind: p.kind, dims: p.shape?.dims, from: p.source.node, to: p.targets }))).toEqual([
      { name: 'emb', kind: 'temb', dims: [256], from: id(flat, 'time_embed'), to: [{ node: id(flat, 'input_blocks.4.0'), port: 'emb' }] },
      { name: 'x', kind: 'feature', dims: [64, 16, 16], from: id(flat, 'input_blocks.3.0'), to: [{ node: id(flat, 'input_blocks.4.0'), port: 'x' }] },
    ]);
    // One output: the attention's map goes on (x of input_blocks.5.0) and to the decoder as a skip.
    expect(ports.outputs.map((p) => ({ name: p.name, kind: p.kind, dims: p.shape?.dims, from: p.source.node, to: p.targets }))).toEqual([
      {
        name: 'out',
        kind: 'feature',
        dims: [128, 16, 16],
        from: id(flat, 'input_blocks.4.1'),
        to: [
          { node: id(flat, 'input_blocks.5.0'), port: 'x' },
          { node: id(flat, 'output_blocks.4.cat'), port: 'skip' },
        ],
      },
    ]);
  });

  it('a grouped graph has exactly the weights, names and FLOPs of the flat one; ungroup gives the flat graph back', () => {
    const { graph, groupId } = groupNodes(flat, ids(flat, 'input_blocks.4.0', 'input_blocks.4.1'));
    const key = (g: Graph) => expectedWeights(analyze(g)).map((w) => `${w.fullKey} ${w.shape.join('x')}`);
    expect(key(graph)).toEqual(key(flat));
    expect(key(graph)).toContain('input_blocks.4.1.qkv.weight 384x128x1');
    expect(countFlops(analyze(graph))).toBe(countFlops(analyze(flat)));
    expect(ungroup(graph, groupId)).toEqual(flat);
    expect('groups' in ungroup(graph, groupId)).toBe(false);
  });

  it('port names are unique: a second source for the same inner input name gets skip_2', () => {
    // output_blocks.3 and output_blocks.4's concat: two skips come in from outside (input_blocks.5 and .4),
    // x from the upsampler output_blocks.2.1 and emb; in forward order of their sources.
    const { graph, groupId } = groupNodes(flat, ids(flat, 'output_blocks.3.cat', 'output_blocks.3.0', 'output_blocks.3.1', 'output_blocks.4.cat'));
    const names = groupPorts(graph, analyze(graph), groupId).inputs.map((p) => `${p.name}<-${flat.nodes.find((n) => n.id === p.source.node)!.name}`);
    expect(names).toEqual(['emb<-time_embed', 'skip<-input_blocks.4.1', 'skip_2<-input_blocks.5.1', 'x<-output_blocks.2.1']);
  });

  it('nests groups: grouping two groups makes their parent; ungrouping the parent puts them back at the top', () => {
    const a = groupNodes(flat, ids(flat, 'input_blocks.4.0', 'input_blocks.4.1'));
    const b = groupNodes(a.graph, ids(flat, 'input_blocks.5.0', 'input_blocks.5.1'));
    const outer = groupNodes(b.graph, [a.groupId, b.groupId]);
    const g = outer.graph;
    // Common dotted prefix of the four names inside.
    expect(groupNamed(g, 'input_blocks').id).toBe(outer.groupId);
    expect(g.groups?.map((x) => [x.name, x.parent ?? null, x.nodes.length])).toEqual([
      ['input_blocks', null, 0],
      ['input_blocks.4', outer.groupId, 2],
      ['input_blocks.5', outer.groupId, 2],
    ]);
    expect(groupProblems(g)).toEqual([]);
    expect(groupDescendants(g, outer.groupId)).toEqual(ids(flat, 'input_blocks.4.0', 'input_blocks.4.1', 'input_blocks.5.0', 'input_blocks.5.1'));
    expect(groupChain(g, id(flat, 'input_blocks.5.1')).map((x) => x.name)).toEqual(['input_blocks', 'input_blocks.5']);
    expect(groupChain(g, b.groupId).map((x) => x.name)).toEqual(['input_blocks']);
    expect(groupOf(g, id(flat, 'input_blocks.5.1'))?.name).toBe('input_blocks.5');
    expect(groupOf(g, id(flat, 'x'))).toBeUndefined();
    // Collapsing the outer group hides both inner ones.
    expect(collapsedAncestor(g, id(flat, 'input_blocks.5.1'), new Set([outer.groupId]))).toBe(outer.groupId);
    expect(collapsedAncestor(g, id(flat, 'input_blocks.5.1'), new Set())).toBeUndefined();
    // Its ports: the level's x and emb in, and two outputs (each a skip, the last also the next x).
    const ports = groupPorts(g, analyze(g), outer.groupId);
    expect(ports.inputs.map((p) => p.name)).toEqual(['emb', 'x']);
    expect(ports.outputs.map((p) => [p.name, p.shape?.dims])).toEqual([
      ['skip', [128, 16, 16]],
      ['out', [128, 16, 16]],
    ]);

    const back = ungroup(g, outer.groupId);
    expect(back.groups?.map((x) => [x.name, 'parent' in x])).toEqual([
      ['input_blocks.4', false],
      ['input_blocks.5', false],
    ]);
    // Grouping a node inside a group: the new group sits under that group, before nothing else moves.
    const inner = groupNodes(b.graph, ids(flat, 'input_blocks.5.1'));
    expect(inner.graph.groups?.map((x) => [x.name, x.parent ?? null, x.nodes])).toEqual([
      ['input_blocks.4', null, ids(flat, 'input_blocks.4.0', 'input_blocks.4.1')],
      ['input_blocks.5', null, ids(flat, 'input_blocks.5.0')],
      ['group_1', b.groupId, ids(flat, 'input_blocks.5.1')],
    ]);
    expect(groupProblems(inner.graph)).toEqual([]);
  });

  it('default names: the common module path when free, else group_1, group_2, …; ids g1, g2, …', () => {
    expect(commonModulePath(['input_blocks.4.0', 'input_blocks.4.1'])).toBe('input_blocks.4');
    expect(commonModulePath(['up1.up', 'up1.cat', 'up1.conv'])).toBe('up1');
    // A strict prefix of every name: a.b is not a module holding itself.
    expect(commonModulePath(['a.b', 'a.b.c'])).toBe('a');
    expect(commonModulePath(['out.0'])).toBe('out');
    expect(commonModulePath(['x', 'timesteps'])).toBe('');
    const one = groupNodes(flat, ids(flat, 'x', 'timesteps'));
    expect([one.groupId, groupNamed(one.graph, 'group_1').id]).toEqual(['g1', 'g1']);
    const two = groupNodes(one.graph, ids(flat, 'out.0', 'out.1'));
    expect([two.groupId, two.graph.groups?.[1].name]).toEqual(['g2', 'out']);
    // "out" is taken now: the next group of out.* blocks falls back to group_2.
    const three = groupNodes(two.graph, ids(flat, 'out.2'));
    expect([three.groupId, three.graph.groups?.[2].name]).toEqual(['g3', 'group_2']);
    // A name given is used as it is.
    expect(groupNodes(flat, ids(flat, 'x'), 'inputs').graph.groups?.[0].name).toBe('inputs');
  });

  it('refuses selections that make no sense, naming the problem', () => {
    const a = groupNodes(flat, ids(flat, 'input_blocks.4.0', 'input_blocks.4.1'));
    expect(groupError(() => groupNodes(a.graph, [id(flat, 'input_blocks.4.0'), id(flat, 'input_blocks.5.0')]))).toBe(
      'the selection mixes items of group "input_blocks.4" and of the top level; select blocks and groups that sit side by side in one group',
    );
    expect(groupError(() => groupNodes(a.graph, [a.groupId, id(flat, 'input_blocks.4.1')]))).toMatch(/^the selection mixes items of the top level and of group "input_blocks.4"/);
    expect(groupError(() => groupNodes(flat, []))).toBe('select at least one block or group to group');
    expect(groupError(() => groupNodes(flat, ['nope']))).toBe('"nope" is neither a block nor a group of the graph');
    expect(groupError(() => groupNodes(a.graph, ids(flat, 'x'), 'input_blocks.4'))).toBe('the name "input_blocks.4" is already used by another group');
    expect(groupError(() => groupNodes(flat, ids(flat, 'x'), ' '))).toBe('a group name must not be empty or have spaces at either end');
    expect(groupError(() => ungroup(flat, 'g9'))).toBe('there is no group with id "g9"');
    expect(groupError(() => renameGroup(a.graph, a.groupId, ''))).toBe('a group name must not be empty or have spaces at either end');
  });

  it('renames a group (names need not be module paths)', () => {
    const a = groupNodes(flat, ids(flat, 'input_blocks.4.0', 'input_blocks.4.1'));
    const r = renameGroup(a.graph, a.groupId, 'level 1 attention');
    expect(r.groups).toEqual([{ ...a.graph.groups![0], name: 'level 1 attention' }]);
    expect(renameGroup(r, a.groupId, 'level 1 attention')).toBe(r);
  });
});

describe('group problems', () => {
  const n = (name: string) => id(flat, name);
  const cases: [string, GraphGroup[], string[]][] = [
    ['duplicate id', [{ id: 'g1', name: 'a', nodes: [n('x')] }, { id: 'g1', name: 'b', nodes: [n('timesteps')] }], ['group "b": its id "g1" is also used by another group']],
    ['id of a node', [{ id: n('x'), name: 'a', nodes: [n('timesteps')] }], [`group "a": its id "${n('x')}" is also a block's id`]],
    ['duplicate name', [{ id: 'g1', name: 'a', nodes: [n('x')] }, { id: 'g2', name: 'a', nodes: [n('timesteps')] }], ['group "a": the name is also used by another group']],
    ['empty name', [{ id: 'g1', name: '', nodes: [n('x')] }], ['group "": the name is empty or has spaces at either end']],
    ['missing parent', [{ id: 'g1', name: 'a', parent: 'g7', nodes: [n('x')] }], ['group "a": its parent group "g7" does not exist']],
    [
      'parent after child',
      [{ id: 'g2', name: 'b', parent: 'g1', nodes: [n('x')] }, { id: 'g1', name: 'a', nodes: [n('timesteps')] }],
      ['group "b": its parent group "a" is listed after it'],
    ],
    [
      'cycle of parents',
      [{ id: 'g1', name: 'a', parent: 'g2', nodes: [n('x')] }, { id: 'g2', name: 'b', parent: 'g1', nodes: [n('timesteps')] }],
      ['group "a": is inside itself through its parents ("a" → "b" → "a")'],
    ],
    ['own parent', [{ id: 'g1', name: 'a', parent: 'g1', nodes: [n('x')] }], ['group "a": is its own parent']],
    ['missing member', [{ id: 'g1', name: 'a', nodes: ['n999'] }], ['group "a": its member "n999" is not a block of the graph']],
    [
      'node in two groups',
      [{ id: 'g1', name: 'a', nodes: [n('x')] }, { id: 'g2', name: 'b', nodes: [n('x')] }],
      ['group "b": block "x" is also in group "a"'],
    ],
    ['listed twice', [{ id: 'g1', name: 'a', nodes: [n('x'), n('x')] }], ['group "a": lists block "x" twice']],
    ['empty group', [{ id: 'g1', name: 'a', nodes: [] }], ['group "a": is empty']],
  ];
  it.each(cases)('%s', (_label, groups, messages) => {
    expect(groupProblems({ ...flat, groups }).map((p) => p.message)).toEqual(messages);
  });

  it('the checker reports them as errors naming the group, the block and a fix', () => {
    const a = analyze({ ...flat, groups: [{ id: 'g1', name: 'a', nodes: [n('x')] }, { id: 'g2', name: 'b', nodes: [n('x')] }] });
    expect(a.ok).toBe(false);
    expect(a.problems.filter((p) => p.code === 'group')).toEqual([
      { severity: 'error', code: 'group', groupId: 'g2', group: 'b', nodeId: n('x'), node: 'x', message: 'group "b": block "x" is also in group "a"', fix: 'keep each block in one group: its innermost' },
    ]);
  });
});

describe('summaries and the canvas', () => {
  it('a group sums the parameters and FLOPs of its blocks and lists the problems inside', () => {
    const { graph, groupId } = groupNodes(flat, ids(flat, 'input_blocks.4.0', 'input_blocks.4.1'));
    const s = groupSummary(graph, analyze(graph), groupId);
    // PyTorch: ResBlock(64 → 128, emb 256) has 263,040 parameters, AttentionBlock(128) 66,304.
    expect([s.name, s.blocks, s.parameters, s.hasErrors, s.problems]).toEqual(['input_blocks.4', 2, 329_344, false, []]);
    expect(s.inputs.map((p) => p.name)).toEqual(['emb', 'x']);
    expect(s.outputs.map((p) => p.shape?.dims)).toEqual([[128, 16, 16]]);
    // The FLOPs of every top-level item add up to the flat graph's.
    const rest = groupNodes(graph, graph.nodes.filter((x) => !groupOf(graph, x.id)).map((x) => x.id));
    const both = [groupSummary(rest.graph, analyze(rest.graph), rest.groupId), groupSummary(rest.graph, analyze(rest.graph), groupId)];
    expect(both[0].flops).toBeGreaterThan(0);
    expect(both[1].flops).toBeGreaterThan(0);
    expect(both[0].flops + both[1].flops).toBe(countFlops(analyze(flat)));

    // 100 channels are not divisible by GroupNorm's 32 groups: the group is marked and names the block.
    const bad = { ...graph, nodes: graph.nodes.map((x) => (x.name === 'input_blocks.4.0' ? { ...x, params: { ...x.params, out_channels: 100 } } : x)) };
    const sb = groupSummary(bad, analyze(bad), groupId);
    expect(sb.hasErrors).toBe(true);
    expect(sb.problems.length).toBeGreaterThan(0);
    expect(sb.problems.every((p) => p.node === 'input_blocks.4.0' || p.node === 'input_blocks.4.1')).toBe(true);
    expect(sb.problems[0].message).toMatch(/^ResBlock "input_blocks\.4\.0": /);
  });

  it('visibleItems counts blocks outside collapsed groups, collapsed groups and expanded frames', () => {
    const a = groupNodes(flat, ids(flat, 'input_blocks.4.0', 'input_blocks.4.1'));
    const b = groupNodes(a.graph, ids(flat, 'input_blocks.5.0', 'input_blocks.5.1'));
    const outer = groupNodes(b.graph, [a.groupId, b.groupId]);
    const g = outer.graph;
    const n = flat.nodes.length;
    expect(visibleItems(flat, new Set())).toEqual({ blocks: n, collapsed: 0, frames: 0, total: n });
    expect(visibleItems(g, new Set())).toEqual({ blocks: n, collapsed: 0, frames: 3, total: n + 3 });
    expect(visibleItems(g, new Set([a.groupId]))).toEqual({ blocks: n - 2, collapsed: 1, frames: 2, total: n + 1 });
    // The outer group hides its children, collapsed or not.
    expect(visibleItems(g, new Set([outer.groupId, a.groupId]))).toEqual({ blocks: n - 4, collapsed: 1, frames: 0, total: n - 3 });
  });
});

describe('pruning after deletion', () => {
  it('deleted blocks leave their groups; emptied groups (and parents left empty) go', () => {
    const a = groupNodes(flat, ids(flat, 'input_blocks.4.0', 'input_blocks.4.1'));
    const b = groupNodes(a.graph, ids(flat, 'input_blocks.5.0', 'input_blocks.5.1'));
    const outer = groupNodes(b.graph, [a.groupId, b.groupId]);
    const one = removeNodes(outer.graph, ids(flat, 'input_blocks.4.0'));
    expect(one.groups?.map((x) => [x.name, x.nodes.length])).toEqual([
      ['input_blocks', 0],
      ['input_blocks.4', 1],
      ['input_blocks.5', 2],
    ]);
    expect(one.edges.some((e) => e.from.node === id(flat, 'input_blocks.4.0') || e.to.node === id(flat, 'input_blocks.4.0'))).toBe(false);
    const two = removeNodes(one, ids(flat, 'input_blocks.4.1'));
    expect(two.groups?.map((x) => x.name)).toEqual(['input_blocks', 'input_blocks.5']);
    expect(groupProblems(two)).toEqual([]);
    const none = removeNodes(two, ids(flat, 'input_blocks.5.0', 'input_blocks.5.1'));
    expect('groups' in none).toBe(false);
    // Nothing to prune: the same graph object (the analysis cache keeps working).
    expect(pruneGroups(outer.graph)).toBe(outer.graph);
    expect(pruneGroups({ ...flat, groups: [{ id: 'g1', name: 'a', nodes: ['gone', id(flat, 'x')] }] }).groups).toEqual([{ id: 'g1', name: 'a', nodes: [id(flat, 'x')] }]);
  });
});
