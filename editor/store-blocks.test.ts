/** The editor's edits for blocks of your own (save as block, instantiate, shared params, overrides, repeat) and the browser library. */
import { describe, expect, it } from 'vitest';
import { analyze } from '../graph/analyze';
import { parseDocument } from '../graph/document';
import { serializeLibrary } from '../graph/definitions';
import type { Graph } from '../graph/model';
import { GraphBuilder } from '../graph/builder';
import { EditError, EditorStore, defaultDoc } from './store';
import { listedBlocks, loadMyBlocks, mergeDefinitions, MY_BLOCKS_KEY, saveMyBlocks, type KeyValueStorage } from './myBlocks';

const groupId = (g: Graph, name: string) => {
  const x = (g.groups ?? []).find((y) => y.name === name);
  if (!x) throw new Error(`no group ${name}`);
  return x.id;
};
const nodeId = (g: Graph, name: string) => {
  const x = g.nodes.find((y) => y.name === name);
  if (!x) throw new Error(`no node ${name}`);
  return x.id;
};
const param = (g: Graph, name: string, p: string) => g.nodes.find((n) => n.name === name)?.params[p];

/** The default template with its middle level saved as block "Middle" and a second instance `middle_1`. */
function withInstance(): EditorStore {
  const store = new EditorStore(defaultDoc());
  store.apply({ kind: 'save-as-block', group: groupId(store.graph, 'middle_block'), label: 'Middle' });
  const def = store.graph.definitions![0];
  store.apply({ kind: 'instantiate', definition: def, position: { x: 900, y: 40 } });
  return store;
}

describe('editor edits for blocks of your own', () => {
  it('instantiate adds a collapsed, selected instance at the position, its blocks stacked there; one undo removes it', () => {
    const store = withInstance();
    const g = store.graph;
    const gid = groupId(g, 'middle_1');
    const st = store.getState();
    expect(st.selection.nodes).toEqual([gid]);
    expect(st.doc.collapsed).toContain(gid);
    expect(st.doc.layout[gid]).toEqual({ x: 900, y: 40 });
    expect(['middle_1.0', 'middle_1.1', 'middle_1.2'].map((n) => st.doc.layout[nodeId(g, n)])).toEqual([
      { x: 900, y: 40 },
      { x: 900, y: 150 },
      { x: 900, y: 260 },
    ]);
    store.undo();
    expect(store.graph.nodes.some((n) => n.name.startsWith('middle_1.'))).toBe(false);
    expect(store.graph.definitions?.map((d) => d.name)).toEqual(['Middle']);
  });

  it('a param set in one instance is followed by the other; with override only this one; undo restores', () => {
    const store = withInstance();
    const before = param(store.graph, 'middle_block.1', 'num_heads');
    store.apply({ kind: 'set-param', node: nodeId(store.graph, 'middle_1.1'), param: 'num_heads', value: 2 });
    expect([param(store.graph, 'middle_block.1', 'num_heads'), param(store.graph, 'middle_1.1', 'num_heads')]).toEqual([2, 2]);
    store.apply({ kind: 'set-param', node: nodeId(store.graph, 'middle_1.1'), param: 'num_heads', value: 4, override: true });
    expect([param(store.graph, 'middle_block.1', 'num_heads'), param(store.graph, 'middle_1.1', 'num_heads')]).toEqual([2, 4]);
    expect(analyze(store.graph).problems.filter((p) => p.code === 'group')).toEqual([]);
    // An override the shapes refuse (100 channels are not divisible by the 32 groups of its GroupNorm): an EditError naming it.
    expect(() => store.apply({ kind: 'set-param', node: nodeId(store.graph, 'middle_block.0'), param: 'out_channels', value: 100, override: true })).toThrow(
      /^cannot override out_channels = 100 of "middle_block.0" in this instance of block "Middle": .*100/,
    );
    expect(() => store.apply({ kind: 'set-param', node: nodeId(store.graph, 'middle_block.0'), param: 'out_channels', value: 100, override: true })).toThrow(EditError);
    store.undo();
    store.undo();
    expect(param(store.graph, 'middle_block.1', 'num_heads')).toBe(before);
    // The document round-trips the instances.
    const back = parseDocument(store.saveText());
    expect(back.graph.groups?.filter((x) => x.definition !== undefined).map((x) => x.name).sort()).toEqual(['middle_1', 'middle_block']);
  });

  it('renaming a block inside an instance is refused; renaming the instance or deleting one of its blocks detaches it', () => {
    const store = withInstance();
    expect(() => store.apply({ kind: 'rename', node: nodeId(store.graph, 'middle_1.1'), name: 'attn' })).toThrow(
      'block names inside an instance of a block of your own follow the group\'s name ("middle_1"); ungroup it to rename its blocks',
    );
    store.apply({ kind: 'rename-group', group: groupId(store.graph, 'middle_1'), name: 'other' });
    expect((store.graph.groups ?? []).find((x) => x.name === 'other')?.definition).toBeUndefined();
    store.apply({ kind: 'delete', nodes: [nodeId(store.graph, 'middle_block.1')], edges: [] });
    expect((store.graph.groups ?? []).find((x) => x.name === 'middle_block')?.definition).toBeUndefined();
    expect(analyze(store.graph).problems.filter((p) => p.code === 'group')).toEqual([]);
  });

  it('repeat places the copies to the right of the original, collapsed like it', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 8, height: 8, width: 8 });
    const c = b.group('layers.0', () => b.add('Conv2d', 'layers.0.conv', { out_channels: 8, kernel_size: 3, stride: 1, padding: 1, bias: true }, { x }));
    b.add('Output', 'output', {}, { x: c });
    const graph = b.build('chain');
    const layout = { n1: { x: 0, y: 0 }, n2: { x: 300, y: 0 }, n3: { x: 600, y: 0 }, g1: { x: 300, y: 0 } };
    const chain = new EditorStore({ graph, layout, collapsed: ['g1'] });
    chain.apply({ kind: 'repeat', group: 'g1', count: 3 });
    const g = chain.graph;
    expect(g.groups!.map((y) => y.name)).toEqual(['layers.0', 'layers.1', 'layers.2']);
    const st = chain.getState();
    expect(st.doc.collapsed).toEqual([...st.doc.collapsed].sort());
    expect(new Set(st.doc.collapsed)).toEqual(new Set(g.groups!.map((y) => y.id)));
    expect(['layers.1', 'layers.2'].map((n) => st.doc.layout[groupId(g, n)])).toEqual([
      { x: 560, y: 0 },
      { x: 820, y: 0 },
    ]);
    expect(st.doc.layout[nodeId(g, 'layers.2.conv')]).toEqual({ x: 820, y: 0 });
    expect(analyze(g).ok).toBe(true);
    chain.undo();
    expect(chain.graph).toBe(graph);

    const store = new EditorStore(defaultDoc());
    // iDDPM's encoder.1 level holds input_blocks.4 and .5; input_blocks.6 is taken, so a repeat of .5 is refused by name.
    expect(() => store.apply({ kind: 'repeat', group: groupId(store.graph, 'input_blocks.5'), count: 2 })).toThrow(
      'cannot repeat group "input_blocks.5" 2 times: copy 2 would be "input_blocks.6", but the name "input_blocks.6" is already used (block "input_blocks.6.0"); rename or move that first, or repeat fewer times',
    );
    // middle_block has no number: refused too.
    expect(() => store.apply({ kind: 'repeat', group: groupId(store.graph, 'middle_block'), count: 2 })).toThrow('its name has no number to count up');
  });
});

class MemoryStorage implements KeyValueStorage {
  readonly map = new Map<string, string>();
  getItem(k: string): string | null {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.map.set(k, v);
  }
}

describe('My blocks in the browser', () => {
  const store = withInstance();
  const def = store.graph.definitions![0];

  it('stores, reads back and merges by id; an unreadable library is kept aside', () => {
    const s = new MemoryStorage();
    expect(loadMyBlocks(s)).toEqual([]);
    saveMyBlocks([def], s);
    expect(loadMyBlocks(s)).toEqual([def]);
    const renamed = { ...def, name: 'Middle level' };
    expect(mergeDefinitions([def], [renamed])).toEqual([renamed]);
    s.setItem(MY_BLOCKS_KEY, '{"format":"unet-studio-blocks","version":1,"definitions":[{"id":"x"}]}');
    expect(loadMyBlocks(s)).toEqual([]);
    expect(s.getItem('unet-studio.my-blocks.unreadable')).toContain('"id":"x"');
    expect(s.getItem(MY_BLOCKS_KEY)).toBe(serializeLibrary([]));
  });

  it("lists the stored blocks and then the open document's (the document's version wins for the same id)", () => {
    expect(listedBlocks([], store.graph).map((x) => [x.definition.name, x.inDocument])).toEqual([['Middle', true]]);
    const older = { ...def, nodes: def.nodes.map((n) => (n.name === '1' ? { ...n, params: { ...n.params, num_heads: 8 } } : n)) };
    const listed = listedBlocks([older], store.graph);
    expect(listed.length).toBe(1);
    expect(listed[0].definition).toBe(def);
    expect(listedBlocks([{ ...def, id: 'other', name: 'Other' }], store.graph).map((x) => x.definition.name)).toEqual(['Other', 'Middle']);
  });
});
