import { describe, expect, it } from 'vitest';
import published from '../test/reference/published-configs.json';
import { analyze } from '../graph/analyze';
import { estimateCost } from '../graph/estimate';
import { iddpm } from '../graph/templates';
import { IDDPM_SMALL } from '../bench/configs';
import { gateRun } from './gate';

const preset = (name: string) => {
  const c = published.configs.find((p) => p.name === name)!;
  return iddpm(c.kwargs, c.image_size);
};
const GiB = 1024 ** 3;

describe('gateRun: refuse what a backend cannot hold, ask before a slow run, start the rest', () => {
  // 559M parameters, 3,965 GFLOP, 2.08 GiB of weights and 4.4 GiB of activations per sample.
  const big = estimateCost(analyze(preset('guided-diffusion/512x512_diffusion')), 1);
  const small = estimateCost(analyze(iddpm(IDDPM_SMALL, 16)), 1);

  it('the guided-diffusion 512×512 model is refused where it cannot fit: WASM’s heap, a browser’s memory, an 8192 texture', () => {
    const wasm = gateRun(big, { backend: 'wasm', memoryBytes: 4294901760 }, 40);
    expect(wasm.kind).toBe('refuse');
    expect(wasm.kind === 'refuse' && wasm.problems.join('\n')).toMatch(/weights \(2\.08 GiB\) and activations \(4\.\d+ GiB\) need 6\.\d+ GiB, more than wasm can hold here \(4\.00 GiB\)/);
    const webgl = gateRun(big, { backend: 'webgl', maxTextureSize: 8192, memoryBytes: 16 * GiB }, 100);
    expect(webgl.kind === 'refuse' && webgl.problems.join('\n')).toMatch(/output_blocks\.18\.cat.*1×384×512×512.*8192×8192/);
    expect(webgl.summary).toMatch(/^558,997,638 parameters · weights 2\.08 GiB · peak activations 4\.\d+ GiB · 3964\.67 GFLOP · about \d+ s on webgl$/);
  });

  it('where it fits it asks first, with the expected time (over an hour on a CPU)', () => {
    const cpu = gateRun(big, { backend: 'cpu', memoryBytes: 64 * GiB }, 1);
    expect(cpu.kind).toBe('confirm');
    expect(cpu.kind === 'confirm' && cpu.seconds).toBeCloseTo(3964.67, 1);
    expect(cpu.kind === 'confirm' && cpu.question).toBe('Run is expected to take about 66 min on cpu. Start it anyway?');
  });

  it('a small model starts at once; fifty sampling steps of it can still ask', () => {
    const go = gateRun(small, { backend: 'wasm', memoryBytes: 4294901760 }, 40);
    expect(go.kind).toBe('go');
    expect(go.kind === 'go' && go.seconds).toBeLessThan(0.1);
    const perPass = small.flops / 1e9 / 0.01; // at 0.01 GFLOP/s
    const slow = gateRun(small, { backend: 'cpu' }, 0.01, { passes: 50, action: 'Sampling (50 steps)' });
    expect(slow.kind).toBe('confirm');
    expect(slow.kind === 'confirm' && slow.seconds).toBeCloseTo(50 * perPass, 6);
    expect(slow.kind === 'confirm' && slow.question).toMatch(/^Sampling \(50 steps\) is expected to take about/);
  });

  it('without a measured rate it still refuses on limits, and otherwise starts (no time to show)', () => {
    expect(gateRun(big, { backend: 'wasm', memoryBytes: 4294901760 }, null).kind).toBe('refuse');
    const g = gateRun(small, { backend: 'webgpu' }, null);
    expect(g.kind === 'go' && g.seconds).toBeNull();
  });
});
