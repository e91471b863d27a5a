/**
 * The exported training project run for real with Debian's PyTorch: torchrun with two gloo processes
 * on the CPU, resuming, bad input, sampling, and the diffusion maths against improved-diffusion's own
 * numbers. Python work is batched: one torchrun, and one driver process per model variant
 * (driver.py calls train.py's and sample.py's main(argv) in turn).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../weights/safetensors';
import { DRIVER, HERE, PYTHON, TORCHRUN, writeProject } from './harness';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd[0], cmd.slice(1), { cwd, maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Call {
  code: number;
  stderr: string;
}
interface Metric {
  step: number;
  loss: number;
  lr: number;
  seconds: number;
  images_per_second: number;
  mse?: number;
  vb?: number;
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

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'unet-train-'));
const plainDir = join(dir, 'plain');
const learnedDir = join(dir, 'learned');
const ddpDir = join(dir, 'ddp');
let ddp: Run;
let plain: DriverOut;
let learned: DriverOut;

function driverJson(r: Run, what: string): DriverOut {
  if (r.code !== 0) throw new Error(`${what} driver exited ${String(r.code)}: ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout) as DriverOut;
}

beforeAll(async () => {
  writeProject(plainDir, 'plain');
  writeProject(learnedDir, 'learned');
  writeProject(ddpDir, 'plain');
  // Synthetic data for the DDP run: 24 float32 images [1, 8, 8] in [-1, 1].
  const mk = await run([PYTHON, '-c', "import numpy as np; np.save('data.npy', np.random.default_rng(1).uniform(-1, 1, (24, 1, 8, 8)).astype(np.float32))"], ddpDir);
  expect(mk.code).toBe(0);
  const ddpRun = run(
    [...TORCHRUN, '--standalone', '--nproc_per_node=2', '--monitor_interval=1', 'train.py', '--data', 'data.npy', '--out', 'out', '--steps', '20', '--batch-size', '4', '--log-every', '5', '--sample-every', '10', '--sample-n', '4', '--sample-steps', '3', '--diffusion-steps', '100', '--workers', '0', '--check-ranks'],
    ddpDir,
  );
  plain = driverJson(await run([PYTHON, DRIVER, plainDir, 'plain'], plainDir), 'plain');
  learned = driverJson(await run([PYTHON, DRIVER, learnedDir, 'learned', plainDir], learnedDir), 'learned');
  ddp = await ddpRun;
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const readJsonl = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Metric);

describe('torchrun --nproc_per_node=2 (gloo, CPU)', () => {
  it('exits 0 with both ranks holding identical weights, those of model.safetensors', () => {
    expect(ddp.code, ddp.stderr.slice(-3000)).toBe(0);
    expect(ddp.stderr).toContain('2 process(es) x batch 4 on cpu');
    const check = JSON.parse(readFileSync(join(ddpDir, 'out/rank_check.json'), 'utf8')) as { step: number; sha256: string[] };
    expect(check.step).toBe(20);
    expect(check.sha256).toHaveLength(2);
    expect(check.sha256[1]).toBe(check.sha256[0]);
    // Each rank hashed the .safetensors bytes of its own weights; rank 0 wrote those bytes.
    expect(sha256(readFileSync(join(ddpDir, 'out/model.safetensors')))).toBe(check.sha256[0]);
  });

  it('logs finite losses every 5 steps in metrics.jsonl', () => {
    const m = readJsonl(join(ddpDir, 'out/metrics.jsonl'));
    expect(m.map((r) => r.step)).toEqual([5, 10, 15, 20]);
    for (const r of m) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.loss).toBeGreaterThan(0.05);
      expect(r.loss).toBeLessThan(5);
      expect(r.lr).toBe(1e-4);
      expect(r.images_per_second).toBeGreaterThan(0);
      expect(r.seconds).toBeGreaterThan(0);
    }
  });

  it('writes checkpoints whose names and shapes are exactly the model state_dict', () => {
    for (const f of ['model.safetensors', 'ema.safetensors']) {
      const st = parseSafetensors(new Uint8Array(readFileSync(join(ddpDir, 'out', f))), { source: f });
      expect([...st.tensors.values()].map((t) => [t.name, [...t.shape]])).toEqual(plain.state_dict);
      expect(st.metadata).toMatchObject({ schedule: 'linear', diffusion_steps: '100', step: '20', learn_sigma: 'false', model_name: 'tiny "plain" net\n\u00e9' });
      for (const t of st.tensors.values()) for (const v of t.data) expect(Number.isFinite(Number(v))).toBe(true);
    }
    // EMA (decay 0.9999 over 20 steps) and raw weights differ, and both came from training.
    const a = parseSafetensors(new Uint8Array(readFileSync(join(ddpDir, 'out/model.safetensors'))));
    const e = parseSafetensors(new Uint8Array(readFileSync(join(ddpDir, 'out/ema.safetensors'))));
    expect(a.tensors.get('conv_out.weight')!.data).not.toEqual(e.tensors.get('conv_out.weight')!.data);
  });

  it('writes sample grids every --sample-every steps (2 × 2 images of 8 × 8)', () => {
    for (const s of ['000010', '000020']) {
      const png = readFileSync(join(ddpDir, `out/samples_${s}.png`));
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([16, 16]);
    }
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
    const report =
      'does not fit model "tiny learned-sigma class-conditional net": 1 missing: label_emb.weight; 3 mis-shaped: conv_in.weight (checkpoint [16, 1, 3, 3], model [16, 3, 3, 3]), conv_out.weight (checkpoint [1, 16, 3, 3], model [6, 16, 3, 3]), conv_out.bias (checkpoint [1], model [6])';
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
