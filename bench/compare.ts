/**
 * The variants' comparison table (graph/compare.ts) for 10 variants of the iDDPM CIFAR-10 model
 * (model_channels 64…192 × attention at [2, 4] or [2]), without forward runs: analysis, cost
 * estimate, rows, sorting and both exports. Each run gets fresh graph objects, so the per-graph
 * analysis cache never answers. Target: under 200 ms.
 */
import { iddpm } from '../graph/templates';
import type { Graph } from '../graph/model';
import { compareRows, sortRows, toCsv, toMarkdown } from '../graph/compare';
import { IDDPM_CIFAR10 } from './configs';

export const COMPARE_VARIANTS: readonly { readonly name: string; readonly graph: Graph }[] = [64, 96, 128, 160, 192].flatMap((ch) =>
  [[2, 4], [2]].map((att) => ({ name: `ch${ch} attn ${att.join(',')}`, graph: iddpm({ ...IDDPM_CIFAR10, model_channels: ch, attention_resolutions: att }, 32) })),
);

/** One comparison of the 10 variants; returns its ms and the table (for a sanity check). */
export function compareOnce(): { ms: number; csv: string } {
  const fresh = COMPARE_VARIANTS.map((v, i) => ({ id: String(i), name: v.name, graph: { ...v.graph } }));
  const s = performance.now();
  const rows = sortRows(compareRows(fresh), 'parameters');
  const csv = toCsv(rows);
  toMarkdown(rows);
  return { ms: performance.now() - s, csv };
}

/** The bench row: median of 10 after 2 warm-ups. */
export function compareBench(median: (xs: readonly number[]) => number): string[][] {
  const times: number[] = [];
  for (let i = 0; i < 12; i++) {
    const { ms, csv } = compareOnce();
    if (csv.split('\r\n').length !== COMPARE_VARIANTS.length + 2 || csv.includes(',,,')) throw new Error(`comparison table is wrong:\n${csv}`);
    if (i >= 2) times.push(ms);
  }
  return [[`compare table, ${COMPARE_VARIANTS.length} CIFAR-10 variants`, '-', median(times).toFixed(1), '-', '-', String(times.length)]];
}
