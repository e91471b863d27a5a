/** The template registry: every template fully declared, presets equal to the published reference. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { DEFAULT_TEMPLATE, IDDPM_PRESETS, buildDefaults, iddpm, templateById, TEMPLATES, vanilla, emptyGraph } from './index';
import { analyze } from '../analyze';
import { REFERENCE } from '../../test/util';

interface PublishedConfig {
  readonly name: string;
  readonly model_class: string;
  readonly image_size: number;
  readonly kwargs: Readonly<Record<string, unknown>>;
}
const published = (JSON.parse(readFileSync(`${REFERENCE}published-configs.json`, 'utf8')) as { configs: PublishedConfig[] }).configs;

describe('template registry', () => {
  it('ids are unique and found by templateById; labels are the tabs of New…', () => {
    expect(TEMPLATES.map((t) => t.id)).toEqual(['iddpm', 'vanilla', 'diffusers', 'ldm', 'empty']);
    expect(TEMPLATES.map((t) => t.label)).toEqual(['iDDPM UNetModel', 'Classic UNet', 'diffusers UNet2DModel', 'latent-diffusion UNetModel', 'Empty canvas']);
    for (const t of TEMPLATES) expect(templateById(t.id)).toBe(t);
    expect(templateById('nope')).toBeUndefined();
    expect(DEFAULT_TEMPLATE.id).toBe('iddpm');
  });

  it('every template has a description and every kwarg a .describe()', () => {
    for (const t of TEMPLATES) {
      expect(t.description.length, t.id).toBeGreaterThan(20);
      const shape = t.schema.shape as Readonly<Record<string, z.ZodType>>;
      for (const [key, field] of Object.entries(shape)) expect(field.description?.length ?? 0, `${t.id}.${key}`).toBeGreaterThan(10);
      for (const key of t.formFields ?? []) expect(Object.keys(shape), `${t.id} formFields`).toContain(key);
    }
  });

  it("iDDPM's presets are exactly the reference's UNetModel configs (names, image sizes, kwargs)", () => {
    const reference = published.filter((c) => c.model_class === 'UNetModel');
    expect(reference.length).toBe(16);
    expect(IDDPM_PRESETS.map((p) => ({ name: p.name, image_size: p.imageSize, kwargs: p.kwargs }))).toEqual(
      reference.map((c) => ({ name: c.name, image_size: c.image_size, kwargs: c.kwargs })),
    );
    expect(templateById('iddpm')!.presets).toBe(IDDPM_PRESETS);
  });

  it('defaults and presets build valid graphs through build(), the same as the named builders', () => {
    for (const t of TEMPLATES) {
      const g = buildDefaults(t);
      expect(analyze(g).problems.filter((p) => p.severity === 'error'), t.id).toEqual([]);
      for (const p of t.presets) expect(t.build(p.kwargs, p.imageSize).nodes.length, p.name).toBeGreaterThan(10);
    }
    const d = buildDefaults(DEFAULT_TEMPLATE);
    expect(d.name).toBe('iddpm-64ch-32x32');
    expect(d).toEqual(iddpm({ in_channels: 3, model_channels: 64, out_channels: 3, num_res_blocks: 2, attention_resolutions: [2], channel_mult: [1, 2, 2], num_heads: 4 }, 32));
    expect(buildDefaults(templateById('vanilla')!)).toEqual(vanilla({ n_channels: 3, n_classes: 2 }, 256));
    expect(buildDefaults(templateById('empty')!)).toEqual({
      name: 'untitled',
      nodes: [{ id: 'n1', name: 'x', type: 'ImageInput', params: {} }, { id: 'n2', name: 'output', type: 'Output', params: {} }],
      edges: [{ id: 'e1', from: { node: 'n1', port: 'out' }, to: { node: 'n2', port: 'x' } }],
    });
    expect(emptyGraph({}, { height: 24, width: 20 }).nodes[0]!.params).toEqual({ height: 24, width: 20 });
    expect(() => emptyGraph({ channels: 3 })).toThrow(/Empty canvas kwargs are invalid/);
  });
});
