/**
 * The Python interpreter the PyTorch tests run: Debian's, which has torch (1.13), numpy, Pillow and
 * pyflakes. The `python3` first on PATH may be another interpreter without them, so the path is
 * explicit; `UNET_STUDIO_PYTHON` points the tests at another one.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

export const PYTHON: string = process.env.UNET_STUDIO_PYTHON || '/usr/bin/python3';

/** A harness's answer for one job: its id, and the error that ended it, if one did. */
export interface HarnessResult {
  readonly id: string;
  readonly error?: string;
}

/** Runs a PyTorch test harness on `jobs` (written to `dir/jobs.json`) in one process: its results by job id. */
export function runHarness<R extends HarnessResult>(harness: string, dir: string, jobs: readonly unknown[]): Map<string, R> {
  writeFileSync(join(dir, 'jobs.json'), JSON.stringify(jobs));
  const stdout = execFileSync(PYTHON, [harness, join(dir, 'jobs.json')], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return new Map((JSON.parse(stdout) as { results: R[] }).results.map((r) => [r.id, r]));
}

/** `python -m <tool> files…` (pyflakes, py_compile): its exit status and everything it printed. */
export function pythonCheck(tool: 'pyflakes' | 'py_compile', files: readonly string[]): { status: number; output: string } {
  const r = spawnSync(PYTHON, ['-m', tool, ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status ?? -1, output: r.stdout + r.stderr };
}

/** One job's result, which must exist and carry no error (the test names the job and the error). */
export function jobResult<R extends HarnessResult>(results: ReadonlyMap<string, R>, id: string): R {
  const r = results.get(id);
  if (!r) throw new Error(`no result for ${id}`);
  expect(r.error, `${id}: ${String(r.error)}`).toBeUndefined();
  return r;
}
