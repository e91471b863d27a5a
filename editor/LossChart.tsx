/**
 * Training results side by side: the loss curves of the variants that have a `metrics.jsonl`
 * attached, on one uPlot chart (one series each, the legend names them), and beside it a table of
 * every variant with its parameters and training images/s, and a file input to attach its
 * metrics.jsonl. Parsing and the numbers are graph/metrics.ts; this file only draws them.
 */
import { memo, useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { analyze, countParameters } from '../graph/analyze';
import type { Graph } from '../graph/model';
import { alignCurves, imagesPerSecond, lossCurve, metricsProblemsText, parseMetrics, type ParsedMetrics } from '../graph/metrics';
import type { VariantView } from './workspace-types';

/** Series colours, in turn (readable on the app's light and dark backgrounds). */
const COLOURS = ['#2f6fdf', '#e0662a', '#2a9d4b', '#b8369e', '#8a6d1f', '#1f9fb0', '#d13b3b', '#6a55c8'];
const colour = (i: number): string => COLOURS[i % COLOURS.length]!;

const fmtInt = new Intl.NumberFormat('en-US');
const fmtRate = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** Parameters by graph (graphs are immutable: the same object, the same count). */
const paramCache = new WeakMap<Graph, number>();
function parameters(g: Graph): number {
  let n = paramCache.get(g);
  if (n === undefined) {
    n = countParameters(analyze(g));
    paramCache.set(g, n);
  }
  return n;
}

interface Row {
  readonly variant: VariantView;
  readonly metrics: ParsedMetrics | null;
}

/** The uPlot chart: created when its series change, sized to its box, destroyed on unmount. */
const Chart = memo(function Chart({ names, data, height }: { names: readonly string[]; data: uPlot.AlignedData; height: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = () => Math.max(200, el.clientWidth);
    const opts: uPlot.Options = {
      width: width(),
      height,
      scales: { x: { time: false } },
      axes: [{ label: 'step' }, { label: 'loss' }],
      series: [{ label: 'step' }, ...names.map((label, i) => ({ label, stroke: colour(i), width: 1.5, spanGaps: true }))],
    };
    const plot = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [names, data, height]);
  return <div ref={box} className="loss-chart-plot" data-testid="loss-chart-plot" />;
});

/** One variant's "Attach metrics.jsonl…": a button that opens a hidden file input. */
function AttachButton({ variant, attachMetrics }: { variant: VariantView; attachMetrics: (id: string, text: string) => void }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <button
        data-testid={`attach-metrics-${variant.id}`}
        title={`Attach the metrics.jsonl that train.py wrote for ${variant.name}`}
        onClick={() => input.current?.click()}
      >
        {variant.metricsText === undefined ? 'Attach metrics.jsonl…' : 'Replace…'}
      </button>
      <input
        ref={input}
        type="file"
        accept=".jsonl,.json,.txt,application/json"
        hidden
        data-testid={`attach-metrics-file-${variant.id}`}
        onChange={(e) => {
          const file = e.target.files?.[0];
          e.target.value = '';
          if (file) void file.text().then((text) => attachMetrics(variant.id, text));
        }}
      />
    </>
  );
}

/**
 * The variants' training curves and numbers. `attachMetrics(id, text)` receives the text of the
 * file picked for a variant; the variants come back with it as `metricsText`.
 */
export function LossChart({ variants, attachMetrics, height = 260 }: { variants: readonly VariantView[]; attachMetrics: (id: string, text: string) => void; height?: number }) {
  const [showProblems, setShowProblems] = useState<string | null>(null);
  const rows: Row[] = useMemo(() => variants.map((v) => ({ variant: v, metrics: v.metricsText === undefined ? null : parseMetrics(v.metricsText) })), [variants]);
  const plotted = useMemo(() => rows.filter((r) => r.metrics !== null && r.metrics.rows.length > 0), [rows]);
  const names = useMemo(() => plotted.map((r) => r.variant.name), [plotted]);
  const data = useMemo(() => alignCurves(plotted.map((r) => lossCurve(r.metrics!.rows))) as uPlot.AlignedData, [plotted]);
  return (
    <section className="loss-chart" data-testid="loss-chart" aria-label="Training results">
      <div className="loss-chart-main">
        {plotted.length > 0 ? (
          <Chart names={names} data={data} height={height} />
        ) : (
          <p className="muted" data-testid="loss-chart-empty">
            Attach the metrics.jsonl that the exported train.py writes to a variant to plot its loss.
          </p>
        )}
      </div>
      <table className="loss-chart-table" data-testid="loss-chart-table">
        <thead>
          <tr>
            <th>variant</th>
            <th title="Trainable parameters of the graph">parameters</th>
            <th title="Training throughput: the median of the logged intervals">images/s</th>
            <th>last step</th>
            <th>last loss</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map(({ variant, metrics }) => {
            const i = plotted.findIndex((p) => p.variant.id === variant.id);
            const last = metrics?.rows.length ? lossCurve(metrics.rows) : null;
            const rate = metrics ? imagesPerSecond(metrics.rows) : null;
            const problems = metrics?.problems ?? [];
            return (
              <tr key={variant.id} data-testid={`loss-row-${variant.id}`}>
                <td>
                  {i >= 0 && <span className="swatch" style={{ background: colour(i) }} />}
                  {variant.name}
                </td>
                <td className="num" data-testid="loss-row-params">
                  {fmtInt.format(parameters(variant.graph))}
                </td>
                <td className="num" data-testid="loss-row-ips">
                  {rate === null ? '—' : fmtRate.format(rate)}
                </td>
                <td className="num">{last ? fmtInt.format(last.steps[last.steps.length - 1]!) : '—'}</td>
                <td className="num">{last ? last.loss[last.loss.length - 1]!.toPrecision(4) : '—'}</td>
                <td>
                  <AttachButton variant={variant} attachMetrics={attachMetrics} />
                  {problems.length > 0 && (
                    <button
                      className="link bad"
                      data-testid={`loss-row-problems-${variant.id}`}
                      title={metricsProblemsText(problems)}
                      onClick={() => setShowProblems(showProblems === variant.id ? null : variant.id)}
                    >
                      {problems.length} bad line{problems.length === 1 ? '' : 's'}
                    </button>
                  )}
                  {metrics?.partialLastLine && <span className="muted" title="The last line is cut short (the run is still writing): left out"> · still writing</span>}
                  {metrics !== null && metrics.rows.length === 0 && problems.length === 0 && <span className="muted"> · no records</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {showProblems !== null && (
        <pre className="form-error" data-testid="loss-chart-problems">
          {metricsProblemsText(rows.find((r) => r.variant.id === showProblems)?.metrics?.problems ?? [])}
        </pre>
      )}
    </section>
  );
}
