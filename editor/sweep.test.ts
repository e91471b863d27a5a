/** Sweeps from New…'s form: parsing the listed values, the product, the names, and the refusals. */
import { describe, expect, it } from 'vitest';
import { iddpm, IDDPM_DEFAULTS, templateById } from '../graph/templates';
import { analyze, countParameters } from '../graph/analyze';
import { formFields, formValues, type FormField } from './template-form';
import { axesOf, buildSweep, initialSweepText, parseSweepValues, planSweep, sweepPlaceholder, shortKey, SWEEP_LIMIT, SweepError, sweepableFields, sweepCount, type SweepAxis } from './sweep';

const iddpmT = templateById('iddpm')!;
const fields = formFields(iddpmT);
const base = formValues(fields, iddpmT.defaults.kwargs);
const field = (key: string): FormField => fields.find((f) => f.key === key)!;
const axis = (key: string, text: string): SweepAxis => ({ field: field(key), values: parseSweepValues(field(key), text) });
const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SweepError);
    return (e as Error).message;
  }
  throw new Error('expected a SweepError');
};

describe('sweep values', () => {
  it('numbers are comma-separated; each becomes the form value and the label', () => {
    expect(parseSweepValues(field('model_channels'), '64, 96,128')).toEqual([
      { value: '64', label: '64' },
      { value: '96', label: '96' },
      { value: '128', label: '128' },
    ]);
    expect(parseSweepValues(field('dropout'), '0, 0.1')).toEqual([
      { value: '0', label: '0' },
      { value: '0.1', label: '0.1' },
    ]);
  });

  it('a list-valued kwarg takes bracketed lists or lists separated by semicolons; [] is the empty list', () => {
    const want = [
      { value: '2', label: '[2]' },
      { value: '2, 4', label: '[2,4]' },
    ];
    expect(parseSweepValues(field('attention_resolutions'), '[2]; [2,4]')).toEqual(want);
    expect(parseSweepValues(field('attention_resolutions'), '[2], [2, 4]')).toEqual(want);
    expect(parseSweepValues(field('attention_resolutions'), '2; 2 4')).toEqual(want);
    expect(parseSweepValues(field('channel_mult'), '[1,2,2], [1, 2, 2, 2], []')).toEqual([
      { value: '1, 2, 2', label: '[1,2,2]' },
      { value: '1, 2, 2, 2', label: '[1,2,2,2]' },
      { value: '', label: '[]' },
    ]);
  });

  it('none where the kwarg takes null, true/false for a checkbox', () => {
    expect(parseSweepValues(field('num_classes'), 'none, 10')).toEqual([
      { value: '', label: 'none' },
      { value: '10', label: '10' },
    ]);
    expect(parseSweepValues(field('use_scale_shift_norm'), 'false, TRUE')).toEqual([
      { value: false, label: 'false' },
      { value: true, label: 'true' },
    ]);
  });

  it('bad values are refused naming the kwarg and the value', () => {
    expect(refusal(() => parseSweepValues(field('model_channels'), '64, sixty'))).toBe('model_channels: "sixty" is not a number');
    expect(refusal(() => parseSweepValues(field('model_channels'), 'none'))).toBe('model_channels: "none" is not a number');
    expect(refusal(() => parseSweepValues(field('attention_resolutions'), '[2], [2, x]'))).toBe('attention_resolutions: "x" is not a number');
    expect(refusal(() => parseSweepValues(field('attention_resolutions'), '[2], 4'))).toBe(
      'attention_resolutions: "4" is outside the brackets: write each list in brackets, e.g. [2], [2, 4]',
    );
    expect(refusal(() => parseSweepValues(field('model_channels'), '64, 64.0'))).toBe('model_channels: 64 is listed twice');
    expect(refusal(() => parseSweepValues(field('model_channels'), ' , '))).toBe('model_channels: list at least one value');
    expect(refusal(() => parseSweepValues(field('resblock_updown'), 'yes'))).toBe('resblock_updown: "yes" is not true or false');
  });

  it('choices must be among the options', () => {
    const cond = formFields(templateById('diffusers')!);
    const act = cond.find((f) => f.key === 'act_fn')!;
    expect(act.kind).toBe('enum');
    expect(parseSweepValues(act, act.options.map(String).join(', ')).map((v) => v.value)).toEqual(act.options.map(String));
    expect(refusal(() => parseSweepValues(act, 'relu6'))).toBe(`act_fn: "relu6" is not one of ${act.options.map(String).join(', ')}`);
  });

  it('offers numbers, lists of numbers, choices and checkboxes, not lists of choices or text', () => {
    expect(sweepableFields(fields).map((f) => f.key)).toEqual(fields.map((f) => f.key));
    const df = formFields(templateById('diffusers')!);
    const offered = new Set(sweepableFields(df).map((f) => f.key));
    expect(offered.has('block_out_channels')).toBe(true);
    expect(offered.has('down_block_types')).toBe(false);
    expect(refusal(() => parseSweepValues(df.find((f) => f.key === 'down_block_types')!, 'DownBlock2D'))).toBe(
      'down_block_types cannot be swept (only numbers, lists of numbers, choices and checkboxes can)',
    );
  });
});

describe('sweep plan', () => {
  it('is the product of the lists, the first kwarg outermost, named by short keys and values', () => {
    const axes = [axis('model_channels', '64, 96, 128'), axis('attention_resolutions', '[2]; [2,4]')];
    expect(sweepCount(axes)).toBe(6);
    const plan = planSweep('iddpm', base, axes);
    expect(plan.map((p) => p.name)).toEqual([
      'iddpm mc=64 attn=[2]',
      'iddpm mc=64 attn=[2,4]',
      'iddpm mc=96 attn=[2]',
      'iddpm mc=96 attn=[2,4]',
      'iddpm mc=128 attn=[2]',
      'iddpm mc=128 attn=[2,4]',
    ]);
    expect(plan[3]!.values).toEqual({ ...base, model_channels: '96', attention_resolutions: '2, 4' });
    expect(plan[3]!.combination).toBe('model_channels=96, attention_resolutions=[2,4]');
    expect(planSweep('cifar', base, [axis('use_scale_shift_norm', 'true, false')]).map((p) => p.name)).toEqual(['cifar ussn=true', 'cifar ussn=false']);
  });

  it('short names that clash fall back to the full keys', () => {
    expect(shortKey('num_heads_upsample')).toBe('nhu');
    expect(shortKey('in_channels')).toBe('ic');
    expect(shortKey('dims')).toBe('dims');
    // in_channels and image_channels are both "ic": the names spell the keys out.
    const a: SweepAxis = { field: field('in_channels'), values: [{ value: '3', label: '3' }] };
    const b: SweepAxis = { field: { ...field('model_channels'), key: 'image_channels' }, values: [{ value: '1', label: '1' }] };
    expect(planSweep('x', base, [a, b])[0]!.name).toBe('x in_channels=3 image_channels=1');
  });

  it('refuses no kwarg, three kwargs, one kwarg twice, and more than the cap', () => {
    expect(refusal(() => planSweep('iddpm', base, []))).toBe('choose a kwarg to sweep');
    const mc = axis('model_channels', '64, 96');
    expect(refusal(() => planSweep('iddpm', base, [mc, axis('dropout', '0'), axis('num_heads', '1')]))).toBe('a sweep varies one or two kwargs, not 3');
    expect(refusal(() => planSweep('iddpm', base, [mc, mc]))).toBe('model_channels is chosen twice: pick two different kwargs');
    const big = [axis('model_channels', '32, 64, 96, 128, 160, 192'), axis('num_res_blocks', '1, 2, 3')];
    expect(sweepCount(big)).toBe(18);
    expect(refusal(() => planSweep('iddpm', base, big))).toBe(
      `model_channels (6 values) × num_res_blocks (3 values) make 18 variants; at most ${SWEEP_LIMIT} at once: list fewer values`,
    );
    expect(planSweep('iddpm', base, big, 18)).toHaveLength(18);
    expect(refusal(() => planSweep('iddpm', base, [axis('model_channels', '32, 64, 96')], 2))).toBe(
      'model_channels (3 values) makes 3 variants; at most 2 at once: list fewer values',
    );
  });
});

describe('sweep build', () => {
  it('builds each variant as the template builds its kwargs', () => {
    const plan = planSweep('iddpm', base, [axis('model_channels', '32, 64'), axis('attention_resolutions', '[2]; []')]);
    const built = buildSweep(iddpmT, plan);
    expect(built.map((b) => b.name)).toEqual(['iddpm mc=32 attn=[2]', 'iddpm mc=32 attn=[]', 'iddpm mc=64 attn=[2]', 'iddpm mc=64 attn=[]']);
    const kw = (mc: number, attn: number[]) => ({ ...IDDPM_DEFAULTS, model_channels: mc, attention_resolutions: attn });
    expect(built[1]!.graph).toEqual(iddpm(kw(32, []), 32));
    expect(built[2]!.graph).toEqual(iddpm(kw(64, [2]), 32));
    // More channels, more parameters; attention adds some.
    const params = built.map((b) => countParameters(analyze(b.graph)));
    expect(params[0]).toBeGreaterThan(params[1]!);
    expect(params[2]).toBeGreaterThan(params[0]!);
  });

  it('a combination the template refuses, or whose graph has an error, is named with its problem', () => {
    const plan = planSweep('iddpm', base, [axis('model_channels', '48, 64'), axis('num_heads', '0, 4')]);
    const message = refusal(() => buildSweep(iddpmT, plan));
    const lines = message.split('\n');
    expect(lines[0]).toBe('3 of 4 variants cannot be built:');
    expect(lines[1]).toBe('model_channels=48, num_heads=0: UNetModel kwargs are invalid: num_heads: must be at least 1');
    expect(lines[2]).toBe('model_channels=48, num_heads=4: ResBlock "input_blocks.1.0": 48 input channels are not divisible by 32 groups');
    expect(lines[3]).toBe('model_channels=64, num_heads=0: UNetModel kwargs are invalid: num_heads: must be at least 1');
    expect(lines).toHaveLength(4);
  });
});

describe('sweep panel rows', () => {
  it('rows become axes; a row without a kwarg is skipped; a kwarg the form lacks is named', () => {
    const axes = axesOf(fields, [
      { key: 'model_channels', text: '64, 96' },
      { key: '', text: 'ignored' },
    ]);
    expect(axes.map((a) => [a.field.key, a.values.map((v) => v.value)])).toEqual([['model_channels', ['64', '96']]]);
    expect(refusal(() => axesOf(fields, [{ key: 'use_fp16', text: 'true' }]))).toBe('use_fp16 is not a kwarg of this form that can be swept');
    expect(refusal(() => axesOf(fields, [{ key: 'num_heads', text: '1, x' }]))).toBe('num_heads: "x" is not a number');
  });

  it('a chosen kwarg starts from the form\'s value, every option, or both booleans', () => {
    expect(initialSweepText(field('model_channels'), base)).toBe('64');
    expect(initialSweepText(field('channel_mult'), base)).toBe('[1, 2, 2]');
    expect(initialSweepText(field('num_classes'), base)).toBe('none');
    expect(initialSweepText(field('conv_resample'), base)).toBe('true, false');
    // Each start parses back to the form's own value.
    for (const key of ['model_channels', 'channel_mult', 'num_classes', 'attention_resolutions']) {
      expect(parseSweepValues(field(key), initialSweepText(field(key), base)).map((v) => v.value), key).toEqual([base[key]]);
    }
    const act = formFields(templateById('diffusers')!).find((f) => f.key === 'act_fn')!;
    expect(initialSweepText(act, {})).toBe(act.options.map(String).join(', '));
    expect(sweepPlaceholder(field('attention_resolutions'))).toBe('lists: [2]; [2, 4]');
    expect(sweepPlaceholder(field('model_channels'))).toBe('comma-separated: 64, 96, 128');
  });
});
