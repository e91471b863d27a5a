/** Template kwargs: every key bounded, with messages naming the key and the limit; the largest accepted config stays small. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { IddpmKwargs, iddpm, TEMPLATE_LIMITS as L, TemplateError, vanilla, VanillaKwargs } from './templates';
import { analyze } from './analyze';
import { serializeDocument } from './document';
import { REFERENCE } from '../test/util';

const base = { in_channels: 3, model_channels: 64, out_channels: 3, num_res_blocks: 2, attention_resolutions: [2], channel_mult: [1, 2] };

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TemplateError);
    return (e as Error).message;
  }
  throw new Error('expected a TemplateError');
}

describe('template kwargs are bounded', () => {
  it('the limits are generous (above every published config) and match the blocks they feed', () => {
    const published = (JSON.parse(readFileSync(`${REFERENCE}published-configs.json`, 'utf8')) as { configs: { kwargs: unknown }[] }).configs;
    for (const c of published) expect(IddpmKwargs.safeParse(c.kwargs).success).toBe(true);
    expect(L).toMatchObject({ image_size: 4096, io_channels: 4096, channels: 16384, num_classes: 100000, num_heads: 256, num_head_channels: 4096 });
  });

  it('each numeric kwarg: the limit is accepted, one past it is refused naming the key and the limit', () => {
    const cases: [string, number, number, string][] = [
      ['in_channels', L.io_channels, L.io_channels + 1, `in_channels: must be at most ${L.io_channels}`],
      ['out_channels', L.io_channels, L.io_channels + 1, `out_channels: must be at most ${L.io_channels}`],
      ['model_channels', L.channels, L.channels + 1, `model_channels: must be at most ${L.channels}`],
      ['num_res_blocks', L.num_res_blocks, L.num_res_blocks + 1, `num_res_blocks: must be at most ${L.num_res_blocks} (published configs use 2 or 3)`],
      ['num_classes', L.num_classes, L.num_classes + 1, `num_classes: must be at most ${L.num_classes}`],
      ['num_heads', L.num_heads, L.num_heads + 1, `num_heads: must be at most ${L.num_heads}`],
      ['num_head_channels', L.num_head_channels, L.num_head_channels + 1, `num_head_channels: must be -1 or a whole number from 1 to ${L.num_head_channels}`],
      ['num_heads_upsample', L.num_heads, L.num_heads + 1, `num_heads_upsample: must be -1 or a whole number from 1 to ${L.num_heads}`],
      ['image_size', L.image_size, L.image_size + 1, `image_size: must be at most ${L.image_size}`],
      ['attention_resolutions', L.attention_resolution, L.attention_resolution + 1, `attention_resolutions: must be at most ${L.attention_resolution}`],
    ];
    for (const [key, ok, bad, message] of cases) {
      expect(IddpmKwargs.safeParse({ ...base, channel_mult: [1], [key]: ok }).success, key).toBe(true);
      expect(messageOf(() => iddpm({ ...base, [key]: bad }, 32))).toBe(`UNetModel kwargs are invalid:\n  ${message}`);
    }
    expect(messageOf(() => iddpm({ ...base, num_res_blocks: -1 }, 32))).toContain('num_res_blocks: must be at least 0');
    expect(messageOf(() => iddpm({ ...base, model_channels: 64.5 }, 32))).toContain(`model_channels: must be a whole number from 1 to ${L.channels}`);
    expect(messageOf(() => iddpm({ ...base, dropout: 2 }, 32))).toContain('dropout: must be at most 1');
  });

  it('lists: length and entries bounded; each level width bounded', () => {
    const many = (n: number, v: number) => Array.from({ length: n }, () => v);
    expect(IddpmKwargs.safeParse({ ...base, channel_mult: many(L.levels, 1), attention_resolutions: many(L.attention_resolutions, 2) }).success).toBe(true);
    expect(messageOf(() => iddpm({ ...base, channel_mult: many(L.levels + 1, 1) }, 32))).toContain(`channel_mult: must have at most ${L.levels} entries`);
    expect(messageOf(() => iddpm({ ...base, channel_mult: [] }, 32))).toContain('channel_mult: must have at least one entry');
    expect(messageOf(() => iddpm({ ...base, attention_resolutions: many(L.attention_resolutions + 1, 2) }, 32))).toContain(
      `attention_resolutions: must have at most ${L.attention_resolutions} entries`,
    );
    expect(messageOf(() => iddpm({ ...base, channel_mult: [1, L.channel_mult + 1] }, 32))).toContain(`channel_mult.1: must be at most ${L.channel_mult}`);
    expect(messageOf(() => iddpm({ ...base, model_channels: 8192, channel_mult: [1, 4] }, 32))).toBe(
      `UNetModel kwargs are invalid:\n  channel_mult.1: model_channels × channel_mult[1] = 8192 × 4 gives 32768 channels; it must be 1 to ${L.channels}`,
    );
    expect(messageOf(() => iddpm({ ...base, channel_mult: [0.001] }, 32))).toContain('gives 0 channels; it must be 1 to');
    expect(messageOf(() => iddpm({ ...base, attention_resolutions: 'all' }, 32))).toBe('UNetModel kwargs are invalid:\n  attention_resolutions: must be a list of whole numbers, or one whole number');
    expect(messageOf(() => vanilla({ n_channels: 3, n_classes: 2, widths: many(L.levels + 1, 8) }))).toContain(`widths: must have at most ${L.levels} entries`);
    expect(messageOf(() => vanilla({ n_channels: 3, n_classes: 2, widths: [8, L.channels + 1] }))).toContain(`widths.1: must be at most ${L.channels}`);
    expect(VanillaKwargs.safeParse({ n_channels: L.io_channels, n_classes: L.io_channels, widths: many(L.levels, L.channels) }).success).toBe(true);
  });

  it('at most 20 problems are listed, then how many more', () => {
    const m = messageOf(() => iddpm({ ...base, channel_mult: Array.from({ length: 16 }, () => 'x'), num_heads: 0, dropout: -1, in_channels: 0, out_channels: 0, num_res_blocks: -1, dims: 3 }, 32));
    expect(m.split('\n')).toHaveLength(1 + 20 + 1);
    expect(m).toMatch(/\n {2}… and 2 more$/);
  });

  it('image sizes from any source are bounded (the --image-size flag, kwargs, the config wrapper, the dialog)', () => {
    for (const s of [0, -3, 1.5, NaN, L.image_size + 1, { height: 32, width: 1e9 }]) {
      expect(messageOf(() => iddpm(base, s as number))).toMatch(new RegExp(`^UNetModel: image (height|width) must be a whole number from 1 to ${L.image_size}, got `));
      expect(messageOf(() => vanilla({ n_channels: 3, n_classes: 2, widths: [8, 16] }, s as number))).toMatch(/^UNet: image (height|width) must be a whole number/);
    }
    expect(messageOf(() => iddpm({ ...base, image_size: undefined }))).toMatch(/image size missing/);
  });

  it('the largest config the limits accept is a graph of a few thousand blocks that checks and serialises', () => {
    const k = {
      in_channels: L.io_channels,
      model_channels: L.channels,
      out_channels: L.io_channels,
      num_res_blocks: L.num_res_blocks,
      attention_resolutions: Array.from({ length: L.attention_resolutions }, (_, i) => 2 ** i),
      channel_mult: Array.from({ length: L.levels }, () => 1),
      num_classes: L.num_classes,
      num_heads: L.num_heads,
      resblock_updown: true,
    };
    const g = iddpm(k, L.image_size);
    expect(g.nodes.length).toBe(2652);
    const a = analyze(g);
    expect(a.order.length).toBe(g.nodes.length);
    // Only shape problems (4096 is not divisible by 2^15), found and named, never a crash.
    expect(a.problems.filter((p) => p.severity === 'error').every((p) => p.code === 'shape')).toBe(true);
    expect(serializeDocument(g).length).toBeLessThan(2_000_000);
  });
});
