/**
 * A diffusers checkpoint with the legacy attention names (query/key/value/proj_attn) runs through
 * `unet-studio run`, by the interpreter and by the generated module, with diffusers' own numbers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffusersUNet2D } from '../graph/templates';
import { serializeDocument } from '../graph/document';
import { toFloat32, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { closeness, readSafetensors, REFERENCE } from '../test/util';
import { cli, noStack } from './test-helpers';

const dir = mkdtempSync(join(tmpdir(), 'unet-legacy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run --weights with diffusers’ legacy attention names', () => {
  it('loads strictly and reproduces diffusers’ out (interpreter and generated module)', async () => {
    const meta = JSON.parse(readFileSync(`${REFERENCE}diffusers/df-ddpm-legacy-names.json`, 'utf8')) as { config: unknown };
    const file = readSafetensors(`${REFERENCE}diffusers/df-ddpm-legacy-names.safetensors`);
    expect([...file.tensors.keys()].some((k) => k.endsWith('.query.weight'))).toBe(true);
    const weights: Record<string, TensorToWrite> = {};
    const io: Record<string, TensorToWrite> = {};
    for (const [k, t] of file.tensors) {
      if (k.startsWith('io.')) io[k.slice(3)] = { dtype: t.dtype, shape: t.shape, data: t.data } as TensorToWrite;
      else weights[k] = { dtype: t.dtype, shape: t.shape, data: t.data } as TensorToWrite;
    }
    const ref = toFloat32(file.tensors.get('io.out')!);
    delete io.out;
    writeFileSync(join(dir, 'w.safetensors'), writeSafetensors(weights));
    writeFileSync(join(dir, 'in.safetensors'), writeSafetensors(io));
    writeFileSync(join(dir, 'g.json'), serializeDocument(diffusersUNet2D(meta.config)));
    for (const via of ['interpreter', 'codegen']) {
      const out = join(dir, `out-${via}.safetensors`);
      const r = await cli('run', join(dir, 'g.json'), '--weights', join(dir, 'w.safetensors'), '--inputs', join(dir, 'in.safetensors'), '--out', out, '--via', via);
      noStack(r.err);
      expect(r.code, r.err).toBe(0);
      const c = closeness(toFloat32(readSafetensors(out).tensors.get('out')!), ref, 1e-4, 1e-4);
      expect(c.ok, `${via}: worst ${c.worst}`).toBe(true);
    }
  }, 120_000);
});
