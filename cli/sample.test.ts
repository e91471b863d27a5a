/** `unet-studio sample`: DDPM/DDIM with guidance from the command line, the session's own result; clear refusals. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, noStack } from './test-helpers';
import { iddpm } from '../graph/templates';
import { IDDPM_SMALL } from '../bench/configs';
import { serializeDocument } from '../graph/document';
import { readSafetensorsFile } from '../runtime/safetensors-file';
import { RuntimeSession } from '../runtime/session';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { transpile } from '../runtime/evaluate';
import { toPytorchLayout } from '../runtime/inputs';
import { useBackend } from '../runtime/backend-node';
import { writeSafetensors } from '../weights/safetensors';

const G = iddpm({ ...IDDPM_SMALL, num_res_blocks: 1, attention_resolutions: [], channel_mult: [1], num_classes: 10 }, 4);
let dir = '';
const p = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'unet-sample-'));
  writeFileSync(p('g.json'), serializeDocument(G));
  writeFileSync(p('u.safetensors'), writeSafetensors({ class_labels: { dtype: 'I64', shape: [1], data: BigInt64Array.from([BigInt(9)]) } }));
  await useBackend('cpu');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('unet-studio sample', () => {
  it('DDIM with guidance and an unconditional file: the session’s result, NCHW, with its settings in the metadata', async () => {
    const r = await cli('sample', p('g.json'), '--seed', '2', '--sampler', 'ddim', '--eta', '0.5', '--steps', '3', '--batch', '2', '--label', '4', '--guidance', '3', '--uncond', p('u.safetensors'), '--backend', 'cpu', '--out', p('out.safetensors'));
    expect(r.err).toMatch(/out \[2, 3, 4, 4\] \(ddim, 3 of 1000 steps, guidance 3\) on cpu/);
    expect(r.code).toBe(0);
    const f = readSafetensorsFile(p('out.safetensors'));
    expect(f.metadata).toMatchObject({ sampler: 'ddim', eta: '0.5', guidance: '3', steps: '3', seed: '2' });
    const s = new RuntimeSession();
    const mod = generateModule(G, readSources());
    s.setModule(G, transpile(mod.text), mod.className, mod.inputs);
    s.setWeights({ kind: 'random', seed: 2 });
    const want = await s.sample({ schedule: 'linear', trainSteps: 1000, steps: 3, seed: 2, label: 4, batch: 2, learnedSigma: false, sampler: 'ddim', eta: 0.5, guidance: { scale: 3, uncond: { values: { y: 9 } } } });
    const nchw = toPytorchLayout(want!);
    expect(Array.from(f.tensors.get('out')!.data as Float32Array)).toEqual(Array.from(nchw.dataSync()));
    nchw.dispose();
    want!.dispose();
    s.dispose();
  });

  it('refuses, with the reason: guidance without a null label, a bad sampler, eta without DDIM, steps beyond the schedule', async () => {
    const cases: [string[], RegExp][] = [
      [['--guidance', '2'], /--guidance needs the unconditional class label y: give --null-label L/],
      [['--sampler', 'plms'], /--sampler must be ddpm or ddim, got "plms"/],
      [['--eta', '0.3'], /--eta is for --sampler ddim/],
      [['--steps', '2000'], /--steps takes a whole number from 1 to --train-steps \(1000\), got "2000"/],
    ];
    for (const [extra, want] of cases) {
      const r = await cli('sample', p('g.json'), '--out', p('x.safetensors'), ...extra);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.err).toMatch(want);
      noStack(r.err);
    }
  });
});
