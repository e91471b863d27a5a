/**
 * The compare / diff / cost-overlay tools as one hook, so App.tsx only mounts them: the toolbar's
 * "Colour by" select and "Compare…" button, the canvas's tints (BlockNode's `data.tint`), and what
 * floats over the canvas (the legend, the diff panel, the comparison dialog).
 */
import { useMemo, useState, type ReactNode } from 'react';
import type { Analysis } from '../graph/analyze';
import type { Graph } from '../graph/model';
import { CompareView } from './CompareView';
import { CostLegend } from './CostLegend';
import { COST_METRICS, costTints, costValues, diffTints, groupCostTitles, groupDiffMarks, isCostMetric, legendFor, shownCostValues, type CostMetric, type ShownItems } from './costOverlay';
import { DiffPanel, safeDiff } from './DiffView';
import { measureForward } from './measure';
import type { VariantView } from './workspace-types';

export interface VariantToolsInput {
  readonly graph: Graph;
  readonly analysis: Analysis;
  /** What the canvas draws (editor/groupView.ts's canvasItems): collapsed groups are coloured too. */
  readonly items: ShownItems;
  readonly variants: readonly VariantView[];
  /** The variant the canvas shows (its graph is `graph`). */
  readonly activeId: string;
  /** Selects a block of the shown graph by id. */
  readonly selectNode: (id: string) => void;
  /** Last measured ms per block name (the Run panel's Profile), for "last measured time". */
  readonly times?: ReadonlyMap<string, number>;
  /**
   * The colouring and the diff's pair, held above the editor (which remounts when another tab is
   * shown), so they survive switching tabs. Without it they live and die with the editor.
   */
  readonly sticky?: StickyVariantTools;
  /** Shows another variant (a tab switch): the diff opens on its "after" side, where the colours are. */
  readonly show?: (id: string) => void;
}

export interface DiffPair {
  readonly before: string;
  readonly after: string;
}

export interface StickyVariantTools {
  readonly colourBy: CostMetric;
  readonly setColourBy: (m: CostMetric) => void;
  readonly pair: DiffPair | null;
  readonly setPair: (p: DiffPair | null) => void;
}

/** The tools' state, for a component that outlives the editor (App). */
export function useStickyVariantTools(): StickyVariantTools {
  const [colourBy, setColourBy] = useState<CostMetric>('none');
  const [pair, setPair] = useState<DiffPair | null>(null);
  return { colourBy, setColourBy, pair, setPair };
}

export interface VariantTools {
  /** Background per node id and per collapsed group id, or null when nothing is coloured. */
  readonly tints: ReadonlyMap<string, string> | null;
  /** A collapsed group's tooltip for its colour (how its value was made, or what changed inside), by group id. */
  readonly groupTitles: ReadonlyMap<string, string> | null;
  readonly toolbar: ReactNode;
  readonly overlays: ReactNode;
}

export function useVariantTools({ graph, analysis, items, variants, activeId, selectNode, times, sticky, show }: VariantToolsInput): VariantTools {
  const own = useStickyVariantTools();
  const { colourBy, setColourBy, pair, setPair } = sticky ?? own;
  const [showCompare, setShowCompare] = useState(false);
  const before = pair ? variants.find((v) => v.id === pair.before) : undefined;
  const after = pair ? variants.find((v) => v.id === pair.after) : undefined;
  const diffShown = before !== undefined && after !== undefined && after.id === activeId;

  const blockValues = useMemo(() => (colourBy === 'none' ? null : costValues(analysis, colourBy, times)), [analysis, colourBy, times]);
  // What is drawn: visible blocks and collapsed groups, on one scale (the legend's range is theirs).
  const values = useMemo(() => (blockValues ? shownCostValues(blockValues, colourBy, items) : null), [blockValues, colourBy, items]);
  const diff = useMemo(() => (diffShown ? safeDiff(before, { ...after, graph }) : null), [diffShown, before, after, graph]);
  const marks = useMemo(() => (diff !== null && typeof diff !== 'string' ? groupDiffMarks(diff, graph, items) : null), [diff, graph, items]);
  const tints = useMemo(() => {
    if (diff !== null) {
      if (typeof diff === 'string') return null;
      const t = diffTints(diff, graph);
      for (const [g, m] of marks ?? []) t.set(g, m.tint);
      return t;
    }
    return values ? costTints(values) : null;
  }, [diff, marks, values, graph]);
  const groupTitles = useMemo(() => {
    if (diff !== null) return marks ? new Map([...marks].map(([g, m]) => [g, m.title])) : null;
    return values && blockValues ? groupCostTitles(values, colourBy, items, blockValues) : null;
  }, [diff, marks, values, blockValues, colourBy, items]);
  const legend = diff === null && values ? legendFor(colourBy, values) : null;

  const measure = (id: string, onProgress?: (done: number, total: number) => void) => {
    const v = variants.find((x) => x.id === id);
    if (!v) return Promise.reject(new Error(`no variant ${JSON.stringify(id)}`));
    return measureForward(v.graph, onProgress ? { onProgress } : {}).then((m) => m.ms);
  };

  const toolbar = (
    <>
      <label className="colour-by" title="Colour each block by what it costs">
        Colour by{' '}
        <select value={colourBy} onChange={(e) => isCostMetric(e.target.value) && setColourBy(e.target.value)} data-testid="colour-by">
          {COST_METRICS.map((m) => (
            <option key={m.key} value={m.key}>
              {m.label}
            </option>
          ))}
        </select>
      </label>
      <button onClick={() => setShowCompare(true)} data-testid="compare">
        Compare…
      </button>
    </>
  );
  const overlays = (
    <>
      {legend && <CostLegend legend={legend} />}
      {before && after && (
        <DiffPanel
          before={before}
          after={after}
          shown={diffShown}
          onSelect={(name) => {
            const n = graph.nodes.find((x) => x.name === name);
            if (n) selectNode(n.id);
          }}
          onClose={() => setPair(null)}
        />
      )}
      {showCompare && (
        <CompareView
          variants={variants}
          measure={measure}
          onDiff={(a, b) => {
            setPair({ before: a.id, after: b.id });
            setShowCompare(false);
            if (b.id !== activeId) show?.(b.id);
          }}
          onClose={() => setShowCompare(false)}
        />
      )}
    </>
  );
  return { tints, groupTitles, toolbar, overlays };
}
