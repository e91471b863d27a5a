/**
 * The diff of two variants beside the canvas: the total parameter-count change, and the blocks
 * added (coloured on the canvas), changed (coloured, with each changed parameter old → new and the
 * block's parameter-count change) and removed (listed only: they are not in the graph shown).
 */
import { useMemo } from 'react';
import { changeDetails, diffGraphs, DiffError, formatDelta, type GraphDiff } from '../graph/diff';
import { DIFF_COLOURS } from './costOverlay';
import type { VariantView } from './workspace-types';

export interface DiffPanelProps {
  readonly before: VariantView;
  readonly after: VariantView;
  /** The canvas shows `after` (only then are its blocks coloured). */
  readonly shown: boolean;
  /** Select a block of the shown graph by name. */
  readonly onSelect?: (name: string) => void;
  readonly onClose: () => void;
}

/** The diff, or the reason there is none (a repeated name). */
export function safeDiff(before: VariantView, after: VariantView): GraphDiff | string {
  try {
    return diffGraphs(before.graph, after.graph);
  } catch (e) {
    if (e instanceof DiffError) return e.message;
    throw e;
  }
}

const fmt = (n: number) => n.toLocaleString('en-US');

export function DiffPanel({ before, after, shown, onSelect, onClose }: DiffPanelProps) {
  const d = useMemo(() => safeDiff(before, after), [before, after]);
  const name = (n: string) =>
    onSelect && shown ? (
      <button className="link" onClick={() => onSelect(n)} title="Select the block">
        {n}
      </button>
    ) : (
      n
    );
  return (
    <aside className="diff-panel" data-testid="diff-panel" aria-label="Diff">
      <header>
        <h3>
          Diff: {before.name} → {after.name}
        </h3>
        <button className="icon" onClick={onClose} aria-label="Close the diff" data-testid="diff-close">
          ×
        </button>
      </header>
      {typeof d === 'string' ? (
        <p className="form-error" data-testid="diff-error">
          {d}
        </p>
      ) : (
        <>
          <p data-testid="diff-total">
            Parameters {fmt(d.parametersBefore)} → {fmt(d.parametersAfter)} (<b>{formatDelta(d.parameterDelta)}</b>)
          </p>
          <p className="muted small" data-testid="diff-counts">
            {d.added.length} added · {d.removed.length} removed · {d.changed.length} changed · {d.unchanged} the same
            {shown ? '' : ` — open “${after.name}” to see the colours on the canvas`}
          </p>
          <p className="diff-key small">
            <span className="swatch" style={{ background: DIFF_COLOURS.added }} /> added <span className="swatch" style={{ background: DIFF_COLOURS.changed }} /> changed{' '}
            <span className="swatch" style={{ background: DIFF_COLOURS.removed }} /> removed (listed)
          </p>
          {d.added.length > 0 && (
            <>
              <h4>Added</h4>
              <ul data-testid="diff-added">
                {d.added.map((b) => (
                  <li key={b.name} style={{ borderLeftColor: DIFF_COLOURS.added }}>
                    {name(b.name)} <span className="muted">{b.type}</span> {b.parameters > 0 && <span className="muted">+{fmt(b.parameters)} parameters</span>}
                  </li>
                ))}
              </ul>
            </>
          )}
          {d.removed.length > 0 && (
            <>
              <h4>Removed</h4>
              <ul data-testid="diff-removed">
                {d.removed.map((b) => (
                  <li key={b.name} style={{ borderLeftColor: DIFF_COLOURS.removed }}>
                    {b.name} <span className="muted">{b.type}</span> {b.parameters > 0 && <span className="muted">−{fmt(b.parameters)} parameters</span>}
                  </li>
                ))}
              </ul>
            </>
          )}
          {d.changed.length > 0 && (
            <>
              <h4>Changed</h4>
              <ul data-testid="diff-changed">
                {d.changed.map((c) => (
                  <li key={c.name} style={{ borderLeftColor: DIFF_COLOURS.changed }}>
                    {name(c.name)}: <span className="diff-change">{changeDetails(c)}</span>
                    {c.reasons.includes('type') && <em className="muted"> (type)</em>}
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </aside>
  );
}
