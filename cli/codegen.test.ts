/** `codegen` and `run --via codegen` through the CLI (moved from codegen/codegen.test.ts: codegen/ imports no cli/). */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './test-helpers';
import { parseSafetensors, toFloat32 } from '../weights/safetensors';
import { closeness, FIXTURES } from '../test/util';

describe('CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unet-codegen-'));

  it('codegen writes the type-checked module; run --via codegen matches PyTorch on wasm', async () => {
    const g = join(dir, 'g.json');
    expect((await cli('template', 'iddpm', '--config', `${FIXTURES}iddpm-small/config.json`, '-o', g)).code).toBe(0);
    const c = await cli('codegen', g, '-o', join(dir, 'model.ts'));
    expect(c.code, c.err).toBe(0);
    expect(c.err).toMatch(/class Iddpm32ch16x16, \d+ lines, type-checked \(strict\)/);
    expect(readFileSync(join(dir, 'model.ts'), 'utf8')).toContain('export class Iddpm32ch16x16 {');
    const outFile = join(dir, 'out.safetensors');
    const r = await cli('run', g, '--via', 'codegen', '--backend', 'wasm', '--weights', `${FIXTURES}iddpm-small/weights.safetensors`, '--inputs', `${FIXTURES}iddpm-small/io.safetensors`, '--out', outFile);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/via the generated Iddpm32ch16x16/);
    const got = toFloat32(parseSafetensors(new Uint8Array(readFileSync(outFile))).tensors.get('out')!);
    const ref = toFloat32(parseSafetensors(new Uint8Array(readFileSync(`${FIXTURES}iddpm-small/io.safetensors`))).tensors.get('out')!);
    expect(closeness(got, ref, 1e-4, 1e-4).ok).toBe(true);
  });
});
