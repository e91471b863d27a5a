/** Blocks of your own (issue 12): save as block, instances, shared edits with overrides, repeat ×N, the library file. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder';
import { analyze, countParameters } from './analyze';
import { expectedWeights } from './weights';
import type { BlockDefinition, Graph, GraphGroup } from './model';
import { groupPorts, groupSummary } from './groups';
import { parseDocument, serializeDocument } from './document';
import {
  bumpIndex,
  DefinitionError,
  instantiate,
  LIBRARY_FORMAT,
  parseLibrary,
  repeatGroup,
  saveAsDefinition,
  serializeLibrary,
  setInstanceParam,
  suggestInstanceName,
} from './definitions';

/**
 * x (3×32×32) → input_blocks.0.0 (conv to 64) → [input_blocks.1: ResBlock .0 + AttentionBlock .1]
 * → out.0 GroupNorm → out.1 SiLU → out.2 conv to 3 → output; time_embed (256) feeds the ResBlock.
 */
function small(): Graph {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 32, width: 32 });
  const t = b.add('TimestepsInput', 'timesteps');
  const sin = b.add('TimestepEmbedding', 'timestep_embedding', { dim: 64 }, { x: t });
  const emb = b.add('TimeEmbedMLP', 'time_embed', { dim: 256 }, { x: sin });
  let h = b.add('Conv2d', 'input_blocks.0.0', { out_channels: 64, kernel_size: 3, stride: 1, padding: 1, bias: true }, { x });
  h = b.group('input_blocks.1', () => {
    const r = b.add('ResBlock', 'input_blocks.1.0', { out_channels: 64 }, { x: h, emb });
    return b.add('AttentionBlock', 'input_blocks.1.1', { num_heads: 1 }, { x: r });
  });
  h = b.add('GroupNorm', 'out.0', { groups: 32, eps: 1e-5 }, { x: h });
  h = b.add('SiLU', 'out.1', {}, { x: h });
  h = b.add('Conv2d', 'out.2', { out_channels: 3, kernel_size: 3, stride: 1, padding: 1, bias: true }, { x: h });
  b.add('Output', 'output', {}, { x: h });
  return b.build('small');
}

/** ResBlock(64 → 64, emb 256) + AttentionBlock(64) parameters, counted by PyTorch (nn.GroupNorm, Conv2d, Linear, Conv1d modules). */
const GROUP_PARAMS = 90560 + 16768;

const groupNamed = (g: Graph, name: string): GraphGroup => {
  const found = (g.groups ?? []).find((x) => x.name === name);
  if (!found) throw new Error(`no group ${name}`);
  return found;
};
const node = (g: Graph, name: string) => {
  const n = g.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
};
function defError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DefinitionError);
    return (e as Error).message;
  }
  throw new Error('expected a DefinitionError');
}

describe('saveAsDefinition', () => {
  it('turns the group into instance 1 of a definition with relative names, internal edges and ports', () => {
    const g0 = small();
    const { graph, definition } = saveAsDefinition(g0, groupNamed(g0, 'input_blocks.1').id, 'Res + attention');
    expect(definition.id).toBe('block_res_attention');
    expect(definition.name).toBe('Res + attention');
    expect(definition.nodes).toEqual([
      { name: '0', type: 'ResBlock', params: { out_channels: 64 } },
      { name: '1', type: 'AttentionBlock', params: { num_heads: 1 } },
    ]);
    expect(definition.edges).toEqual([{ from: { node: '0', port: 'out' }, to: { node: '1', port: 'x' } }]);
    // Ports in forward order of their sources (input_blocks.0.0 before time_embed here).
    expect(definition.inputs).toEqual([
      { name: 'x', kind: 'feature', targets: [{ node: '0', port: 'x' }] },
      { name: 'emb', kind: 'temb', targets: [{ node: '0', port: 'emb' }] },
    ]);
    expect(definition.outputs).toEqual([{ name: 'x', kind: 'feature', targets: [{ node: '1', port: 'out' }] }]);
    expect(groupNamed(graph, 'input_blocks.1').definition).toBe('block_res_attention');
    expect(graph.definitions).toEqual([definition]);
    expect(analyze(graph).ok).toBe(true);
    // Nodes and edges untouched.
    expect(graph.nodes).toBe(g0.nodes);
    expect(graph.edges).toBe(g0.edges);
  });

  it('refuses an empty or taken label', () => {
    const g0 = small();
    const gid = groupNamed(g0, 'input_blocks.1').id;
    expect(defError(() => saveAsDefinition(g0, gid, ' '))).toBe("the block's name is empty");
    const { graph } = saveAsDefinition(g0, gid, 'A');
    expect(defError(() => saveAsDefinition(graph, gid, 'A'))).toBe('there is already a block named "A"; choose another name');
  });
});

describe('instances: validation, instantiate, shared edits and overrides', () => {
  const saved = () => {
    const g0 = small();
    return saveAsDefinition(g0, groupNamed(g0, 'input_blocks.1').id, 'Res + attention');
  };

  it('a member that differs from its definition is a problem naming the group and the block', () => {
    const { graph } = saved();
    const changed: Graph = { ...graph, nodes: graph.nodes.map((n) => (n.name === 'input_blocks.1.1' ? { ...n, params: { num_heads: 2 } } : n)) };
    const msgs = analyze(changed).problems.filter((p) => p.code === 'group').map((p) => p.message);
    expect(msgs).toEqual(['group "input_blocks.1": instance of block "Res + attention": block "input_blocks.1.1" has num_heads = 2, the block says 1']);
    const missingEdge: Graph = { ...graph, edges: graph.edges.filter((e) => !(e.from.node === node(graph, 'input_blocks.1.0').id && e.to.node === node(graph, 'input_blocks.1.1').id)) };
    expect(analyze(missingEdge).problems.filter((p) => p.code === 'group').map((p) => p.message)).toEqual([
      'group "input_blocks.1": instance of block "Res + attention": the block\'s connection "0.out" → "1.x" is missing',
    ]);
    const noDef: Graph = { ...graph, definitions: [] };
    expect(analyze(noDef).problems.filter((p) => p.code === 'group').map((p) => p.message)).toEqual([
      'group "input_blocks.1": is an instance of block definition "block_res_attention", which the document does not hold',
    ]);
  });

  it('instantiate adds named nodes, internal edges and an instance group with unconnected inputs', () => {
    const { graph, definition } = saved();
    expect(suggestInstanceName(graph, definition)).toBe('res_attention_1');
    const r = instantiate(graph, definition, 'extra.0');
    const added = r.graph.nodes.slice(graph.nodes.length);
    expect(added.map((n) => [n.id, n.name, n.type])).toEqual([
      ['n12', 'extra.0.0', 'ResBlock'],
      ['n13', 'extra.0.1', 'AttentionBlock'],
    ]);
    expect(r.graph.edges.slice(graph.edges.length)).toEqual([{ id: 'e11', from: { node: 'n12', port: 'out' }, to: { node: 'n13', port: 'x' } }]);
    expect(r.graph.groups!.at(-1)).toEqual({ id: r.groupId, name: 'extra.0', nodes: ['n12', 'n13'], definition: 'block_res_attention' });
    expect(r.graph.definitions).toEqual(graph.definitions);
    // Inputs unconnected: the analysis says so for the ResBlock; the group itself matches its definition.
    const a = analyze(r.graph);
    expect(a.problems.filter((p) => p.code === 'group')).toEqual([]);
    expect(a.problems.some((p) => p.nodeId === 'n12' && p.severity === 'error')).toBe(true);
    expect(defError(() => instantiate(graph, definition, 'input_blocks.1'))).toBe('the name "input_blocks.1" is already used by another group');
    expect(defError(() => instantiate(graph, definition, 'out'))).toBe('the name "out" is already used (block "out.0"); choose another name for the new block "Res + attention"');
  });

  it('a definition from elsewhere with a taken id but other content gets a new id', () => {
    const { graph, definition } = saved();
    const other: BlockDefinition = { ...definition, nodes: definition.nodes.map((n) => (n.name === '1' ? { ...n, params: { num_heads: 4 } } : n)) };
    const r = instantiate(graph, other, 'b');
    expect(r.graph.definitions!.map((d) => d.id)).toEqual(['block_res_attention', 'block_res_attention_2']);
    expect(groupNamed(r.graph, 'b').definition).toBe('block_res_attention_2');
  });

  it('editing a param in one instance edits the definition and every instance follows; an override stays put', () => {
    const { graph, definition } = saved();
    // Two more instances after the original, chained: input_blocks.1 → b → c.
    let g = instantiate(graph, definition, 'b').graph;
    g = instantiate(g, definition, 'c').graph;
    g = setInstanceParam(g, node(g, 'c.1').id, 'num_heads', 2, { override: true });
    expect(groupNamed(g, 'c').overrides).toEqual({ '1': { num_heads: 2 } });
    g = setInstanceParam(g, node(g, 'b.1').id, 'num_heads', 4);
    expect(node(g, 'input_blocks.1.1').params.num_heads).toBe(4);
    expect(node(g, 'b.1').params.num_heads).toBe(4);
    expect(node(g, 'c.1').params.num_heads).toBe(2);
    expect(g.definitions![0].nodes[1].params).toEqual({ num_heads: 4 });
    expect(analyze(g).problems.filter((p) => p.code === 'group')).toEqual([]);
    // Editing c's overridden param without override: c follows the definition again.
    g = setInstanceParam(g, node(g, 'c.1').id, 'num_heads', 8);
    expect(groupNamed(g, 'c').overrides).toBeUndefined();
    expect(['input_blocks.1.1', 'b.1', 'c.1'].map((n) => node(g, n).params.num_heads)).toEqual([8, 8, 8]);
  });

  it('an override that shapes do not allow is refused, naming the problem', () => {
    const { graph } = saved();
    // 48 output channels: the attention's GroupNorm(32) cannot divide them.
    const m = defError(() => setInstanceParam(graph, node(graph, 'input_blocks.1.0').id, 'out_channels', 48, { override: true }));
    expect(m).toMatch(/^cannot override out_channels = 48 of "input_blocks.1.0" in this instance of block "Res \+ attention": /);
    expect(m).toContain('48');
    expect(m).toContain('32');
    // An allowed one (128 channels flows on: out.0's GroupNorm takes 128) is recorded.
    const g = setInstanceParam(graph, node(graph, 'input_blocks.1.0').id, 'out_channels', 128, { override: true });
    expect(groupNamed(g, 'input_blocks.1').overrides).toEqual({ '0': { out_channels: 128 } });
    expect(analyze(g).ok).toBe(true);
    // Back to the definition's value: the override goes away.
    const back = setInstanceParam(g, node(g, 'input_blocks.1.0').id, 'out_channels', 64, { override: true });
    expect(groupNamed(back, 'input_blocks.1').overrides).toBeUndefined();
    expect(defError(() => setInstanceParam(graph, node(graph, 'input_blocks.1.0').id, 'bogus', 1))).toBe('ResBlock "input_blocks.1.0" has no parameter "bogus"');
  });

  it('documents save and read definitions and instances (version 4); version 3 files open without any', () => {
    const { graph } = saved();
    const g = setInstanceParam(graph, node(graph, 'input_blocks.1.0').id, 'out_channels', 128, { override: true });
    const text = serializeDocument(g);
    const back = parseDocument(text);
    expect(back.graph.definitions).toEqual(g.definitions);
    expect(back.graph.groups).toEqual(g.groups);
    expect(serializeDocument(back.graph)).toBe(text);
    const v3 = JSON.parse(serializeDocument(small())) as Record<string, unknown>;
    v3.version = 3;
    expect(parseDocument(JSON.stringify(v3)).graph.groups).toEqual(small().groups);
    const bad = JSON.parse(text) as { version: number };
    bad.version = 3;
    expect(() => parseDocument(JSON.stringify(bad))).toThrow('"definitions" is not part of version 3 (blocks of your own came with version 4)');
  });
});

describe('repeatGroup', () => {
  it('chains n − 1 copies with PyTorch numbering, the same emb, the consumers moved to the last copy', () => {
    const g0 = small();
    const gid = groupNamed(g0, 'input_blocks.1').id;
    const { graph, groupIds } = repeatGroup(g0, gid, 3);
    expect(groupIds.map((id) => graph.groups!.find((x) => x.id === id)!.name)).toEqual(['input_blocks.1', 'input_blocks.2', 'input_blocks.3']);
    expect(graph.nodes.map((n) => n.name)).toEqual([
      'x', 'timesteps', 'timestep_embedding', 'time_embed', 'input_blocks.0.0',
      'input_blocks.1.0', 'input_blocks.1.1', 'input_blocks.2.0', 'input_blocks.2.1', 'input_blocks.3.0', 'input_blocks.3.1',
      'out.0', 'out.1', 'out.2', 'output',
    ]);
    const name = (id: string) => graph.nodes.find((n) => n.id === id)!.name;
    const feeds = (to: string) => graph.edges.filter((e) => name(e.to.node) === to).map((e) => `${name(e.from.node)}→${e.to.port}`).sort();
    expect(feeds('input_blocks.2.0')).toEqual(['input_blocks.1.1→x', 'time_embed→emb']);
    expect(feeds('input_blocks.2.1')).toEqual(['input_blocks.2.0→x']);
    expect(feeds('input_blocks.3.0')).toEqual(['input_blocks.2.1→x', 'time_embed→emb']);
    expect(feeds('out.0')).toEqual(['input_blocks.3.1→x']);
    // All three are instances of one definition, and the graph is clean.
    const defs = new Set(groupIds.map((id) => graph.groups!.find((x) => x.id === id)!.definition));
    expect([...defs]).toEqual(['block_input_blocks_1']);
    expect(graph.definitions!.map((d) => d.name)).toEqual(['input_blocks.1']);
    const a = analyze(graph);
    expect(a.problems).toEqual([]);
    // Weight names: PyTorch's for three blocks; parameters: original + 2 × the group's (PyTorch's count).
    const keys = expectedWeights(a).map((w) => w.fullKey).filter((k) => k.startsWith('input_blocks.3.'));
    expect(keys.sort()).toEqual(
      [
        'input_blocks.3.0.emb_layers.1.bias', 'input_blocks.3.0.emb_layers.1.weight', 'input_blocks.3.0.in_layers.0.bias', 'input_blocks.3.0.in_layers.0.weight',
        'input_blocks.3.0.in_layers.2.bias', 'input_blocks.3.0.in_layers.2.weight', 'input_blocks.3.0.out_layers.0.bias', 'input_blocks.3.0.out_layers.0.weight',
        'input_blocks.3.0.out_layers.3.bias', 'input_blocks.3.0.out_layers.3.weight',
        'input_blocks.3.1.norm.bias', 'input_blocks.3.1.norm.weight', 'input_blocks.3.1.proj_out.bias', 'input_blocks.3.1.proj_out.weight',
        'input_blocks.3.1.qkv.bias', 'input_blocks.3.1.qkv.weight',
      ].sort(),
    );
    expect(groupSummary(g0, analyze(g0), gid).parameters).toBe(GROUP_PARAMS);
    expect(countParameters(a)).toBe(countParameters(analyze(g0)) + 2 * GROUP_PARAMS);
    // Each copy's ports: the same as the original's.
    expect(groupPorts(graph, a, groupIds[2]).inputs.map((p) => [p.name, p.kind, p.shape?.dims])).toEqual([
      ['emb', 'temb', [256]],
      ['x', 'feature', [64, 32, 32]],
    ]);
    // n = 1 changes nothing.
    expect(repeatGroup(g0, gid, 1).graph).toBe(g0);
  });

  it('copies nested groups too, renamed and re-parented; the copies validate against the shared definition', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 8, height: 8, width: 8 });
    const h = b.group('stage.1', () => {
      const c = b.group('stage.1.a', () => b.add('Conv2d', 'stage.1.a.conv', { out_channels: 8, kernel_size: 3, stride: 1, padding: 1, bias: true }, { x }));
      return b.add('SiLU', 'stage.1.act', {}, { x: c });
    });
    b.add('Output', 'output', {}, { x: h });
    const g0 = b.build('nested');
    const { graph } = repeatGroup(g0, groupNamed(g0, 'stage.1').id, 2);
    const byId = new Map(graph.groups!.map((x) => [x.id, x]));
    expect(graph.groups!.map((x) => [x.name, x.parent === undefined ? null : byId.get(x.parent)!.name, x.nodes.map((id) => graph.nodes.find((n) => n.id === id)!.name)])).toEqual([
      ['stage.1', null, ['stage.1.act']],
      ['stage.1.a', 'stage.1', ['stage.1.a.conv']],
      ['stage.2', null, ['stage.2.act']],
      ['stage.2.a', 'stage.2', ['stage.2.a.conv']],
    ]);
    expect(graph.definitions![0].nodes.map((n) => n.name)).toEqual(['a.conv', 'act']);
    expect(analyze(graph).problems).toEqual([]);
    // 8·8·9 + 8 parameters per conv (PyTorch's Conv2d(8, 8, 3)): 584 each.
    expect(countParameters(analyze(graph))).toBe(2 * 584);
  });

  it('a malformed definition in a document is a DocumentError naming its path', () => {
    const g0 = small();
    const { graph } = saveAsDefinition(g0, groupNamed(g0, 'input_blocks.1').id, 'A');
    const doc = JSON.parse(serializeDocument(graph)) as { graph: { definitions: { nodes: { name: string }[] }[] } };
    doc.graph.definitions[0].nodes[0].name = 'a..b';
    expect(() => parseDocument(JSON.stringify(doc))).toThrow('graph.definitions.0.nodes.0.name: the name "a..b" has an empty dotted segment');
  });

  it('refuses a taken name, a group without a number, a group whose output cannot feed its input, and bad counts', () => {
    const g0 = small();
    const gid = groupNamed(g0, 'input_blocks.1').id;
    const taken: Graph = { ...g0, nodes: g0.nodes.map((n) => (n.name === 'out.0' ? { ...n, name: 'input_blocks.3.0' } : n)) };
    expect(defError(() => repeatGroup(taken, gid, 3))).toBe(
      'cannot repeat group "input_blocks.1" 3 times: copy 3 would be "input_blocks.3", but the name "input_blocks.3" is already used (block "input_blocks.3.0"); rename or move that first, or repeat fewer times',
    );
    // Two copies still fit.
    expect(repeatGroup(taken, gid, 2).graph.groups!.map((x) => x.name)).toEqual(['input_blocks.1', 'input_blocks.2']);
    const unnumbered: Graph = {
      ...g0,
      groups: g0.groups!.map((x) => ({ ...x, name: 'mid' })),
      nodes: g0.nodes.map((n) => (n.name.startsWith('input_blocks.1.') ? { ...n, name: `mid.${n.name.slice(15)}` } : n)),
    };
    expect(defError(() => repeatGroup(unnumbered, gid, 2))).toBe('cannot repeat group "mid": its name has no number to count up (like "input_blocks.1"); rename it');
    const wider: Graph = { ...g0, nodes: g0.nodes.map((n) => (n.name === 'input_blocks.1.0' ? { ...n, params: { out_channels: 128 } } : n)) };
    expect(defError(() => repeatGroup(wider, gid, 2))).toBe(
      'cannot repeat group "input_blocks.1": its output (feature, [128,32,32]) cannot feed its input "x" (feature, [64,32,32]); only a group whose output has its input\'s kind and shape can be chained',
    );
    expect(defError(() => repeatGroup(g0, gid, 0))).toBe('cannot repeat group "input_blocks.1": the count must be a whole number from 1 to 256 (got 0)');
    expect(bumpIndex('input_blocks.1', 2)).toBe('input_blocks.3');
    expect(bumpIndex('down.2.block', 1)).toBe('down.3.block');
    expect(bumpIndex('mid', 1)).toBeNull();
  });
});

describe('the "My blocks" library file', () => {
  const def = () => {
    const g0 = small();
    return saveAsDefinition(g0, groupNamed(g0, 'input_blocks.1').id, 'Res + attention').definition;
  };
  it('round-trips', () => {
    const text = serializeLibrary([def()]);
    expect(JSON.parse(text)).toMatchObject({ format: LIBRARY_FORMAT, version: 1 });
    expect(parseLibrary(text)).toEqual([def()]);
    expect(serializeLibrary(parseLibrary(text))).toBe(text);
  });
  it('refuses malformed JSON, other formats, unknown block types, hostile names and dangling references, naming them', () => {
    expect(defError(() => parseLibrary('{"format":', 'mine.json'))).toMatch(/^mine\.json is not valid JSON: /);
    expect(defError(() => parseLibrary('[]'))).toBe('block library must hold a JSON object, not an array');
    expect(defError(() => parseLibrary('{"format":"unet-studio-graph","version":4}'))).toBe(
      'block library is not a UNet Studio block library (its "format" is "unet-studio-graph", expected "unet-studio-blocks")',
    );
    expect(defError(() => parseLibrary('{"format":"unet-studio-blocks","version":2,"definitions":[]}'))).toBe(
      'block library was saved by a newer UNet Studio (library version 2; this one reads 1): update the app to open it',
    );
    const lib = (d: unknown) => JSON.stringify({ format: LIBRARY_FORMAT, version: 1, definitions: [d] });
    const d = def();
    expect(defError(() => parseLibrary(lib({ ...d, nodes: [{ ...d.nodes[0], type: 'Evil' }, d.nodes[1]] })))).toBe(
      'block library is malformed:\n  definitions.0.nodes.0.type: unknown block type "Evil"',
    );
    expect(defError(() => parseLibrary(lib({ ...d, nodes: [{ ...d.nodes[0], name: 'a\u0000b' }, d.nodes[1]] })))).toContain(
      'definitions.0.nodes.0.name: the name "a\\u0000b" contains control characters',
    );
    expect(defError(() => parseLibrary(lib({ ...d, nodes: [{ ...d.nodes[0], name: '__proto__' }, d.nodes[1]] })))).toContain(
      'the name "__proto__" uses the reserved name "__proto__"',
    );
    expect(defError(() => parseLibrary(lib({ ...d, id: '../x' })))).toContain('definitions.0.id: the name "../x" has an empty dotted segment');
    expect(defError(() => parseLibrary(lib({ ...d, edges: [{ from: { node: '0', port: 'out' }, to: { node: '9', port: 'x' } }] })))).toContain(
      'edges.0.to names "9", which is not one of the block\'s nodes',
    );
    expect(defError(() => parseLibrary(lib({ ...d, extra: 1 })))).toContain('definitions.0');
  });
});
