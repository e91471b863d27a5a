/**
 * Templates build grouped documents (issue 12): the groups only organise (the flat graph, its names
 * and weights are the same), and every published config opens with at most 30 items on the canvas.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { TEMPLATES, iddpm, IDDPM_DEFAULTS, vanilla, diffusersUNet2D, DDPM_CIFAR10_32 } from './index';
import { analyze } from '../analyze';
import { expectedWeights } from '../weights';
import { defaultCollapsed, groupProblems, visibleItems, withoutGroups } from '../groups';
import type { Graph } from '../model';
import { REFERENCE } from '../../test/util';

const published = (JSON.parse(readFileSync(`${REFERENCE}published-configs.json`, 'utf8')) as { configs: { name: string; kwargs: unknown; image_size: number }[] }).configs;

/** Every template's defaults and presets, and every published iDDPM config. */
const CONFIGS: [string, Graph][] = [
  ...TEMPLATES.flatMap((t) => [[`${t.id} defaults`, t.build(t.defaults.kwargs)] as [string, Graph], ...t.presets.map((p): [string, Graph] => [`${t.id} ${p.name}`, t.build(p.kwargs, p.imageSize)])]),
  ...published.map((c): [string, Graph] => [`published ${c.name}`, iddpm(c.kwargs, c.image_size)]),
];

/** Each group as `name < parent: member names`, in list order. */
function outline(g: Graph): string[] {
  const names = new Map(g.nodes.map((n) => [n.id, n.name]));
  const groups = new Map((g.groups ?? []).map((x) => [x.id, x.name]));
  return (g.groups ?? []).map((x) => `${x.name}${x.parent !== undefined ? ` < ${groups.get(x.parent)}` : ''}: ${x.nodes.map((id) => names.get(id)).join(' ')}`);
}

describe('templates build grouped documents', () => {
  it('iDDPM: encoder and decoder levels holding input_blocks.N / output_blocks.N where those hold more than one module; middle_block; out', () => {
    // channel_mult (1, 2, 2), two res blocks per level, attention at 2× downsampling (level 1).
    expect(outline(iddpm(IDDPM_DEFAULTS))).toEqual([
      'encoder.0: input_blocks.0.0 input_blocks.1.0 input_blocks.2.0 input_blocks.3.0',
      'encoder.1: input_blocks.6.0',
      'input_blocks.4 < encoder.1: input_blocks.4.0 input_blocks.4.1',
      'input_blocks.5 < encoder.1: input_blocks.5.0 input_blocks.5.1',
      'encoder.2: input_blocks.7.0 input_blocks.8.0',
      'middle_block: middle_block.0 middle_block.1 middle_block.2',
      'decoder.2: ',
      'output_blocks.0 < decoder.2: output_blocks.0.cat output_blocks.0.0',
      'output_blocks.1 < decoder.2: output_blocks.1.cat output_blocks.1.0',
      'output_blocks.2 < decoder.2: output_blocks.2.cat output_blocks.2.0 output_blocks.2.1',
      'decoder.1: ',
      'output_blocks.3 < decoder.1: output_blocks.3.cat output_blocks.3.0 output_blocks.3.1',
      'output_blocks.4 < decoder.1: output_blocks.4.cat output_blocks.4.0 output_blocks.4.1',
      'output_blocks.5 < decoder.1: output_blocks.5.cat output_blocks.5.0 output_blocks.5.1 output_blocks.5.2',
      'decoder.0: ',
      'output_blocks.6 < decoder.0: output_blocks.6.cat output_blocks.6.0',
      'output_blocks.7 < decoder.0: output_blocks.7.cat output_blocks.7.0',
      'output_blocks.8 < decoder.0: output_blocks.8.cat output_blocks.8.0',
      'out: out.0 out.1 out.2',
    ]);
    // Opens with its levels collapsed: x, timesteps, timestep_embedding, time_embed and output, plus 8 groups.
    const g = iddpm(IDDPM_DEFAULTS);
    expect(visibleItems(g, new Set(defaultCollapsed(g)))).toEqual({ blocks: 5, collapsed: 8, frames: 0, total: 13 });
  });

  it('classic UNet: down{i} and up{i} stages', () => {
    expect(outline(vanilla({ n_channels: 3, n_classes: 2, widths: [8, 16, 32] }, 32))).toEqual([
      'down1: down1.maxpool_conv.0 down1.maxpool_conv.1',
      'down2: down2.maxpool_conv.0 down2.maxpool_conv.1',
      'up1: up1.up up1.cat up1.conv',
      'up2: up2.up up2.cat up2.conv',
    ]);
  });

  it('diffusers: down_blocks.i, mid_block and up_blocks.i (members in registration order)', () => {
    const o = outline(diffusersUNet2D(DDPM_CIFAR10_32));
    expect(o.map((line) => line.split(':')[0])).toEqual(['down_blocks.0', 'down_blocks.1', 'down_blocks.2', 'down_blocks.3', 'mid_block', 'up_blocks.0', 'up_blocks.1', 'up_blocks.2', 'up_blocks.3']);
    expect(o[1]).toBe('down_blocks.1: down_blocks.1.attentions.0 down_blocks.1.attentions.1 down_blocks.1.resnets.0 down_blocks.1.resnets.1 down_blocks.1.downsamplers.0');
    expect(o[4]).toBe('mid_block: mid_block.attentions.0 mid_block.resnets.0 mid_block.resnets.1');
    expect(o[8]).toBe('up_blocks.3: up_blocks.3.resnets.0 up_blocks.3.resnets.1 up_blocks.3.resnets.2 up_blocks.3.concat.0 up_blocks.3.concat.1 up_blocks.3.concat.2');
    expect(outline(diffusersUNet2D({ ...DDPM_CIFAR10_32, mid_block_type: null })).some((l) => l.startsWith('mid_block'))).toBe(false);
  });

  it.each(CONFIGS)('%s: valid groups, the same weights as flat, module groups named by their members, at most 30 items open', (_name, g) => {
    expect(groupProblems(g)).toEqual([]);
    const key = (x: Graph) => expectedWeights(analyze(x)).map((w) => `${w.fullKey} ${w.shape.join('x')}`);
    expect(key(g)).toEqual(key(withoutGroups(g)));
    const names = new Map(g.nodes.map((n) => [n.id, n.name]));
    for (const grp of g.groups ?? []) {
      // Levels (encoder.k, decoder.k) are not modules; every other group is the module path of its blocks.
      if (/^(en|de)coder\.\d+$/.test(grp.name)) continue;
      for (const id of grp.nodes) expect(names.get(id)!.startsWith(`${grp.name}.`), `${names.get(id)} in ${grp.name}`).toBe(true);
    }
    if (g.nodes.length > 2) expect((g.groups ?? []).length).toBeGreaterThan(0);
    expect(visibleItems(g, new Set(defaultCollapsed(g))).total).toBeLessThanOrEqual(30);
  });

  it('the largest published configs open small: guided-diffusion 512×512 (97 blocks) as 23 items, celebahq-256 (75) as 22', () => {
    const open = (g: Graph) => visibleItems(g, new Set(defaultCollapsed(g))).total;
    const big = published.find((c) => c.name === 'guided-diffusion/512x512_diffusion')!;
    const g = iddpm(big.kwargs, big.image_size);
    expect([g.nodes.length, open(g)]).toEqual([97, 23]);
    const c = diffusersUNet2D({ ...DDPM_CIFAR10_32, block_out_channels: [128, 128, 256, 256, 512, 512], down_block_types: ['DownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D', 'UpBlock2D', 'UpBlock2D'] }, 256);
    expect([c.nodes.length, open(c)]).toEqual([75, 22]);
  });
});
