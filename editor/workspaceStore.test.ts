/**
 * The editor's workspace: tabs (duplicate, rename, close, reorder, add), each variant's own undo
 * history, the snapshot autosave watches, and autosave of the workspace, including the migration of
 * an autosave written before workspaces (a single document, in IndexedDB's record, a rescue copy or
 * the first versions' localStorage key): the user's work comes back as the first variant.
 */
import { describe, expect, it } from 'vitest';
import { serializeDocument } from '../graph/document';
import { GraphBuilder } from '../graph/builder';
import { parseWorkspace } from '../graph/workspace';
import { templateLayout } from './layout';
import { type Doc } from './store';
import { Autosaver, LEGACY_KEY, RESCUE_PREFIX, keyValueBackend, restoreAutosave } from './autosave';
import { WorkspaceStore, singleWorkspace, workspaceCodec, type EditorWorkspace } from './workspaceStore';
import { MemoryStorage } from '../test/memory-storage';


function small(name: string, channels = 8): Doc {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
  const c = b.add('Conv2d', 'conv', { out_channels: channels }, { x });
  b.add('Output', 'output', {}, { x: c });
  const graph = b.build(name);
  return { graph, layout: templateLayout(graph), collapsed: [] };
}
const docText = (d: Doc) => serializeDocument(d.graph, d.layout, undefined, d.collapsed);
const convName = (d: Doc) => d.graph.nodes.find((n) => n.type === 'Conv2d')!.name;
const renameConv = (ws: WorkspaceStore, name: string) => {
  const s = ws.activeStore;
  s.apply({ kind: 'rename', node: s.graph.nodes.find((n) => n.type === 'Conv2d')!.id, name });
};
const tabs = (ws: WorkspaceStore) => ws.getState().doc.variants.map((v) => v.name);

describe('workspace store', () => {
  it('duplicates as a variant with its own history, renames, switches, reorders and closes', () => {
    const ws = new WorkspaceStore(singleWorkspace(small('base'), 'base'));
    renameConv(ws, 'conv_a');
    const first = ws.activeStore;
    const copy = ws.duplicate();
    expect(ws.activeId).toBe(copy);
    expect(tabs(ws)).toEqual(['base', 'base copy']);
    expect(convName(ws.activeStore.getState().doc)).toBe('conv_a');
    expect(ws.activeStore.canUndo).toBe(false); // a fresh history
    renameConv(ws, 'conv_b');
    expect(convName(first.getState().doc)).toBe('conv_a'); // the original is untouched
    ws.activeStore.undo();
    expect(convName(ws.activeStore.getState().doc)).toBe('conv_a');
    expect(first.canUndo).toBe(true);

    ws.rename(copy, '  wide  ');
    expect(tabs(ws)).toEqual(['base', 'wide']);
    expect(() => ws.rename(copy, '   ')).toThrow('a variant needs a name');
    ws.duplicate('v1');
    expect(tabs(ws)).toEqual(['base', 'base copy', 'wide']);
    ws.move('v1', 2);
    expect(tabs(ws)).toEqual(['base copy', 'wide', 'base']);
    ws.select('v1');
    expect(ws.getState().doc.active).toBe('v1');
    ws.close('v1');
    expect(tabs(ws)).toEqual(['base copy', 'wide']);
    expect(ws.activeId).toBe(copy); // the neighbour that took its place
    ws.close(ws.activeId);
    expect(() => ws.close(ws.activeId)).toThrow('the last variant cannot be closed');
    expect(() => ws.select('nope')).toThrow('no variant "nope" in this workspace');
  });

  it('a new snapshot for each change of the workspace, none for a selection', () => {
    const ws = new WorkspaceStore(singleWorkspace(small('base')));
    const s0 = ws.getState().doc;
    ws.activeStore.select({ nodes: [ws.activeStore.graph.nodes[0].id], edges: [] });
    expect(ws.getState().doc).toBe(s0);
    renameConv(ws, 'c2');
    const s1 = ws.getState().doc;
    expect(s1).not.toBe(s0);
    expect(convName(s1.variants[0].doc)).toBe('c2');
    ws.attachMetrics('v1', '{"step":1,"loss":2}\n');
    expect(ws.getState().doc.variants[0].metricsText).toBe('{"step":1,"loss":2}\n');
    expect(ws.views()).toEqual([{ id: 'v1', name: 'base', graph: ws.activeStore.graph, metricsText: '{"step":1,"loss":2}\n' }]);
    ws.attachMetrics('v1', null);
    expect(ws.getState().doc.variants[0].metricsText).toBeUndefined();
  });

  it('adds graphs and workspaces beside the open variants, names unique, the first new one shown', () => {
    const ws = new WorkspaceStore(singleWorkspace(small('a'), 'a'));
    const ids = ws.addGraphs([
      { name: 'a', graph: small('g1', 16).graph },
      { name: 'b', graph: small('g2', 32).graph },
    ]);
    expect(ids).toEqual(['v2', 'v3']);
    expect(tabs(ws)).toEqual(['a', 'a (2)', 'b']);
    expect(ws.activeId).toBe('v2');
    const linked: EditorWorkspace = {
      active: 'v2',
      variants: [
        { id: 'v1', name: 'x', doc: small('x') },
        { id: 'v2', name: 'y', doc: small('y'), metricsText: 'm' },
      ],
    };
    expect(ws.addWorkspace(linked)).toEqual(['v4', 'v5']);
    expect(ws.activeId).toBe('v5'); // the linked workspace's active one
    expect(ws.getState().doc.variants.find((v) => v.id === 'v5')?.metricsText).toBe('m');
    expect(convName(ws.storeOf('v1').getState().doc)).toBe('conv'); // the open work is untouched
  });

  it('load theirs: matching variants replaced undoably, theirs added, mine kept (and reported)', () => {
    const ws = new WorkspaceStore({
      active: 'v1',
      variants: [
        { id: 'v1', name: 'one', doc: small('one') },
        { id: 'v9', name: 'only mine', doc: small('mine') },
      ],
    });
    const theirs: EditorWorkspace = { active: 'v2', variants: [{ id: 'v1', name: 'one*', doc: small('theirs-one', 24) }, { id: 'v2', name: 'two', doc: small('two') }] };
    expect(ws.replace(theirs)).toBe(false);
    expect(tabs(ws)).toEqual(['one*', 'two', 'only mine']);
    expect(ws.activeId).toBe('v2');
    const one = ws.storeOf('v1');
    expect(one.graph.name).toBe('theirs-one');
    one.undo();
    expect(one.graph.name).toBe('one');
    expect(new WorkspaceStore(theirs).replace(theirs)).toBe(true);
  });
});

describe('workspace autosave', () => {
  async function start(backend: ReturnType<typeof keyValueBackend>, sync: MemoryStorage, tab = 'T') {
    const restored = await restoreAutosave({ backend, sync, tab, fallback: () => singleWorkspace(small('default')), codec: workspaceCodec });
    const ws = new WorkspaceStore(restored.doc);
    const autosaver = new Autosaver(ws, { backend, sync, tab, restored, channel: null, codec: workspaceCodec, debounceMs: 1e9, maxWaitMs: 1e9 });
    autosaver.start();
    return { ws, autosaver, restored };
  }
  const storedText = async (b: ReturnType<typeof keyValueBackend>) => (await b.read()).doc as string;

  it('a single-document autosave (before workspaces) comes back as the first variant, then is stored as a workspace', async () => {
    const sync = new MemoryStorage();
    const backend = keyValueBackend(new MemoryStorage());
    const mine = small('my-unet', 40);
    await backend.write(0, { rev: 3, tab: 'old-app', time: 1, text: docText(mine) });
    const { ws, autosaver, restored } = await start(backend, sync);
    expect(restored.rev).toBe(3);
    expect(restored.kept).toEqual([]);
    expect(tabs(ws)).toEqual(['my-unet']);
    expect(docText(ws.activeStore.getState().doc)).toBe(docText(mine));
    // A link opened at start adds variants; the autosaved work stays the first.
    ws.addGraphs([{ name: 'linked', graph: small('linked').graph }]);
    await autosaver.flush();
    const back = parseWorkspace(await storedText(backend));
    expect(back.variants.map((v) => v.name)).toEqual(['my-unet', 'linked']);
    expect(back.active).toBe('v2');
    expect(serializeDocument(back.variants[0].doc.graph, back.variants[0].doc.layout, undefined, back.variants[0].doc.collapsed)).toBe(docText(mine));
    expect((await backend.readMeta())?.rev).toBe(4);
    autosaver.stop();

    // The next start reads the workspace, tabs and active one included.
    const again = await start(backend, sync, 'U');
    expect(tabs(again.ws)).toEqual(['my-unet', 'linked']);
    expect(again.ws.activeId).toBe('v2');
    again.autosaver.stop();
  });

  it("the first versions' localStorage autosave and an old rescue copy come back as a variant", async () => {
    const sync = new MemoryStorage();
    const backend = keyValueBackend(new MemoryStorage());
    sync.setItem(LEGACY_KEY, docText(small('legacy', 12)));
    const first = await start(backend, sync);
    expect(tabs(first.ws)).toEqual(['legacy']);
    expect(first.restored.adopted).toEqual([LEGACY_KEY]);
    renameConv(first.ws, 'conv_legacy'); // the first write (after an edit) removes the legacy key
    await first.autosaver.flush();
    expect(convName(parseWorkspace(await storedText(backend)).variants[0].doc as Doc)).toBe('conv_legacy');
    expect(sync.getItem(LEGACY_KEY)).toBeNull();
    first.autosaver.stop();

    // A tab of the previous version closed with unsaved work (a document rescue copy over revision 1).
    sync.setItem(`${RESCUE_PREFIX}old`, JSON.stringify({ base: 1, tab: 'old', time: 5, text: docText(small('rescued', 20)) }));
    const second = await start(backend, sync, 'V');
    expect(second.restored.dirty).toBe(true);
    expect(tabs(second.ws)).toEqual(['rescued']);
    await second.autosaver.flush();
    expect(parseWorkspace(await storedText(backend)).variants[0].doc.graph.name).toBe('rescued');
    expect(sync.getItem(`${RESCUE_PREFIX}old`)).toBeNull();
    second.autosaver.stop();
  });

  it('Save to file gives the workspace, named after the active variant', async () => {
    const backend = keyValueBackend(new MemoryStorage());
    const { ws, autosaver } = await start(backend, new MemoryStorage());
    ws.rename('v1', 'wide');
    const f = autosaver.saveToFile();
    expect(f.name).toBe('wide.workspace.json');
    expect(parseWorkspace(f.text).variants.map((v) => v.name)).toEqual(['wide']);
    autosaver.stop();
  });
});
