/** `unet-studio check graph.json`: every node with its output shape and parameters; exit 1 on errors. */
import { analyze, countFlops, countParameters, nodeWeights } from '../graph/analyze';
import { formatShape } from '../blocks/common';
import { parseDocument } from '../graph/document';
import type { Graph } from '../graph/model';
import { args, readText, UsageError, type Io } from './main';

export function loadGraph(path: string): Graph {
  return parseDocument(readText(path, 'graph'), path).graph;
}

/** Keras/torchinfo-style summary table. */
export function summary(graph: Graph): { text: string; ok: boolean } {
  const a = analyze(graph);
  const rows: string[][] = [['name', 'block', 'output', 'params']];
  for (const id of a.order) {
    const inf = a.info.get(id)!;
    let params = 0;
    for (const w of nodeWeights(inf)) if (w.role === 'param') params += w.shape.reduce((x, y) => x * y, 1);
    rows.push([inf.node.name, inf.def.displayName, inf.out ? formatShape(inf.out) : '?', params.toLocaleString('en-US')]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  const rule = '─'.repeat(widths.reduce((x, y) => x + y + 2, -2));
  const out = [line(rows[0]), rule, ...rows.slice(1).map(line), rule];
  const total = countParameters(a);
  out.push(`Total params: ${total.toLocaleString('en-US')} (${total})`);
  out.push(`Blocks: ${graph.nodes.length}   Edges: ${graph.edges.length}   GFLOP per sample: ${(countFlops(a) / 1e9).toFixed(3)}`);
  const errors = a.problems.filter((p) => p.severity === 'error');
  const warnings = a.problems.filter((p) => p.severity === 'warning');
  for (const p of warnings) out.push(`warning: ${p.message} (fix: ${p.fix})`);
  if (errors.length > 0) {
    out.push(`\n${errors.length} problem${errors.length === 1 ? '' : 's'}:`);
    for (const p of errors) out.push(`  error: ${p.message}\n         fix: ${p.fix}`);
  } else out.push('OK: the graph is valid');
  return { text: `${out.join('\n')}\n`, ok: errors.length === 0 };
}

export function checkCommand(argv: readonly string[], io: Io): number {
  const { positionals } = args({ args: [...argv], allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new UsageError('check: give exactly one graph.json');
  const { text, ok } = summary(loadGraph(positionals[0]));
  (ok ? io.out : io.err)(text);
  return ok ? 0 : 1;
}
