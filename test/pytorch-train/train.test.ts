/**
 * The exported training project run for real with Debian's PyTorch, with model.py generated from tiny
 * iDDPM template graphs: resuming, bad input, sampling, and the diffusion maths against
 * improved-diffusion's own numbers. Python work is batched: one driver process per model variant
 * (driver.py calls train.py's and sample.py's main(argv) in turn). The torchrun (DDP) run and the
 * checkpoint loaded back by the CLI are in cli/pytorch-train.test.ts (only cli/ may import the CLI).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER, GRAPHS, HERE, META, PYTHON, run, stateDictOf, writeProject, type Metric, type Run } from './harness';

interface Call {
  code: number;
  stderr: string;
}
interface StepRef {
  timestep: number;
  mean_sum: number;
  mean_00: number;
  logvar_sum: number;
}
type Maths = Record<string, Record<string, number[] | StepRef>>;
/* Driver output: JSON whose fields depend on the variant (see driver.py). */
interface DriverOut {
  state_dict: [string, number[]][];
  [key: string]: unknown;
}

const dir = mkdtempSync(join(tmpdir(), 'unet-train-'));
const plainDir = join(dir, 'plain');
const learnedDir = join(dir, 'learned');
let plain: DriverOut;
let learned: DriverOut;

function driverJson(r: Run, what: string): DriverOut {
  if (r.code !== 0) throw new Error(`${what} driver exited ${String(r.code)}: ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout) as DriverOut;
}

beforeAll(async () => {
  writeProject(plainDir, 'plain');
  writeProject(learnedDir, 'learned');
  plain = driverJson(await run([PYTHON, DRIVER, plainDir, 'plain'], plainDir), 'plain');
  learned = driverJson(await run([PYTHON, DRIVER, learnedDir, 'learned', plainDir], learnedDir), 'learned');
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('model.py generated from the template graphs', () => {
  it('has exactly the graph\'s state_dict (names, order, shapes), and every parameter takes part in the forward', () => {
    expect(plain.state_dict).toEqual(stateDictOf(GRAPHS.plain));
    expect(learned.state_dict).toEqual(stateDictOf(GRAPHS.learned));
    expect(plain.unused_parameters).toBe(false);
    expect(learned.unused_parameters).toBe(false);
    // PARAMETER_COUNT and PyTorch's own count are the graph's (which the README states).
    expect(plain.parameter_count).toEqual([META.plain.parameterCount, META.plain.parameterCount]);
    expect(learned.parameter_count).toEqual([META.learned.parameterCount, META.learned.parameterCount]);
  });
});

describe('resume', () => {
  it('10 steps, then --resume to 20, gives the bytes of 20 straight steps (weights, EMA, metrics; a metrics line past the checkpoint dropped)', () => {
    for (const k of ['straight', 'first', 'resumed']) expect((plain[k] as Call).code, (plain[k] as Call).stderr).toBe(0);
    const s = plain.straight_files as Record<string, string>;
    const r = plain.resumed_files as Record<string, string>;
    expect(r['model.safetensors']).toBe(s['model.safetensors']);
    expect(r['ema.safetensors']).toBe(s['ema.safetensors']);
    // The weights did move between step 10 and 20.
    expect(plain.first_sha).not.toBe(s['model.safetensors']);
    const sm = plain.straight_metrics as Metric[];
    const rm = plain.resumed_metrics as Metric[];
    expect(rm.map((m) => m.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(rm.map((m) => m.loss)).toEqual(sm.map((m) => m.loss));
    expect((plain.resumed as Call).stderr).toContain('done: step 20');
  });
});

describe('the learned-variance, class-conditional model', () => {
  it('trains from a folder with one subfolder per class, with sample grids', () => {
    expect((learned.folder as Call).code, (learned.folder as Call).stderr).toBe(0);
    expect((learned.folder as Call).stderr).toContain('6 images');
    const m = learned.folder_metrics as Metric[];
    expect(m.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const r of m) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.loss).toBeCloseTo(r.mse! + r.vb!, 5);
      expect(r.vb).toBeGreaterThan(0);
    }
    expect(learned.folder_grids).toEqual(['samples_000003.png', 'samples_000006.png']);
  });

  it('trains from uint8 [N, H, W, C] .npy images with --labels', () => {
    expect((learned.npy as Call).code, (learned.npy as Call).stderr).toBe(0);
    expect((learned.npy_metrics as Metric[]).map((r) => r.step)).toEqual([1, 2, 3, 4]);
  });
});

describe('sample.py', () => {
  it('writes a PNG grid of ⌈√n⌉ columns: 10 greyscale 8 × 8 images → 32 × 24, 7 RGB → 24 × 24', () => {
    expect((plain.sample as Call).code, (plain.sample as Call).stderr).toBe(0);
    expect((learned.sample as Call).code, (learned.sample as Call).stderr).toBe(0);
    const size = (p: Buffer) => [p.readUInt32BE(16), p.readUInt32BE(20), p[25]];
    // IHDR colour type: 0 greyscale, 2 RGB.
    expect(size(readFileSync(join(plainDir, 'grid.png')))).toEqual([32, 24, 0]);
    expect(size(readFileSync(join(learnedDir, 'grid.png')))).toEqual([24, 24, 2]);
  });
});

describe('bad input: exit code 2 and one line naming the problem', () => {
  const cases: [string, () => DriverOut, string, string][] = [
    ['missing data path', () => plain, 'missing', 'train.py: error: data path no/such/dir does not exist'],
    ['empty folder', () => plain, 'empty', 'train.py: error: data folder empty holds no images (.png .jpg .jpeg .bmp .gif .webp .tif .tiff)'],
    ['.npy of the wrong channel count', () => plain, 'wrong_c', 'train.py: error: data array wrong_c.npy holds float32 [4, 3, 8, 8] [N, C, H, W]; the model takes [N, 1, 8, 8]'],
    ['float .npy outside [-1, 1]', () => plain, 'range', 'train.py: error: data array too_big.npy: values run from'],
    ['uint8 .npy of the wrong size', () => learned, 'wrong_hw', 'train.py: error: data array wrong_hw.npy holds uint8 images [4, 9, 8, 3] [N, H, W, C]; the model takes [N, 8, 8, 3]'],
    ['.npy without --labels for a class model', () => learned, 'no_labels', 'train.py: error: model takes class labels: pass --labels LABELS.npy (int [N]) with .npy data'],
    ['a folder without class subfolders for a class model', () => learned, 'flat_folder', 'train.py: error: model takes class labels: put the images of data folder flat in one subfolder per class'],
    ['sample.py --class out of range', () => learned, 'class_range', 'sample.py: error: --class 3: the model takes classes 0..2'],
  ];
  for (const [label, out, key, text] of cases) {
    it(label, () => {
      const c = (out().bad as Record<string, Call>)[key];
      expect(c.code).toBe(2);
      expect(c.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(c.stderr.startsWith(text), c.stderr).toBe(true);
    });
  }

  it('a checkpoint of another graph: the strict key report (missing, mis-shaped), for --resume and sample.py', () => {
    // The plain graph has 1 input and output channel and no labels; the learned one 3 in, 6 out and 3 classes.
    const report =
      'does not fit model "tiny learned-sigma class-conditional net": 1 missing: label_emb.weight; 3 mis-shaped: input_blocks.0.0.weight (checkpoint [32, 1, 3, 3], model [32, 3, 3, 3]), out.2.weight (checkpoint [1, 32, 3, 3], model [6, 32, 3, 3]), out.2.bias (checkpoint [1], model [6])';
    const bad = learned.bad as Record<string, Call>;
    expect(bad.resume_other.code).toBe(2);
    expect(bad.resume_other.stderr).toBe(`train.py: error: checkpoint ${join(plainDir, 'straight', 'resume.pt')} ${report}\n`);
    expect(bad.sample_other.code).toBe(2);
    expect(bad.sample_other.stderr).toBe(`sample.py: error: checkpoint ${join(plainDir, 'straight', 'ema.safetensors')} ${report}\n`);
  });

  it('a real process: one line on stderr, no traceback', async () => {
    const r = await run([PYTHON, 'train.py', '--data', 'nowhere.npy', '--out', 'x', '--steps', '1'], plainDir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('train.py: error: data path nowhere.npy does not exist\n');
  });
});

describe('diffusion maths against improved-diffusion (its GaussianDiffusion on the same inputs)', () => {
  const ref = JSON.parse(readFileSync(join(HERE, 'improved-diffusion-reference.json'), 'utf8')) as Maths;
  const close = (got: number, want: number) => expect(Math.abs(got - want), `${got} vs ${want}`).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(want));
  for (const sched of ['linear', 'cosine']) {
    it(`${sched}: betas, hybrid loss (mse, vb, loss) and respaced p_mean_variance (learned range, fixed large)`, () => {
      const got = (learned.maths as Maths)[sched];
      const want = ref[sched];
      for (const k of ['betas_0_1_49', 'loss', 'mse', 'vb']) {
        const g = got[k] as number[];
        const w = want[k] as number[];
        expect(g).toHaveLength(w.length);
        g.forEach((v, i) => close(v, w[i]));
      }
      for (const v of ['learned', 'fixed_large'])
        for (const i of [6, 3, 0]) {
          const g = got[`${v}_step${i}`] as StepRef;
          const w = want[`${v}_step${i}`] as StepRef;
          expect(g.timestep).toBe(w.timestep);
          close(g.mean_sum, w.mean_sum);
          close(g.mean_00, w.mean_00);
          close(g.logvar_sum, w.logvar_sum);
        }
    });
  }

  it('the vlb term trains the variance only (stop-gradient on ε)', () => {
    const g = (learned.maths as Record<string, Record<string, number>>).vb_grad_abs_sum;
    expect(g.eps).toBe(0);
    expect(g.v).toBeGreaterThan(0.01);
  });
});
