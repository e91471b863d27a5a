/**
 * The variants side by side: parameters, GFLOP per sample, activation memory at batch 1, output
 * shape and (on request) the measured forward time, sortable by any column; Copy CSV / Copy
 * Markdown (a download where the clipboard is refused); and "Diff" for two picked variants.
 */
import { useMemo, useRef, useState } from 'react';
import { COMPARE_COLUMNS, compareRows, sortRows, toCsv, toMarkdown, type CompareColumn, type CompareRow, type SortDirection } from '../graph/compare';
import { formatBytes } from '../graph/estimate';
import type { VariantView } from './workspace-types';

export interface CompareViewProps {
  readonly variants: readonly VariantView[];
  /** A variant's forward time in ms ("Measure forward"); progress as passes done / all. Absent: no button. */
  readonly measure?: (id: string, onProgress?: (done: number, total: number) => void) => Promise<number>;
  /** Two variants picked for a diff (the second is the one the canvas colours). */
  readonly onDiff?: (before: VariantView, after: VariantView) => void;
  readonly onClose?: () => void;
}

function cell(r: CompareRow, c: CompareColumn): string {
  switch (c) {
    case 'name':
      return r.name;
    case 'parameters':
      return r.parameters === null ? '—' : r.parameters.toLocaleString('en-US');
    case 'gflops':
      return r.gflops === null ? '—' : r.gflops.toFixed(3);
    case 'activationBytes':
      return r.activationBytes === null ? '—' : formatBytes(r.activationBytes);
    case 'outputShape':
      return r.outputShape ?? '—';
    case 'ms':
      return r.ms === null ? '' : r.ms.toFixed(1);
  }
}

function download(text: string, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function CompareView({ variants, measure, onDiff, onClose }: CompareViewProps) {
  const [measured, setMeasured] = useState<ReadonlyMap<string, number>>(new Map());
  const [sort, setSort] = useState<{ column: CompareColumn; direction: SortDirection } | null>(null);
  const [progress, setProgress] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const cancelled = useRef(false);
  const [before, setBefore] = useState<string>(variants[0]?.id ?? '');
  const [after, setAfter] = useState<string>(variants[1]?.id ?? variants[0]?.id ?? '');

  // Costs per variant; measured times joined in without analysing again.
  const base = useMemo(() => compareRows(variants), [variants]);
  const rows = useMemo(() => {
    const withMs = base.map((r) => (measured.has(r.id) ? { ...r, ms: measured.get(r.id)! } : r));
    return sort ? sortRows(withMs, sort.column, sort.direction) : withMs;
  }, [base, measured, sort]);

  const sortBy = (column: CompareColumn) =>
    setSort((s) => (s?.column === column ? { column, direction: s.direction === 'asc' ? 'desc' : 'asc' } : { column, direction: 'asc' }));

  const measureAll = async () => {
    if (!measure) return;
    cancelled.current = false;
    setNote(null);
    try {
      for (const [i, v] of variants.entries()) {
        if (cancelled.current) break;
        const label = `Measuring ${i + 1} of ${variants.length}: ${v.name}`;
        setProgress(label);
        const ms = await measure(v.id, (done, total) => setProgress(`${label} (pass ${done} of ${total})`));
        setMeasured((m) => new Map(m).set(v.id, ms));
      }
    } catch (e) {
      setNote(`Measuring stopped: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      setProgress(null);
    }
  };

  const copy = async (text: string, what: string, file: string, type: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setNote(`Copied the table as ${what}.`);
    } catch {
      // The clipboard can be refused (no permission, not a secure page): the file instead.
      download(text, file, type);
      setNote(`The clipboard was refused: downloaded ${file} instead.`);
    }
  };

  const byId = new Map(variants.map((v) => [v.id, v]));
  const pickA = byId.get(before);
  const pickB = byId.get(after);

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose?.()}>
      <div className="modal compare-view" role="dialog" aria-label="Compare variants" data-testid="compare-view">
        <header>
          <h2>Compare variants</h2>
          {onClose && (
            <button className="icon" onClick={onClose} aria-label="Close" data-testid="compare-close">
              ×
            </button>
          )}
        </header>
        <table className="compare-table" data-testid="compare-table">
          <thead>
            <tr>
              {COMPARE_COLUMNS.map((c) => (
                <th key={c.key} aria-sort={sort?.column === c.key ? (sort.direction === 'asc' ? 'ascending' : 'descending') : 'none'} className={c.key === 'name' || c.key === 'outputShape' ? '' : 'num'}>
                  <button className="link" onClick={() => sortBy(c.key)} data-testid={`compare-sort-${c.key}`} title="Sort">
                    {c.label}
                    {sort?.column === c.key ? (sort.direction === 'asc' ? ' ▲' : ' ▼') : ''}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-testid={`compare-row-${r.id}`} className={r.problem ? 'invalid' : ''} title={r.problem ?? undefined}>
                {COMPARE_COLUMNS.map((c) => (
                  <td key={c.key} className={c.key === 'name' || c.key === 'outputShape' ? '' : 'num'} data-col={c.key}>
                    {cell(r, c.key)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        {rows.some((r) => r.problem) && <p className="muted small">Rows without numbers have errors (hover for the first one).</p>}
        <p className="muted small">Activation memory: the peak of live tensors in a forward pass at batch 1 (outputs not yet read, plus the running block's temporaries), as the generated module frees them.</p>
        {progress && (
          <p className="compare-progress" role="status" data-testid="compare-progress">
            {progress}…{' '}
            <button onClick={() => (cancelled.current = true)} data-testid="compare-measure-cancel">
              Stop after this one
            </button>
          </p>
        )}
        {note && (
          <p className="muted small" role="status" data-testid="compare-note">
            {note}
          </p>
        )}
        <footer className="compare-actions">
          {measure && (
            <button onClick={() => void measureAll()} disabled={progress !== null || variants.length === 0} data-testid="compare-measure" title="Median forward time at batch 1 on the current backend, with random weights">
              Measure forward
            </button>
          )}
          <button onClick={() => void copy(toCsv(rows), 'CSV', 'variants.csv', 'text/csv')} data-testid="compare-copy-csv">
            Copy CSV
          </button>
          <button onClick={() => void copy(toMarkdown(rows), 'Markdown', 'variants.md', 'text/markdown')} data-testid="compare-copy-md">
            Copy Markdown
          </button>
          <span className="spacer" />
          {onDiff && (
            <>
              <select value={before} onChange={(e) => setBefore(e.target.value)} aria-label="Diff from" data-testid="compare-diff-a">
                {variants.map((v) => (
                  <option key={v.id} value={v.id}>
                    {v.name}
                  </option>
                ))}
              </select>
              →
              <select value={after} onChange={(e) => setAfter(e.target.value)} aria-label="Diff to" data-testid="compare-diff-b">
                {variants.map((v) => (
                  <option key={v.id} value={v.id}>
                    {v.name}
                  </option>
                ))}
              </select>
              <button
                disabled={!pickA || !pickB || pickA === pickB}
                onClick={() => pickA && pickB && onDiff(pickA, pickB)}
                title={pickA === pickB ? 'Pick two different variants' : 'Colour the blocks added and changed on the canvas and list the changes'}
                data-testid="compare-diff"
              >
                Diff
              </button>
            </>
          )}
        </footer>
      </div>
    </div>
  );
}
