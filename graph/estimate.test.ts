import { describe, expect, it } from 'vitest';
import { analyze, countFlops, countParameters } from './analyze';
import { describeEstimate, estimateCost, expectedSeconds, fitsWebglTexture, limitProblems } from './estimate';
import { iddpm } from './templates';
import { fixtureConfig, REFERENCE } from '../test/util';
import { readFileSync } from 'node:fs';

const small = () => {
  const c = fixtureConfig('iddpm-small');
  return analyze(iddpm(c.kwargs, c.imageSize));
};

describe('estimateCost', () => {
  it('finds attention scores as the largest tensor and refuses what WebGL cannot hold', () => {
    // 64×64 attention with 4 heads: the scores are 4 × 4096 × 4096 values per sample.
    const g = iddpm({ in_channels: 3, model_channels: 32, out_channels: 3, num_res_blocks: 1, attention_resolutions: [1], channel_mult: [1], num_heads: 4 }, 64);
    const est = estimateCost(analyze(g), 1);
    expect(est.largest).toMatchObject({ dims: [1, 4, 4096, 4096], elements: 4 * 4096 * 4096, internal: true });
    expect(limitProblems(est, { backend: 'webgl', maxTextureSize: 16384 })).toEqual([]);
    const p = limitProblems(est, { backend: 'webgl', maxTextureSize: 4096 });
    expect(p).toHaveLength(1);
    expect(p[0]).toContain('1×4×4096×4096');
    expect(p[0]).toContain('at most 4096×4096');
  });

  it('says when weights and activations do not fit in memory', () => {
    const pub = JSON.parse(readFileSync(`${REFERENCE}published-configs.json`, 'utf8')) as { configs: { name: string; kwargs: unknown; image_size: number; num_parameters: number }[] };
    const c = pub.configs.find((x) => x.name === 'guided-diffusion/512x512_diffusion')!;
    const est = estimateCost(analyze(iddpm(c.kwargs, c.image_size)), 1);
    expect(est.parameters).toBe(c.num_parameters);
    expect(est.weightBytes).toBeGreaterThanOrEqual(4 * c.num_parameters);
    const p = limitProblems(est, { backend: 'wasm', memoryBytes: 2 ** 31 });
    expect(p.join('\n')).toMatch(/weights \(2\.\d+ GiB\) and activations .* more than wasm can hold here \(2\.00 GiB\)/);
    expect(limitProblems(est, { backend: 'cpu', memoryBytes: 64 * 2 ** 30 })).toEqual([]);
    expect(describeEstimate(est, expectedSeconds(est, 20))).toMatch(/^558,997,638 parameters · weights 2\.\d+ GiB · peak activations .* GFLOP · about \d+ (s|min)$/);
  });

  it('bounds WebGL textures by element count, as tfjs squarifies', () => {
    expect(fitsWebglTexture(16384 * 16384, 16384)).toBe(true);
    expect(fitsWebglTexture(16384 * 16384 + 1, 16384)).toBe(false);
    expect(fitsWebglTexture(1, 1)).toBe(true);
    expect(expectedSeconds(estimateCost(small(), 1), null)).toBeNull();
  });
});
