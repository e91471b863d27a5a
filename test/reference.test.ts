/**
 * Against the real guided-diffusion `UNetModel` (test/reference, made by make_reference.py with
 * Debian's PyTorch): every published improved/guided-diffusion config builds with PyTorch's exact
 * parameters and state_dict, and small models with the guided-diffusion options match PyTorch's output.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { analyze, countParameters, nodeWeights } from '../graph/analyze';
import { iddpm } from '../graph/templates';
import { useBackend } from '../runtime/backend-node';
import { closeness, REFERENCE } from './util';
import { REFERENCE_CASES, referenceOut } from './fixture-run';

interface PublishedConfig {
  name: string;
  model_class: string;
  kwargs: Record<string, unknown>;
  image_size: number;
  num_parameters: number;
  num_state_dict_tensors: number;
  state_dict_sha256: string;
}

const published = (JSON.parse(readFileSync(`${REFERENCE}published-configs.json`, 'utf8')) as { configs: PublishedConfig[] }).configs;

describe('published improved/guided-diffusion configs', () => {
  it('covers CIFAR-10 through ImageNet 512×512', () => {
    expect(published.length).toBe(19);
    expect(published.map((c) => c.name)).toEqual(expect.arrayContaining(['improved-diffusion/cifar10_uncond_50M_500K', 'guided-diffusion/512x512_diffusion']));
  });

  for (const c of published) {
    it(`${c.name}: ${c.num_parameters.toLocaleString('en-US')} parameters and PyTorch's state_dict`, () => {
      // SuperResModel is a UNetModel whose kwargs already carry the doubled in_channels.
      const graph = iddpm(c.kwargs, c.image_size);
      const a = analyze(graph);
      expect(a.problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(countParameters(a)).toBe(c.num_parameters);
      // state_dict order is module registration order, which is the templates' node order.
      const lines: string[] = [];
      for (const n of graph.nodes) for (const w of nodeWeights(a.info.get(n.id)!)) lines.push(`${n.name}.${w.key}:${w.shape.join('x')}\n`);
      expect(lines.length).toBe(c.num_state_dict_tensors);
      expect(createHash('sha256').update(lines.join('')).digest('hex')).toBe(c.state_dict_sha256);
    });
  }
});

const CASES = REFERENCE_CASES;

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`guided-diffusion options match PyTorch on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });
    for (const name of CASES) {
      it(name, async () => {
        const { got, ref } = await referenceOut(name);
        const c = closeness(got, ref, 1e-4, 1e-4);
        expect(c.ok, `max |d| ${c.maxAbs.toExponential(2)}, ${c.worst.toFixed(2)}× tolerance`).toBe(true);
        expect(Math.max(...Array.from(ref, Math.abs))).toBeGreaterThan(1); // a real signal, not zeros
      });
    }
  });
}
