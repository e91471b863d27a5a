import { useMemo, useState } from 'react';
import { BLOCK_TYPES, blockDef, type BlockType } from '../blocks/registry';
import type { BlockCategory } from '../blocks/types';

export const DRAG_MIME = 'application/x-unet-block';
const CATEGORIES: readonly BlockCategory[] = ['Inputs & outputs', 'Diffusion', 'Layers', 'Classic UNet'];

export function Palette({ onAdd }: { onAdd: (type: BlockType) => void }) {
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
    </aside>
  );
}
