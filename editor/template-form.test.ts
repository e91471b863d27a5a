/** New…'s form is generated from each template's schema and builds what the template builds. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { DiffusersConfig, DIFFUSERS_PRESETS, diffusersUNet2D, diffusersUNet2DCondition, iddpm, IDDPM_PRESETS, ldm, LDM_PRESETS, SD15_UNET, templateById, TemplateError, vanilla } from '../graph/templates';
import { analyze, countParameters } from '../graph/analyze';
import { REFERENCE } from '../test/util';
import { buildFromForm, formFields, formValues, formValuesFromConfig, formVariants, importConfig, importsConfig, kwargsFromForm, listEntries, variantFor } from './template-form';

const iddpmT = templateById('iddpm')!;
const vanillaT = templateById('vanilla')!;
const emptyT = templateById('empty')!;
const diffusersT = templateById('diffusers')!;
const ldmT = templateById('ldm')!;

/** A parity case of the diffusers reference: its config as save_config wrote it (every key), and that text. */
const dfCase = (name: string) => JSON.parse(readFileSync(`${REFERENCE}diffusers/${name}.json`, 'utf8')) as { config: Record<string, unknown>; config_json: string; image_size: number };

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

describe('template form: diffusers UNet2DModel (every config key)', () => {
  const fields = formFields(diffusersT);
  const byKey = new Map(fields.map((f) => [f.key, f]));

  it('has a field for every key of the schema: block types are lists of choices following block_out_channels, strings are text', () => {
    expect(fields.map((f) => f.key).sort()).toEqual(Object.keys(DiffusersConfig.shape).sort());
    expect(byKey.get('down_block_types')).toMatchObject({ kind: 'enums', options: ['DownBlock2D', 'AttnDownBlock2D', 'ResnetDownsampleBlock2D'], lengthOf: 'block_out_channels' });
    expect(byKey.get('up_block_types')).toMatchObject({ kind: 'enums', options: ['UpBlock2D', 'AttnUpBlock2D', 'ResnetUpsampleBlock2D'], lengthOf: 'block_out_channels' });
    expect(byKey.get('mid_block_type')).toMatchObject({ kind: 'enum', options: ['UNetMidBlock2D'], nullable: true });
    expect(byKey.get('class_embed_type')).toMatchObject({ kind: 'enum', options: [], nullable: true });
    expect(byKey.get('sample_size')).toMatchObject({ kind: 'numbers', scalar: true, nullable: true });
    expect(byKey.get('_diffusers_version')).toMatchObject({ kind: 'text', optional: true, placeholder: 'none' });
    expect(byKey.get('num_train_timesteps')).toMatchObject({ kind: 'number', optional: false, nullable: true, defaultValue: null });
    expect(byKey.get('time_embedding_type')).toMatchObject({ kind: 'enum', options: ['positional', 'learned'] });
    expect(byKey.get('act_fn')!.options).toEqual(['silu', 'swish', 'mish']);
    expect(byKey.get('block_out_channels')).toMatchObject({ kind: 'numbers', scalar: false });
  });

  it('each preset → form → kwargs gives the preset\'s config (its keys as they were, the others their defaults) and the same graph', () => {
    for (const p of DIFFUSERS_PRESETS) {
      const values = formValues(fields, { ...p.kwargs, image_size: p.imageSize });
      expect(values.down_block_types, p.name).toBe(p.kwargs.down_block_types.join(', '));
      const { kwargs, imageSize } = kwargsFromForm(fields, values);
      expect(imageSize).toBeUndefined();
      expect(kwargs, p.name).toMatchObject(p.kwargs);
      expect(DiffusersConfig.parse(kwargs), p.name).toEqual(DiffusersConfig.parse(p.kwargs));
      expect(buildFromForm(diffusersT, values), p.name).toEqual(diffusersUNet2D(p.kwargs));
    }
  });

  it('a full config.json (every key, as save_config writes it) round-trips through the form exactly, the learned one too', () => {
    for (const name of ['df-learned', 'df-openai', 'df-nomid']) {
      const c = dfCase(name);
      const values = formValuesFromConfig(diffusersT, fields, c.config_json);
      expect(kwargsFromForm(fields, values).kwargs, name).toEqual(c.config);
      expect(buildFromForm(diffusersT, values), name).toEqual(diffusersUNet2D(c.config));
    }
    const learned = formValuesFromConfig(diffusersT, fields, dfCase('df-learned').config_json);
    expect(learned).toMatchObject({ time_embedding_type: 'learned', num_train_timesteps: '1000', act_fn: 'mish', center_input_sample: true, sample_size: '8', _diffusers_version: '0.40.0.dev0' });
    // [height, width] stays a list; one number stays a number.
    expect(kwargsFromForm(fields, { ...learned, sample_size: '16, 24' }).kwargs.sample_size).toEqual([16, 24]);
    expect(kwargsFromForm(fields, { ...learned, sample_size: ' ' }).kwargs.sample_size).toBeNull();
    // An empty optional text box leaves the key out.
    expect(kwargsFromForm(fields, { ...learned, _diffusers_version: '' }).kwargs).not.toHaveProperty('_diffusers_version');
  });

  it('the block-type selects follow block_out_channels: cut, or padded with the last entry', () => {
    const values = formValues(fields, DIFFUSERS_PRESETS[0].kwargs);
    const down = byKey.get('down_block_types')!;
    expect(listEntries(down, values)).toEqual(['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D']);
    expect(listEntries(down, { ...values, block_out_channels: '64, 128' })).toEqual(['DownBlock2D', 'AttnDownBlock2D']);
    expect(listEntries(down, { ...values, block_out_channels: '64, 128, 128, 256, 256' })).toEqual(['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D']);
    expect(listEntries(down, { ...values, block_out_channels: '', down_block_types: '' })).toEqual([]);
    expect(listEntries(down, { ...values, block_out_channels: '32, 64', down_block_types: '' })).toEqual(['DownBlock2D', 'DownBlock2D']);
    // What the selects show is what is built: two levels throughout.
    const two = { ...values, block_out_channels: '64, 128' };
    expect(kwargsFromForm(fields, two).kwargs).toMatchObject({ down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['UpBlock2D', 'UpBlock2D'] });
    expect(buildFromForm(diffusersT, two).nodes.some((n) => n.name === 'down_blocks.1.attentions.0')).toBe(true);
    // A block type the app lacks, typed in by hand, is the schema's message naming the entry.
    expect(() => buildFromForm(diffusersT, { ...values, down_block_types: 'DownBlock2D, SkipDownBlock2D, DownBlock2D, DownBlock2D' })).toThrow(/down_block_types\.1: "SkipDownBlock2D" is not supported/);
  });

  it('Import config.json: bad JSON, a non-object and an unsupported value are refused by name', () => {
    expect(() => formValuesFromConfig(diffusersT, fields, '{"a": ', 'model.json')).toThrow(/^model\.json is not JSON: /);
    expect(() => formValuesFromConfig(diffusersT, fields, '[1, 2]')).toThrow(new TemplateError('config.json must hold a JSON object of diffusers UNet2DModel config keys, got a list'));
    expect(() => formValuesFromConfig(diffusersT, fields, JSON.stringify({ ...DIFFUSERS_PRESETS[0].kwargs, time_embedding_type: 'fourier' }))).toThrow(
      /^config\.json: diffusers UNet2DModel kwargs are invalid:\n {2}time_embedding_type: "fourier" is not supported/,
    );
    expect(() => formValuesFromConfig(diffusersT, fields, JSON.stringify({ _class_name: 'UNet2DConditionModel' }))).toThrow(/_class_name: "UNet2DConditionModel" is not supported/);
    // An old Hub config (fewer keys): the missing ones show their defaults.
    const values = formValuesFromConfig(diffusersT, fields, JSON.stringify({ ...DIFFUSERS_PRESETS[1].kwargs, some_future_key: 1 }));
    expect(values).toMatchObject({ block_out_channels: '128, 128, 256, 256, 512, 512', sample_size: '256', downsample_type: 'conv', add_attention: true, mid_block_type: 'UNetMidBlock2D', class_embed_type: '' });
  });
});

/** The real code's parameter count (test/reference: made with PyTorch from the published configs). */
const realParams = (file: string) => (JSON.parse(readFileSync(`${REFERENCE}${file}`, 'utf8')) as { num_parameters: number }).num_parameters;
const params = (g: ReturnType<typeof ldm>) => countParameters(analyze(g));

describe('template form: latent-diffusion UNetModel (ldm)', () => {
  const fields = formFields(ldmT);
  const byKey = new Map(fields.map((f) => [f.key, f]));

  it('num_classes (whole number, null or a string in the schema) is a nullable number: an empty box is null, so the defaults and both presets build', () => {
    expect(byKey.get('num_classes')).toMatchObject({ kind: 'number', nullable: true, placeholder: 'none' });
    expect(byKey.get('context_dim')).toMatchObject({ kind: 'number', nullable: true });
    const values = formValues(fields, ldmT.defaults.kwargs);
    expect(values).toMatchObject({ num_classes: '', context_dim: '768', use_spatial_transformer: true, channel_mult: '1, 2', attention_resolutions: '2, 1' });
    expect(kwargsFromForm(fields, values).kwargs.num_classes).toBeNull();
    expect(buildFromForm(ldmT, values)).toEqual(ldm(ldmT.defaults.kwargs));
    expect(buildFromForm(ldmT, { ...values, num_classes: '10' }).nodes.some((n) => n.name === 'label_emb')).toBe(true);
    for (const p of LDM_PRESETS) {
      const g = buildFromForm(ldmT, formValues(fields, { ...p.kwargs, image_size: p.imageSize }));
      expect(g, p.name).toEqual(ldm(p.kwargs, p.imageSize));
    }
    // SD 1.x and 2.x from the form: the real code's parameter counts.
    const [sd1, sd2] = LDM_PRESETS.map((p) => buildFromForm(ldmT, formValues(fields, { ...p.kwargs, image_size: p.imageSize })));
    expect(params(sd1!)).toBe(realParams('ldm/sd1-keys.json'));
    expect(params(sd1!)).toBe(859_520_964);
    expect(params(sd2!)).toBe(realParams('ldm/sd2-keys.json'));
  });

  it('Import config.json: bare kwargs, kwargs with image_size beside, a yaml unet_config; a wrong target is refused by name', () => {
    expect(importsConfig(ldmT)).toBe(true);
    expect(importsConfig(iddpmT)).toBe(false);
    const small = { model_channels: 32, channel_mult: [1, 2], attention_resolutions: [2], num_heads: 2, use_spatial_transformer: true, context_dim: 32, in_channels: 4, out_channels: 4, num_res_blocks: 1, legacy: false };
    const a = importConfig(ldmT, JSON.stringify({ kwargs: small, image_size: 8 }), 'small.json');
    expect(a.variant.template).toBe(ldmT);
    expect(a.missing).toEqual([]);
    expect(a.values).toMatchObject({ image_size: '8', model_channels: '32', channel_mult: '1, 2', attention_resolutions: '2', num_heads: '2', context_dim: '32', legacy: false });
    expect(buildFromForm(a.variant, a.values)).toEqual(ldm(small, 8));
    const yaml = { model: { params: { unet_config: { target: 'ldm.modules.diffusionmodules.openaimodel.UNetModel', params: { ...small, image_size: 16 } } } } };
    expect(importConfig(ldmT, JSON.stringify(yaml)).values.image_size).toBe('16');
    expect(() => importConfig(ldmT, JSON.stringify({ unet_config: { target: 'sgm.UNetModel', params: small } }), 'u.json')).toThrow(/^u\.json: UNetModel: unet_config\.target "sgm\.UNetModel" is not latent-diffusion's UNetModel/);
    expect(() => importConfig(ldmT, JSON.stringify({ ...small, context_dim: null }), 'u.json')).toThrow(/^u\.json: latent-diffusion UNetModel kwargs are invalid:\n {2}context_dim: is required with use_spatial_transformer/);
  });
});

describe('template form: diffusers UNet2DConditionModel (chosen by _class_name)', () => {
  const [plain, cond] = formVariants(diffusersT);
  const fields = formFields(cond!);
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const sd15 = diffusersT.presets.find((p) => p.name === 'sd15')!;

  it('two forms: UNet2DModel (the template itself, its fields unchanged) and UNet2DConditionModel; presets and configs pick theirs', () => {
    expect(formVariants(diffusersT).map((v) => v.id)).toEqual(['UNet2DModel', 'UNet2DConditionModel']);
    expect(plain!.template).toBe(diffusersT);
    expect(formFields(plain!)).toEqual(formFields(diffusersT));
    expect(formVariants(iddpmT).map((v) => v.id)).toEqual(['iddpm']);
    expect(variantFor(diffusersT, sd15.kwargs as Record<string, unknown>).id).toBe('UNet2DConditionModel');
    for (const p of DIFFUSERS_PRESETS) expect(variantFor(diffusersT, p.kwargs).id, p.name).toBe('UNet2DModel');
    expect(variantFor(diffusersT, {}).id).toBe('UNet2DModel');
    expect(byKey.get('down_block_types')).toMatchObject({ kind: 'enums', options: ['CrossAttnDownBlock2D', 'DownBlock2D'], lengthOf: 'block_out_channels' });
    expect(byKey.get('up_block_types')).toMatchObject({ kind: 'enums', options: ['UpBlock2D', 'CrossAttnUpBlock2D'], lengthOf: 'block_out_channels' });
    expect(byKey.get('mid_block_type')).toMatchObject({ kind: 'enum', options: ['UNetMidBlock2DCrossAttn', 'UNetMidBlock2D'], nullable: true });
    expect(byKey.get('_class_name')).toMatchObject({ kind: 'enum', options: ['UNet2DConditionModel'], nullable: false, optional: false });
    expect(byKey.get('attention_head_dim')).toMatchObject({ kind: 'numbers', scalar: true });
    expect(byKey.get('cross_attention_dim')).toMatchObject({ kind: 'numbers', scalar: true, placeholder: 'required' });
    expect(byKey.get('cross_attention_dim')!.mustFill).toMatch(/768 for SD 1\.x/);
  });

  it('preset sd15 → form → the same graph as the template builds, with the real code\'s 859,520,964 parameters', () => {
    const values = formValues(fields, { ...sd15.kwargs, image_size: sd15.imageSize });
    expect(values).toMatchObject({ _class_name: 'UNet2DConditionModel', cross_attention_dim: '768', block_out_channels: '320, 640, 1280, 1280', sample_size: '64', attention_head_dim: '8' });
    expect(kwargsFromForm(fields, values).kwargs).toMatchObject(SD15_UNET);
    const g = buildFromForm(cond!, values);
    expect(g).toEqual(diffusersUNet2DCondition(SD15_UNET, 64));
    expect(params(g)).toBe(realParams('diffusers/cond-sd15-keys.json'));
  });

  it('Import config.json: the real configs save_config wrote build the same graph; the block-type selects follow block_out_channels', () => {
    for (const name of ['cond-conv', 'cond-linear']) {
      const c = dfCase(name);
      const r = importConfig(diffusersT, c.config_json);
      expect(r.variant.id, name).toBe('UNet2DConditionModel');
      expect(r.missing, name).toEqual([]);
      expect(kwargsFromForm(fields, r.values).kwargs, name).toMatchObject({ cross_attention_dim: 24, attention_head_dim: c.config.attention_head_dim, layers_per_block: c.config.layers_per_block, use_linear_projection: c.config.use_linear_projection });
      expect(buildFromForm(r.variant, r.values), name).toEqual(diffusersUNet2DCondition(c.config));
    }
    const values = importConfig(diffusersT, dfCase('cond-conv').config_json).values;
    const down = byKey.get('down_block_types')!;
    expect(listEntries(down, { ...values, block_out_channels: '32, 32, 64' })).toEqual(['CrossAttnDownBlock2D', 'DownBlock2D', 'DownBlock2D']);
    // A UNet2DModel config still fills the UNet2DModel form.
    expect(importConfig(diffusersT, dfCase('df-learned').config_json).variant.id).toBe('UNet2DModel');
    // A value the class does not support: the schema's message, naming the file and the key.
    expect(() => importConfig(diffusersT, JSON.stringify({ ...SD15_UNET, addition_embed_type: 'text_time' }), 'unet.json')).toThrow(/^unet\.json: diffusers UNet2DConditionModel kwargs are invalid:\n {2}addition_embed_type: "text_time" is not supported/);
  });

  it('a config without cross_attention_dim: the box stays empty (not diffusers\' 1280), the import says so, and Create names the key', () => {
    const { cross_attention_dim: _, ...rest } = SD15_UNET;
    const r = importConfig(diffusersT, JSON.stringify(rest), 'unet.json');
    expect(r.variant.id).toBe('UNet2DConditionModel');
    expect(r.missing).toEqual(['cross_attention_dim']);
    expect(r.values.cross_attention_dim).toBe('');
    expect(() => buildFromForm(r.variant, r.values)).toThrow(new TemplateError(`diffusers UNet2DConditionModel: cross_attention_dim is required: ${byKey.get('cross_attention_dim')!.mustFill}`));
    const g = buildFromForm(r.variant, { ...r.values, cross_attention_dim: '768' });
    expect(g.nodes.find((n) => n.name === 'encoder_hidden_states')?.params).toMatchObject({ dim: 768 });
    // The CLI's path (the template itself) keeps diffusers' semantics: a missing key is 1280.
    expect(diffusersT.build(rest).nodes.find((n) => n.name === 'encoder_hidden_states')?.params).toMatchObject({ dim: 1280 });
  });
});
