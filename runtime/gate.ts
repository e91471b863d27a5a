/**
 * Whether a run may start, from the graph's cost estimate, the backend's limits and its measured
 * rate: refused (with every reason) when the backend cannot hold it, confirmed first when it is
 * slow, started at once otherwise. Pure: the run panel and the CLI show the result.
 */
import { describeEstimate, expectedSeconds, formatSeconds, limitProblems, type BackendLimits, type CostEstimate } from '../graph/estimate';

/** Runs expected to take longer than this ask first. */
export const CONFIRM_SECONDS = 10;

export type RunGate =
  | { readonly kind: 'go'; readonly seconds: number | null; readonly summary: string }
  | { readonly kind: 'confirm'; readonly seconds: number; readonly summary: string; readonly question: string }
  | { readonly kind: 'refuse'; readonly problems: readonly string[]; readonly summary: string };

export interface GateOptions {
  /** Forward passes the action makes (sampling: one per step). */
  readonly passes?: number;
  /** What the action is called in the question ("Run", "Sampling (50 steps)"). */
  readonly action?: string;
}

/** The decision for `passes` forward passes of `est` on a backend with `limits` at `gflops` GFLOP/s (null: not measured). */
export function gateRun(est: CostEstimate, limits: BackendLimits, gflops: number | null, opts: GateOptions = {}): RunGate {
  const passes = opts.passes ?? 1;
  const one = expectedSeconds(est, gflops);
  const seconds = one === null ? null : one * passes;
  const summary = `${describeEstimate(est, one)} on ${limits.backend}${passes > 1 && seconds !== null ? ` (${passes} passes: about ${formatSeconds(seconds)})` : ''}`;
  const problems = limitProblems(est, limits);
  if (problems.length > 0) return { kind: 'refuse', problems, summary };
  if (seconds !== null && seconds > CONFIRM_SECONDS)
    return { kind: 'confirm', seconds, summary, question: `${opts.action ?? 'Run'} is expected to take about ${formatSeconds(seconds)} on ${limits.backend}. Start it anyway?` };
  return { kind: 'go', seconds, summary };
}
