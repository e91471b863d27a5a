/**
 * The workspace's tab bar: one tab per variant. Click shows it; double-click (or F2) renames it in
 * place (Enter keeps, Escape cancels); × closes it after asking; drag a tab onto another, or
 * Alt+← / Alt+→ on a focused tab, to reorder. The logic lives in `WorkspaceStore`.
 */
import { memo, useRef, useState, type DragEvent, type KeyboardEvent } from 'react';
import { WorkspaceError, type EditorWorkspace, type WorkspaceStore } from './workspaceStore';
import './tabs.css';

const TAB_MIME = 'application/x-unet-studio-variant';

interface TabsProps {
  readonly workspace: WorkspaceStore;
  readonly state: EditorWorkspace;
}

export const Tabs = memo(function Tabs({ workspace, state }: TabsProps) {
  const [editing, setEditing] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  const [dropAt, setDropAt] = useState<string | null>(null);
  /** The rename in progress was cancelled (Escape): the blur that follows keeps the old name. */
  const cancelled = useRef(false);
  const only = state.variants.length === 1;

  const attempt = (f: () => void) => {
    try {
      f();
    } catch (e) {
      if (e instanceof WorkspaceError) workspace.setMessage(e.message);
      else throw e;
    }
  };
  const startRename = (id: string, name: string) => {
    cancelled.current = false;
    setEditing(id);
    setDraft(name);
  };
  const commitRename = () => {
    if (editing === null || cancelled.current) return;
    const id = editing;
    setEditing(null);
    attempt(() => workspace.rename(id, draft));
  };
  const close = (id: string, name: string) => {
    if (only) return;
    if (!window.confirm(`Close the variant "${name}"? Its graph and undo history are removed from the workspace (save it first to keep a copy).`)) return;
    attempt(() => workspace.close(id));
  };
  const onKey = (e: KeyboardEvent, id: string, index: number, name: string) => {
    if (e.altKey && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) {
      e.preventDefault();
      workspace.move(id, index + (e.key === 'ArrowLeft' ? -1 : 1));
    } else if (e.key === 'F2') {
      e.preventDefault();
      startRename(id, name);
    }
  };
  const onDrop = (e: DragEvent, index: number) => {
    const id = e.dataTransfer.getData(TAB_MIME);
    setDropAt(null);
    if (!id) return;
    e.preventDefault();
    attempt(() => workspace.move(id, index));
  };

  return (
    <nav className="variant-tabs" role="tablist" aria-label="Variants" data-testid="variant-tabs">
      {state.variants.map((v, i) => {
        const active = v.id === state.active;
        return (
          <div
            key={v.id}
            className={`variant-tab${active ? ' active' : ''}${dropAt === v.id ? ' drop' : ''}`}
            data-testid="variant-tab"
            data-variant={v.id}
            data-active={active}
            draggable={editing !== v.id}
            onDragStart={(e) => {
              e.dataTransfer.setData(TAB_MIME, v.id);
              e.dataTransfer.effectAllowed = 'move';
            }}
            onDragOver={(e) => {
              if (!e.dataTransfer.types.includes(TAB_MIME)) return;
              e.preventDefault();
              setDropAt(v.id);
            }}
            onDragLeave={() => setDropAt((d) => (d === v.id ? null : d))}
            onDrop={(e) => onDrop(e, i)}
          >
            {editing === v.id ? (
              <input
                autoFocus
                className="variant-rename"
                value={draft}
                aria-label="Variant name"
                data-testid="variant-rename-input"
                onChange={(e) => setDraft(e.target.value)}
                onBlur={commitRename}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') commitRename();
                  else if (e.key === 'Escape') {
                    cancelled.current = true;
                    setEditing(null);
                  }
                }}
              />
            ) : (
              <button
                role="tab"
                aria-selected={active}
                className="variant-name"
                title={`${v.name}${v.metricsText !== undefined ? ' (training metrics attached)' : ''} — double-click or F2 to rename, Alt+←/→ to move`}
                data-testid="variant-tab-name"
                onClick={() => workspace.select(v.id)}
                onDoubleClick={() => startRename(v.id, v.name)}
                onKeyDown={(e) => onKey(e, v.id, i, v.name)}
              >
                {v.name}
              </button>
            )}
            {!only && (
              <button className="icon variant-close" aria-label={`Close ${v.name}`} title="Close this variant" data-testid="variant-close" onClick={() => close(v.id, v.name)}>
                ×
              </button>
            )}
          </div>
        );
      })}
      <button
        className="variant-add"
        onClick={() => attempt(() => workspace.duplicate())}
        title="Duplicate the shown variant as a new variant (its own undo history)"
        data-testid="duplicate-variant"
      >
        Duplicate as variant
      </button>
    </nav>
  );
});
