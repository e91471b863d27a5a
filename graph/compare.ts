/**
 * Variants side by side: one row per graph with what it costs (parameters, GFLOP per sample, the
 * activation memory of a forward pass at batch 1, the output shape, a measured forward time when
 * there is one), sorting, and CSV / Markdown export. Also each block's own cost, for the canvas's
 * cost overlay and the inspector. Pure: no tfjs, no React.
 *
 * Activation memory is `estimateCost(analysis, 1).peakActivationBytes`: the most bytes of block
 * outputs alive at once under free-after-last-use (the liveness the interpreter and the generated
 * module follow: `emitScope` in codegen/targets/tfjs/generate.ts frees a tensor right after the
 * last block that reads it), plus the running block's own temporaries; inputs included, weights not.
 */
import { numel } from '../blocks/common';
import { analyze, formatShape, nodeFlops, nodeWeights, type Analysis, type NodeInfo } from './analyze';
import { estimateCost } from './estimate';
import type { Graph } from './model';

const F32 = 4;

export interface CompareInput {
  readonly id: string;
  readonly name: string;
  readonly graph: Graph;
}

export interface CompareRow {
  readonly id: string;
  readonly name: string;
  /** Trainable parameters; null when the graph has errors (the numbers would mislead). */
  readonly parameters: number | null;
  /** GFLOP of one forward pass of one sample (2 per multiply-add). */
  readonly gflops: number | null;
  /** Peak bytes of live activations in a forward pass at batch 1 (see the file's comment). */
  readonly activationBytes: number | null;
  /** The output's shape per sample as the canvas shows it (`6×32×32`); several outputs joined by ", ". */
  readonly outputShape: string | null;
  /** A measured forward time in ms, when the variant was measured. */
  readonly ms: number | null;
  /** The first error of the graph's check (with the count of the others), or null when it is valid. */
  readonly problem: string | null;
}

/** One variant's row from its analysis. */
export function compareRow(v: CompareInput, ms: number | null = null, a: Analysis = analyze(v.graph)): CompareRow {
  const errors = a.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    return { id: v.id, name: v.name, parameters: null, gflops: null, activationBytes: null, outputShape: null, ms, problem: `${errors[0].message}${more}` };
  }
  const est = estimateCost(a, 1);
  const outs: string[] = [];
  for (const id of a.order) {
    const inf = a.info.get(id)!;
    if (inf.def.io === 'output' && inf.out) outs.push(formatShape(inf.out));
  }
  return {
    id: v.id,
    name: v.name,
    parameters: est.parameters,
    gflops: est.flops / 1e9,
    activationBytes: est.peakActivationBytes,
    outputShape: outs.length > 0 ? outs.join(', ') : null,
    ms,
    problem: null,
  };
}

/** The comparison table: one row per variant, in the given order; `measured` maps a variant id to its forward ms. */
export function compareRows(variants: readonly CompareInput[], measured: ReadonlyMap<string, number> = new Map()): CompareRow[] {
  return variants.map((v) => compareRow(v, measured.get(v.id) ?? null));
}

// ---------------------------------------------------------------------------------------------
// Sorting

export type CompareColumn = 'name' | 'parameters' | 'gflops' | 'activationBytes' | 'outputShape' | 'ms';
export type SortDirection = 'asc' | 'desc';

export const COMPARE_COLUMNS: readonly { readonly key: CompareColumn; readonly label: string }[] = [
  { key: 'name', label: 'Variant' },
  { key: 'parameters', label: 'Parameters' },
  { key: 'gflops', label: 'GFLOP / sample' },
  { key: 'activationBytes', label: 'Activation memory (batch 1)' },
  { key: 'outputShape', label: 'Output shape' },
  { key: 'ms', label: 'Forward ms' },
];

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/**
 * The rows sorted by a column (a new array; ties keep their order). Rows without a value (an
 * invalid graph, not measured yet) go last in either direction.
 */
export function sortRows(rows: readonly CompareRow[], column: CompareColumn, direction: SortDirection = 'asc'): CompareRow[] {
  const sign = direction === 'asc' ? 1 : -1;
  const cmp = (a: CompareRow, b: CompareRow): number => {
    const x = a[column];
    const y = b[column];
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    if (typeof x === 'number' && typeof y === 'number') return sign * (x - y);
    return sign * collator.compare(String(x), String(y));
  };
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => cmp(a.r, b.r) || a.i - b.i)
    .map((e) => e.r);
}

// ---------------------------------------------------------------------------------------------
// Export

/** Bytes as MiB with two decimals: the unit the exported tables use for activation memory. */
export const toMiB = (bytes: number): string => (bytes / 2 ** 20).toFixed(2);

function cells(r: CompareRow): string[] {
  return [
    r.name,
    r.parameters === null ? '' : String(r.parameters),
    r.gflops === null ? '' : r.gflops.toFixed(3),
    r.activationBytes === null ? '' : toMiB(r.activationBytes),
    r.outputShape ?? '',
    r.ms === null ? '' : r.ms.toFixed(1),
    r.problem ?? '',
  ];
}

const EXPORT_HEADER = ['variant', 'parameters', 'gflop_per_sample', 'activation_mib_batch1', 'output_shape', 'forward_ms', 'problem'];

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line break or leading/trailing
 * space, with quotes doubled. A field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
 * tab, CR first) gets a leading `'` (OWASP's CSV-injection advice); numbers are written by us and
 * never start so, except negatives, which are not quoted that way.
 */
export function csvField(s: string): string {
  const guarded = /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s) ? `'${s}` : s;
  return /[",\r\n]|^\s|\s$/.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded;
}

/** The table as CSV (header line, CRLF line ends as RFC 4180 says). */
export function toCsv(rows: readonly CompareRow[]): string {
  return [EXPORT_HEADER, ...rows.map(cells)].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/**
 * One Markdown table cell: backslashes and pipes escaped, line breaks as `<br>`, and the characters
 * that would start inline markup or HTML (`*`, `_`, `` ` ``, `[`, `]`, `<`, `>`) escaped so a
 * variant's name shows as typed.
 */
export function markdownCell(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/([|*_`[\]<>])/g, '\\$1')
    .replace(/\r\n|\r|\n/g, '<br>');
}

/** The table as GitHub-flavoured Markdown (numbers right-aligned). */
export function toMarkdown(rows: readonly CompareRow[]): string {
  const head = ['Variant', 'Parameters', 'GFLOP / sample', 'Activations (MiB, batch 1)', 'Output shape', 'Forward ms', 'Problem'];
  const align = ['---', '---:', '---:', '---:', '---', '---:', '---'];
  const line = (cs: readonly string[]) => `| ${cs.join(' | ')} |`;
  const body = rows.map((r) => {
    const c = cells(r);
    if (r.parameters !== null) c[1] = r.parameters.toLocaleString('en-US');
    return line(c.map(markdownCell));
  });
  return [line(head), line(align), ...body].join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Per block

export interface BlockCost {
  /** Trainable parameters the block owns. */
  readonly parameters: number;
  /** FLOPs per sample. */
  readonly flops: number;
  /** Bytes of the block's output at batch 1 (0 for an Output block, which hands its input back). */
  readonly outputBytes: number;
}

/** One block's own cost (0s where its shapes are unknown). */
export function blockCost(inf: NodeInfo): BlockCost {
  let parameters = 0;
  for (const w of nodeWeights(inf)) if (w.role === 'param') parameters += numel(w.shape);
  const outputBytes = inf.out && inf.def.io !== 'output' ? numel(inf.out.dims) * F32 : 0;
  return { parameters, flops: nodeFlops(inf), outputBytes };
}

/** Each block's own cost, by node id (blocks on a cycle are left out, as in the analysis's order). */
export function blockCosts(a: Analysis): Map<string, BlockCost> {
  return new Map(a.order.map((id) => [id, blockCost(a.info.get(id)!)]));
}
