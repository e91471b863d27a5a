/**
 * The PyTorch export's training at scale, end to end: the generated model.py and train.py under
 * `torchrun --nproc_per_node=2` (gloo, CPU) on a graph with a block that does not lead to the Output
 * (DDP must be told: model.py's UNUSED_PARAMETERS), then the EMA checkpoint loaded strictly by
 * `unet-studio run --weights`, whose output must match PyTorch's (model.py in the same process that
 * wrote the inputs). Here and not in test/ because only cli/ may import the CLI.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeDocument } from '../graph/document';
import { parseSafetensors, toFloat32 } from '../weights/safetensors';
import { closeness } from '../test/util';
import { GRAPHS, HERE, liveWeights, META, PYTHON, readMetrics, run, stateDictOf, TORCHRUN, writeProject, type Run } from '../test/pytorch-train/harness';
import { cli } from './test-helpers';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'unet-ddp-'));
const graph = GRAPHS.ddp;
let ddp: Run;
let back: Run;
let cliRun: { code: number; out: string; err: string };

beforeAll(async () => {
  writeProject(dir, 'ddp');
  // Starting weights with no zero layers, so that the EMA checkpoint (close to them after 20 steps) gives every block's output a say.
  writeFileSync(join(dir, 'init.safetensors'), liveWeights(graph, 11));
  writeFileSync(join(dir, 'graph.json'), serializeDocument(graph));
  // Synthetic data: 24 float32 images [1, 8, 8] in [-1, 1].
  const mk = await run([PYTHON, '-c', "import numpy as np; np.save('data.npy', np.random.default_rng(1).uniform(-1, 1, (24, 1, 8, 8)).astype(np.float32))"], dir);
  expect(mk.code, mk.stderr).toBe(0);
  ddp = await run(
    [...TORCHRUN, '--standalone', '--nproc_per_node=2', '--monitor_interval=1', 'train.py', '--data', 'data.npy', '--init', 'init.safetensors', '--out', 'out', '--steps', '20', '--batch-size', '4', '--log-every', '5', '--sample-every', '10', '--sample-n', '4', '--sample-steps', '3', '--diffusion-steps', '100', '--workers', '0', '--check-ranks'],
    dir,
  );
  if (ddp.code !== 0) return;
  back = await run([PYTHON, join(HERE, 'runback.py'), dir, join(dir, 'out/ema.safetensors'), join(dir, 'io.safetensors')], dir);
  if (back.code !== 0) return;
  cliRun = await cli('run', join(dir, 'graph.json'), '--weights', join(dir, 'out/ema.safetensors'), '--inputs', join(dir, 'io.safetensors'), '--out', join(dir, 'app-out.safetensors'));
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('torchrun --nproc_per_node=2 (gloo, CPU) on a graph with a dangling block', () => {
  it('model.py says that some parameters take no part in the forward (a Conv2d that leads nowhere)', () => {
    expect(readFileSync(join(dir, 'model.py'), 'utf8')).toContain('\nUNUSED_PARAMETERS: bool = True\n');
    expect(stateDictOf(graph).map(([k]) => k).filter((k) => k.startsWith('unused_conv.'))).toEqual(['unused_conv.weight', 'unused_conv.bias']);
  });

  it('exits 0 with both ranks holding identical weights, those of model.safetensors', () => {
    expect(ddp.code, ddp.stderr.slice(-3000)).toBe(0);
    expect(ddp.stderr).toContain('2 process(es) x batch 4 on cpu');
    const check = JSON.parse(readFileSync(join(dir, 'out/rank_check.json'), 'utf8')) as { step: number; sha256: string[] };
    expect(check.step).toBe(20);
    expect(check.sha256).toHaveLength(2);
    expect(check.sha256[1]).toBe(check.sha256[0]);
    // Each rank hashed the .safetensors bytes of its own weights; rank 0 wrote those bytes.
    expect(sha256(readFileSync(join(dir, 'out/model.safetensors')))).toBe(check.sha256[0]);
  });

  it('logs finite losses every 5 steps in metrics.jsonl', () => {
    const m = readMetrics(join(dir, 'out/metrics.jsonl'));
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

  it('writes checkpoints whose names and shapes are exactly the graph\'s state_dict', () => {
    for (const f of ['model.safetensors', 'ema.safetensors']) {
      const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'out', f))), { source: f });
      expect([...st.tensors.values()].map((t) => [t.name, [...t.shape]])).toEqual(stateDictOf(graph));
      expect(st.metadata).toMatchObject({ schedule: 'linear', diffusion_steps: '100', step: '20', learn_sigma: 'false', model_name: META.ddp.graphName });
      const nonFinite = [...st.tensors.values()].filter((t) => toFloat32(t).some((v) => !Number.isFinite(v))).map((t) => t.name);
      expect(nonFinite).toEqual([]);
    }
    // EMA (decay 0.9999 over 20 steps) and raw weights differ, and both came from training; the dangling conv never moves.
    const init = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'init.safetensors'))));
    const a = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'out/model.safetensors'))));
    const e = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'out/ema.safetensors'))));
    expect(a.tensors.get('out.2.weight')!.data).not.toEqual(e.tensors.get('out.2.weight')!.data);
    expect(a.tensors.get('out.2.weight')!.data).not.toEqual(init.tensors.get('out.2.weight')!.data);
    expect(a.tensors.get('unused_conv.weight')!.data).toEqual(init.tensors.get('unused_conv.weight')!.data);
  });

  it('writes sample grids every --sample-every steps (2 × 2 images of 8 × 8)', () => {
    for (const s of ['000010', '000020']) {
      const png = readFileSync(join(dir, `out/samples_${s}.png`));
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([16, 16]);
    }
  });
});

describe('the trained checkpoint back in UNet Studio', () => {
  it('loads strictly into `unet-studio run --weights`, whose output matches model.py\'s (1e-4 + 1e-4·|ref|)', () => {
    expect(back.code, back.stderr.slice(-3000)).toBe(0);
    const facts = JSON.parse(back.stdout) as { unused_parameters: boolean; max_abs_out: number; out_shape: number[] };
    expect(facts.unused_parameters).toBe(true);
    expect(facts.out_shape).toEqual([3, 1, 8, 8]);
    expect(facts.max_abs_out).toBeGreaterThan(0.5); // a real signal, not the zero of untrained output convs
    expect(cliRun.code, cliRun.err).toBe(0);
    const got = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'app-out.safetensors')))).tensors.get('out')!;
    const ref = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'io.safetensors')))).tensors.get('out')!;
    expect([...got.shape]).toEqual([...ref.shape]);
    const c = closeness(toFloat32(got), toFloat32(ref), 1e-4, 1e-4);
    expect(c.ok, `max |d| ${c.maxAbs}`).toBe(true);
  });
});
