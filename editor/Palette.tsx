import { useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { BLOCK_TYPES, blockDef, type BlockType } from '../blocks/registry';
import type { BlockCategory } from '../blocks/types';
import type { BlockDefinition, Graph } from '../graph/model';
import { DefinitionError, parseLibrary, serializeLibrary } from '../graph/definitions';
import { downloadText } from './CodePanel';
import { EditError, type EditorStore } from './store';
import { listedBlocks, loadMyBlocks, mergeDefinitions, saveMyBlocks } from './myBlocks';

export const DRAG_MIME = 'application/x-unet-block';
/** Dragging a block of your own: the data is its definition's id (in My blocks or the open document). */
export const DEFINITION_DRAG_MIME = 'application/x-unet-my-block';

// My blocks in the browser, shared by every palette of the page (one in practice).
let myBlocks: BlockDefinition[] | null = null;
const myBlocksListeners = new Set<() => void>();
function readMyBlocks(): BlockDefinition[] {
  if (myBlocks === null) myBlocks = loadMyBlocks();
  return myBlocks;
}
/** Adds definitions to My blocks (stored in the browser). */
export function addToMyBlocks(defs: readonly BlockDefinition[]): void {
  myBlocks = mergeDefinitions(readMyBlocks(), defs);
  saveMyBlocks(myBlocks);
  for (const l of myBlocksListeners) l();
}
function subscribeMyBlocks(fn: () => void): () => void {
  myBlocksListeners.add(fn);
  return () => myBlocksListeners.delete(fn);
}

/** A definition by id: the open document's first (what its instances use), else My blocks'. */
export function findMyBlock(graph: Graph, id: string): BlockDefinition | undefined {
  return (graph.definitions ?? []).find((d) => d.id === id) ?? readMyBlocks().find((d) => d.id === id);
}

/** Where a clicked block of your own goes: right of everything on the canvas. */
function freeSpot(store: EditorStore): { x: number; y: number } {
  let maxX = -Infinity;
  let minY = Infinity;
  for (const p of Object.values(store.layout)) {
    if (p.x > maxX) maxX = p.x;
    if (p.y < minY) minY = p.y;
  }
  return Number.isFinite(maxX) ? { x: maxX + 320, y: minY } : { x: 0, y: 0 };
}

function MyBlocks({ store, graph, reveal }: { store: EditorStore; graph: Graph; reveal?: (at: { x: number; y: number }) => void }) {
  const stored = useSyncExternalStore(subscribeMyBlocks, readMyBlocks);
  const list = useMemo(() => listedBlocks(stored, graph), [stored, graph]);
  const file = useRef<HTMLInputElement>(null);
  const add = (definition: BlockDefinition) => {
    try {
      const at = freeSpot(store);
      store.apply({ kind: 'instantiate', definition, position: at });
      // Right of everything may be out of view: the canvas pans there, so the new instance is seen.
      reveal?.(at);
    } catch (e) {
      if (e instanceof EditError) store.setMessage(e.message);
      else throw e;
    }
  };
  return (
    <section data-testid="my-blocks">
      <h3>My blocks</h3>
      {list.length === 0 && <p className="muted small">Select a group and press “Save as block” in the inspector.</p>}
      {list.map(({ definition: d, inDocument }) => (
        <button
          key={d.id}
          className="palette-item"
          data-testid={`my-block-${d.id}`}
          draggable
          title={`${d.nodes.length} blocks${inDocument ? ' · used in this document' : ''}`}
          onClick={() => add(d)}
          onDragStart={(e) => {
            e.dataTransfer.setData(DEFINITION_DRAG_MIME, d.id);
            e.dataTransfer.effectAllowed = 'copy';
          }}
        >
          <span className="swatch" style={{ background: '#475569' }} />
          {d.name}
        </button>
      ))}
      <p className="palette-actions">
        <button
          className="link"
          data-testid="my-blocks-export"
          disabled={list.length === 0}
          onClick={() => downloadText(serializeLibrary(list.map((x) => x.definition)), 'my-blocks.json', 'application/json')}
        >
          Export…
        </button>{' '}
        <button className="link" data-testid="my-blocks-import" onClick={() => file.current?.click()}>
          Import…
        </button>
        <input
          ref={file}
          type="file"
          accept=".json,application/json"
          hidden
          data-testid="my-blocks-file"
          onChange={async (e) => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (!f) return;
            try {
              addToMyBlocks(parseLibrary(await f.text(), f.name));
              store.setMessage(null);
            } catch (err) {
              if (err instanceof DefinitionError) store.setMessage(err.message);
              else throw err;
            }
          }}
        />
      </p>
    </section>
  );
}
const CATEGORIES: readonly BlockCategory[] = ['Inputs & outputs', 'Diffusion', 'Layers', 'Classic UNet'];

export function Palette({
  onAdd,
  store,
  graph,
  reveal,
}: {
  onAdd: (type: BlockType) => void;
  store?: EditorStore;
  graph?: Graph;
  /** Pans the canvas so that this flow position is in view. */
  reveal?: (at: { x: number; y: number }) => void;
}) {
  const [query, setQuery] = useState('');
  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    return CATEGORIES.map((cat) => ({
      cat,
      types: BLOCK_TYPES.filter((t) => {
        const d = blockDef(t);
        return d.category === cat && (q === '' || `${d.displayName} ${t} ${d.description}`.toLowerCase().includes(q));
      }),
    })).filter((g) => g.types.length > 0);
  }, [query]);
  return (
    <aside className="palette" data-testid="palette">
      <input className="palette-search" type="search" placeholder="Search blocks…" value={query} onChange={(e) => setQuery(e.target.value)} data-testid="palette-search" />
      {groups.map((g) => (
        <section key={g.cat}>
          <h3>{g.cat}</h3>
          {g.types.map((t) => {
            const d = blockDef(t);
            return (
              <button
                key={t}
                className="palette-item"
                data-testid={`palette-item-${t}`}
                draggable
                title={d.description}
                onClick={() => onAdd(t)}
                onDragStart={(e) => {
                  e.dataTransfer.setData(DRAG_MIME, t);
                  e.dataTransfer.effectAllowed = 'copy';
                }}
              >
                <span className="swatch" style={{ background: d.view.color }} />
                {d.displayName}
              </button>
            );
          })}
        </section>
      ))}
      {groups.length === 0 && <p className="muted">No block matches “{query}”.</p>}
      {store && graph && <MyBlocks store={store} graph={graph} reveal={reveal} />}
    </aside>
  );
}
