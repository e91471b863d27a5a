/**
 * The `metrics.jsonl` that the exported `train.py` writes (codegen/targets/pytorch/python-text.ts):
 * one JSON object per logging interval, `{"step": …, "loss": …, "lr": …, "seconds": …,
 * "images_per_second": …}`, plus `mse` and `vb` for a model that learns its variance. `seconds`
 * counts from the start of the run (it starts again from 0 after `--resume`); `images_per_second`
 * is the interval's rate over all processes.
 *
 * Parsing tolerates what a file being written, or written by another version, holds: a last line
 * cut short (the run is still going), blank lines, fields it does not know. Any other line that is
 * not a record is reported by its number and left out.
 */

/** One logging interval. */
export interface MetricsRow {
  readonly step: number;
  readonly loss: number;
  readonly lr?: number;
  readonly seconds?: number;
  readonly imagesPerSecond?: number;
  readonly mse?: number;
  readonly vb?: number;
}

/** A line that is not a record: its 1-based number and what is wrong. */
export interface MetricsProblem {
  readonly line: number;
  readonly message: string;
}

export interface ParsedMetrics {
  /** The records in file order. */
  readonly rows: readonly MetricsRow[];
  readonly problems: readonly MetricsProblem[];
  /** The last line had no newline and was not a whole record (a run still writing): left out, not a problem. */
  readonly partialLastLine: boolean;
}

/** The optional numeric fields: the file's key → the row's. */
const OPTIONAL = [
  ['lr', 'lr'],
  ['seconds', 'seconds'],
  ['images_per_second', 'imagesPerSecond'],
  ['mse', 'mse'],
  ['vb', 'vb'],
] as const;

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'string' ? JSON.stringify(v) : typeof v);

/** A line's record, or the message saying why it is not one. */
function record(line: string): MetricsRow | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return `not JSON (${e instanceof Error ? e.message : String(e)})`;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return `expected a JSON object, got ${describe(v)}`;
  const o = v as Readonly<Record<string, unknown>>;
  const row: Record<string, number> = {};
  for (const key of ['step', 'loss'] as const) {
    if (!(key in o)) return `"${key}" is missing`;
    const x = o[key];
    if (typeof x !== 'number' || !Number.isFinite(x)) return `"${key}" must be a number, got ${typeof x === 'number' ? String(x) : describe(x)}`;
    row[key] = x;
  }
  if (!Number.isInteger(row.step) || row.step! < 0) return `"step" must be a whole number ≥ 0, got ${row.step}`;
  for (const [key, name] of OPTIONAL) {
    const x = o[key];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isFinite(x)) return `"${key}" must be a number, got ${typeof x === 'number' ? String(x) : describe(x)}`;
    row[name] = x;
  }
  return row as unknown as MetricsRow; // step and loss set above; the rest optional numbers
}

/** Parses the text of a `metrics.jsonl` (see the module's comment for what it tolerates). */
export function parseMetrics(text: string): ParsedMetrics {
  const lines = text.split(/\r?\n/);
  // A file ending in a newline splits into a last empty string; one that does not ends mid-line or
  // on a whole last record without its newline.
  const unterminated = lines[lines.length - 1] !== '';
  const rows: MetricsRow[] = [];
  const problems: MetricsProblem[] = [];
  let partialLastLine = false;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const r = record(line);
    if (typeof r !== 'string') rows.push(r);
    else if (unterminated && i === lines.length - 1) partialLastLine = true;
    else problems.push({ line: i + 1, message: r });
  });
  return { rows, problems, partialLastLine };
}

/** The problems as one message, one line each: `line 3: not JSON (…)`. */
export const metricsProblemsText = (problems: readonly MetricsProblem[]): string => problems.map((p) => `line ${p.line}: ${p.message}`).join('\n');

/**
 * The loss curve: steps ascending, a step logged twice (a run resumed from an earlier checkpoint
 * and appended to) takes its last record.
 */
export function lossCurve(rows: readonly MetricsRow[]): { steps: number[]; loss: number[] } {
  const byStep = new Map<number, number>();
  for (const r of rows) byStep.set(r.step, r.loss);
  const steps = [...byStep.keys()].sort((a, b) => a - b);
  return { steps, loss: steps.map((s) => byStep.get(s)!) };
}

/**
 * Training throughput in images per second: the median of the intervals' `images_per_second` (the
 * first interval includes start-up, the median ignores it), or, for a file without that field, the
 * images of the steps between consecutive records over the seconds between them, given the images
 * one step takes (batch size × processes). Pairs across a resume (seconds going back) are skipped.
 * Null when the file does not allow it.
 */
export function imagesPerSecond(rows: readonly MetricsRow[], imagesPerStep?: number): number | null {
  const rates = rows.map((r) => r.imagesPerSecond).filter((x): x is number => x !== undefined);
  if (rates.length > 0) {
    const s = [...rates].sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  }
  if (imagesPerStep === undefined || !(imagesPerStep > 0)) return null;
  let steps = 0;
  let seconds = 0;
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    if (a.seconds === undefined || b.seconds === undefined) continue;
    const dt = b.seconds - a.seconds;
    const ds = b.step - a.step;
    if (dt > 0 && ds > 0) {
      steps += ds;
      seconds += dt;
    }
  }
  return seconds > 0 ? (steps * imagesPerStep) / seconds : null;
}

/**
 * Several loss curves on one x axis (uPlot's aligned data): the union of their steps ascending,
 * and per curve its loss at each step or null where it logged none.
 */
export function alignCurves(curves: readonly { readonly steps: readonly number[]; readonly loss: readonly number[] }[]): [number[], ...(number | null)[][]] {
  const xs = [...new Set(curves.flatMap((c) => c.steps))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = curves.map((c) => {
    const y: (number | null)[] = xs.map(() => null);
    c.steps.forEach((s, i) => {
      y[index.get(s)!] = c.loss[i]!;
    });
    return y;
  });
  return [xs, ...ys];
}
