/** `unet-studio check graph.json`: every node with its output shape and parameters; exit 1 on errors. */
import { analyze, countFlops, countParameters, nodeWeights, type Analysis } from '../graph/analyze';
import { formatShape } from '../blocks/common';
import { parseDocument } from '../graph/document';
import type { Graph } from '../graph/model';
import { args, readText, UsageError, type Io } from './common';

export function loadGraph(path: string): Graph {
  return parseDocument(readText(path, 'graph'), path).graph;
}

/** Columns are padded to the widest cell up to this many characters; longer cells overflow. */
const MAX_COLUMN = 64;
/** Names longer than this are shortened in the table (the problems below still name them in full). */
const MAX_CELL = 200;

const cell = (s: string) => (s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s);

/** The error lines of an analysis (`N problems:` then each with its fix), empty when there is none. */
export function problemLines(a: Analysis): string[] {
  const out: string[] = [];
  let errors = 0;
  for (const p of a.problems) if (p.severity === 'error') errors++;
  if (errors === 0) return out;
  out.push(`${errors} problem${errors === 1 ? '' : 's'}:`);
  for (const p of a.problems) if (p.severity === 'error') out.push(`  error: ${p.message}\n         fix: ${p.fix}`);
  return out;
}

/**
 * Rows as aligned text lines (the last column right-aligned) between rules. Loops only: a row per
 * block of a graph of any size, never spread into a call (`Math.max(...rows)` overflowed the stack).
 */
export function table(rows: readonly (readonly string[])[]): string[] {
  const columns = rows[0]?.length ?? 0;
  const widths = new Array<number>(columns).fill(0);
  for (const r of rows) for (let c = 0; c < columns; c++) widths[c] = Math.min(MAX_COLUMN, Math.max(widths[c], r[c].length));
  const line = (r: readonly string[]) => r.map((text, c) => (c === columns - 1 ? text.padStart(widths[c]) : text.padEnd(widths[c]))).join('  ').trimEnd();
  let ruleWidth = -2;
  for (const w of widths) ruleWidth += w + 2;
  const rule = '─'.repeat(Math.max(0, ruleWidth));
  const out: string[] = [];
  if (rows.length === 0) return out;
  out.push(line(rows[0]), rule);
  for (let i = 1; i < rows.length; i++) out.push(line(rows[i]));
  out.push(rule);
  return out;
}

/** Keras/torchinfo-style summary table. Loops only: a graph of any size is one pass, no spread or recursion. */
export function summary(graph: Graph): { text: string; ok: boolean } {
  const a = analyze(graph);
  const rows: string[][] = [['name', 'block', 'output', 'params']];
  for (const id of a.order) {
    const inf = a.info.get(id)!;
    let params = 0;
    for (const w of nodeWeights(inf)) if (w.role === 'param') params += w.shape.reduce((x, y) => x * y, 1);
    rows.push([cell(inf.node.name), inf.def.displayName, inf.out ? formatShape(inf.out) : '?', params.toLocaleString('en-US')]);
  }
  const out = table(rows);
  const total = countParameters(a);
  out.push(`Total params: ${total.toLocaleString('en-US')} (${total})`);
  out.push(`Blocks: ${graph.nodes.length}   Edges: ${graph.edges.length}   GFLOP per sample: ${(countFlops(a) / 1e9).toFixed(3)}`);
  for (const p of a.problems) if (p.severity === 'warning') out.push(`warning: ${p.message} (fix: ${p.fix})`);
  const problems = problemLines(a);
  if (problems.length > 0) {
    out.push('');
    for (const l of problems) out.push(l);
  } else out.push('OK: the graph is valid');
  return { text: `${out.join('\n')}\n`, ok: problems.length === 0 };
}

export function checkCommand(argv: readonly string[], io: Io): number {
  const { positionals } = args({ args: [...argv], allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new UsageError('check: give exactly one graph.json');
  const { text, ok } = summary(loadGraph(positionals[0]));
  (ok ? io.out : io.err)(text);
  return ok ? 0 : 1;
}
