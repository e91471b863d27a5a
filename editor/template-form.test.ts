/** New…'s form is generated from each template's schema and builds what the template builds. */
import { describe, expect, it } from 'vitest';
import { iddpm, IDDPM_PRESETS, templateById, TemplateError, vanilla } from '../graph/templates';
import { buildFromForm, formFields, formValues, kwargsFromForm } from './template-form';

const iddpmT = templateById('iddpm')!;
const vanillaT = templateById('vanilla')!;
const emptyT = templateById('empty')!;

describe('template form', () => {
  it('widgets follow the schema: numbers, lists of numbers, booleans, with the description as help', () => {
    const fields = formFields(iddpmT);
    expect(fields.map((f) => [f.key, f.kind])).toEqual([
      ['image_size', 'number'], ['in_channels', 'number'], ['out_channels', 'number'], ['model_channels', 'number'],
      ['channel_mult', 'numbers'], ['num_res_blocks', 'number'], ['attention_resolutions', 'numbers'], ['dropout', 'number'],
      ['num_heads', 'number'], ['num_head_channels', 'number'], ['num_heads_upsample', 'number'], ['num_classes', 'number'],
      ['use_scale_shift_norm', 'boolean'], ['resblock_updown', 'boolean'], ['use_new_attention_order', 'boolean'], ['conv_resample', 'boolean'],
    ]);
    const byKey = new Map(fields.map((f) => [f.key, f]));
    expect(byKey.get('num_classes')).toMatchObject({ nullable: true, placeholder: 'none' });
    expect(byKey.get('num_head_channels')).toMatchObject({ nullable: false, placeholder: '-1', defaultValue: -1 });
    expect(byKey.get('num_heads')!.help).toBe('Attention heads in each attention layer.');
    expect(formFields(vanillaT).map((f) => f.key)).toEqual(['n_channels', 'n_classes', 'widths', 'image_size']);
    expect(formFields(emptyT)).toEqual([]);
  });

  it('without formFields: every field in schema order, a one-value literal is no choice, an enum a choice', async () => {
    const { z } = await import('zod');
    const t = {
      ...emptyT,
      schema: z.object({ n: z.number().describe('n'), mode: z.enum(['a', 'b']).default('b').describe('mode'), fixed: z.literal(2).default(2).describe('fixed') }).strict(),
      formFields: undefined,
      build: (k: unknown) => ({ name: JSON.stringify(k), nodes: [], edges: [] }),
    };
    const fields = formFields(t);
    expect(fields.map((f) => [f.key, f.kind, f.options])).toEqual([['n', 'number', []], ['mode', 'enum', ['a', 'b']]]);
    const values = formValues(fields, { n: 3 });
    expect(values).toEqual({ n: '3', mode: 'b' });
    expect(buildFromForm(t, { ...values, mode: 'a' }).name).toBe('{"n":3,"mode":"a"}');
  });

  it('the defaults show as the old form did; every preset round-trips to the same graph', () => {
    const fields = formFields(iddpmT);
    expect(formValues(fields, iddpmT.defaults.kwargs)).toEqual({
      image_size: '32', in_channels: '3', out_channels: '3', model_channels: '64', channel_mult: '1, 2, 2', num_res_blocks: '2',
      attention_resolutions: '2', dropout: '0', num_heads: '4', num_head_channels: '-1', num_heads_upsample: '-1', num_classes: '',
      use_scale_shift_norm: false, resblock_updown: false, use_new_attention_order: false, conv_resample: true,
    });
    for (const p of IDDPM_PRESETS) {
      const values = formValues(fields, { ...p.kwargs, image_size: p.imageSize });
      expect(buildFromForm(iddpmT, values), p.name).toEqual(iddpm(p.kwargs, p.imageSize));
    }
    const v = formFields(vanillaT);
    expect(buildFromForm(vanillaT, formValues(v, vanillaT.defaults.kwargs))).toEqual(vanilla({ n_channels: 3, n_classes: 2, widths: [64, 128, 256, 512, 1024] }, 256));
  });

  it('text becomes kwargs as typed: lists split on commas or spaces, empty nullable is null, image_size is the image size', () => {
    const fields = formFields(iddpmT);
    const values = { ...formValues(fields, iddpmT.defaults.kwargs), channel_mult: '1 2,  4', num_classes: '10', image_size: '64' };
    const { kwargs, imageSize } = kwargsFromForm(fields, values);
    expect(imageSize).toBe(64);
    expect(kwargs).toMatchObject({ channel_mult: [1, 2, 4], num_classes: 10, attention_resolutions: [2], dropout: 0, conv_resample: true });
    expect(kwargs).not.toHaveProperty('image_size');
    expect(kwargsFromForm(fields, { ...values, num_classes: ' ' }).kwargs.num_classes).toBeNull();
    // A value past its limit: the schema's message, naming the key and the limit; image size its own.
    expect(() => buildFromForm(iddpmT, { ...values, num_res_blocks: '1000000' })).toThrow(/num_res_blocks: must be at most 32/);
    expect(() => buildFromForm(iddpmT, { ...values, image_size: '99999' })).toThrow(new TemplateError('UNetModel: image height must be a whole number from 1 to 4096, got 99999'));
  });
});
