/**
 * Sweeps from New…'s form (no React here): vary one or two of a template's kwargs over listed values
 * and build one variant per combination (the product of the lists), named after the values it takes
 * (`iddpm mc=64 attn=[2]`).
 *
 * Values are typed as the form shows them: numbers and choices comma-separated (`64, 96, 128`); a
 * list-valued kwarg (`attention_resolutions`) takes a list of lists, either bracketed
 * (`[2], [2, 4]`) or separated by semicolons (`2; 2, 4`); `[]` is the empty list; `none` is null
 * where the kwarg takes null; booleans are `true, false`.
 */
import { analyze } from '../graph/analyze';
import type { Graph } from '../graph/model';
import { buildFromForm, formFields, type FormField, type FormValues, type FormVariant } from './template-form';
import type { Template } from '../graph/templates';

/** The most variants one sweep creates. */
export const SWEEP_LIMIT = 16;

/** A sweep that cannot be made; the message names the kwarg and the value (or the combination). */
export class SweepError extends Error {
  override name = 'SweepError';
}

/** One value of a swept kwarg: the form's value it stands for, and how a variant's name shows it. */
export interface SweepValue {
  readonly value: string | boolean;
  readonly label: string;
}

/** One swept kwarg: its field and its values (as parsed by {@link parseSweepValues}). */
export interface SweepAxis {
  readonly field: FormField;
  readonly values: readonly SweepValue[];
}

/** One planned variant: its name and the form's values it is built from. */
export interface PlannedVariant {
  readonly name: string;
  readonly values: FormValues;
  /** The swept kwargs and values, for messages: `model_channels=64, attention_resolutions=[2]`. */
  readonly combination: string;
}

/** The kinds of field a sweep can vary (lists of choices and free text are not offered). */
const SWEEPABLE: ReadonlySet<FormField['kind']> = new Set(['number', 'numbers', 'enum', 'boolean']);

/** The form's fields a sweep can vary, in the form's order. */
export const sweepableFields = (fields: readonly FormField[]): FormField[] => fields.filter((f) => SWEEPABLE.has(f.kind));

/** Short names for the kwargs people sweep most; any other kwarg goes by the initials of its words. */
const SHORT: Readonly<Record<string, string>> = {
  model_channels: 'mc',
  attention_resolutions: 'attn',
  channel_mult: 'mult',
  num_res_blocks: 'res',
  num_heads: 'heads',
  num_head_channels: 'head_ch',
  dropout: 'drop',
  image_size: 'size',
  block_out_channels: 'ch',
  layers_per_block: 'layers',
  attention_head_dim: 'head_dim',
  widths: 'widths',
};

/** How a variant's name shows a kwarg: a known short name, or the initials of its words (`use_scale_shift_norm` → `ussn`). */
export function shortKey(key: string): string {
  const known = SHORT[key];
  if (known !== undefined) return known;
  const words = key.split('_').filter((w) => w !== '');
  return words.length > 1 ? words.map((w) => w[0]).join('') : key;
}

const quote = (s: string): string => JSON.stringify(s);

/** A number as typed, or a {@link SweepError} naming the kwarg and the text. */
function numberOf(key: string, text: string): number {
  const n = Number(text);
  if (text === '' || !Number.isFinite(n)) throw new SweepError(`${key}: ${quote(text)} is not a number`);
  return n;
}

/** The lists a list-valued kwarg's text holds: bracketed (`[2], [2, 4]`) or separated by `;` (`2; 2, 4`). */
function listsOf(key: string, text: string): string[] {
  if (!text.includes('[') && !text.includes(']')) return text.split(';').map((s) => s.trim()).filter((s) => s !== '');
  const lists: string[] = [];
  // Bracketed lists, with only commas, semicolons and spaces between them.
  const rest = text.replace(/\[([^[\]]*)\]/g, (_, inner: string) => {
    lists.push(inner.trim());
    return ' ';
  });
  const stray = rest.replace(/[\s,;]/g, '');
  if (stray !== '') throw new SweepError(`${key}: ${quote(stray)} is outside the brackets: write each list in brackets, e.g. [2], [2, 4]`);
  return lists;
}

/**
 * The values typed for a swept kwarg, or a {@link SweepError} naming the kwarg and the value at
 * fault (not a number, not an allowed choice, a value twice, none at all).
 */
export function parseSweepValues(field: FormField, text: string): SweepValue[] {
  const key = field.key;
  if (!SWEEPABLE.has(field.kind)) throw new SweepError(`${key} cannot be swept (only numbers, lists of numbers, choices and checkboxes can)`);
  const none = (s: string) => (field.nullable || field.optional) && /^(none|null)$/i.test(s);
  const out: SweepValue[] = [];
  if (field.kind === 'numbers') {
    for (const list of listsOf(key, text)) {
      if (none(list)) {
        out.push({ value: '', label: 'none' });
        continue;
      }
      const items = list.split(/[\s,]+/).filter((x) => x !== '');
      const nums = items.map((x) => numberOf(key, x));
      out.push({ value: nums.join(', '), label: `[${nums.join(',')}]` });
    }
  } else {
    for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      if (field.kind === 'boolean') {
        if (!/^(true|false)$/i.test(item)) throw new SweepError(`${key}: ${quote(item)} is not true or false`);
        const b = item.toLowerCase() === 'true';
        out.push({ value: b, label: String(b) });
      } else if (none(item)) out.push({ value: '', label: 'none' });
      else if (field.kind === 'enum') {
        const option = field.options.find((o) => String(o) === item);
        if (option === undefined) throw new SweepError(`${key}: ${quote(item)} is not one of ${field.options.map(String).join(', ')}`);
        out.push({ value: String(option), label: String(option) });
      } else {
        const n = numberOf(key, item);
        out.push({ value: String(n), label: String(n) });
      }
    }
  }
  if (out.length === 0) throw new SweepError(`${key}: list at least one value`);
  const seen = new Set<string>();
  for (const v of out) {
    if (seen.has(v.label)) throw new SweepError(`${key}: ${v.label} is listed twice`);
    seen.add(v.label);
  }
  return out;
}

/** The number of variants a sweep makes: the product of its value counts. */
export const sweepCount = (axes: readonly SweepAxis[]): number => axes.reduce((n, a) => n * a.values.length, axes.length === 0 ? 0 : 1);

/**
 * The variants of a sweep over one or two kwargs: every combination of their values (the first
 * kwarg's values outermost), each named `<prefix> <short>=<value> …`. Refuses no kwarg, more than
 * two, the same kwarg twice, and more than `limit` variants, with a message that says so.
 */
export function planSweep(prefix: string, base: FormValues, axes: readonly SweepAxis[], limit = SWEEP_LIMIT): PlannedVariant[] {
  if (axes.length === 0) throw new SweepError('choose a kwarg to sweep');
  if (axes.length > 2) throw new SweepError(`a sweep varies one or two kwargs, not ${axes.length}`);
  const [a, b] = axes;
  if (b && a!.field.key === b.field.key) throw new SweepError(`${a!.field.key} is chosen twice: pick two different kwargs`);
  const count = sweepCount(axes);
  if (count > limit) {
    const sizes = axes.map((x) => `${x.field.key} (${x.values.length} value${x.values.length === 1 ? '' : 's'})`).join(' × ');
    throw new SweepError(`${sizes} make${axes.length === 1 ? 's' : ''} ${count} variants; at most ${limit} at once: list fewer values`);
  }
  // Short names must tell the two kwargs apart; if they do not, the full keys do.
  const clash = b !== undefined && shortKey(a!.field.key) === shortKey(b.field.key);
  const label = (f: FormField) => (clash ? f.key : shortKey(f.key));
  let combos: { values: FormValues; parts: string[]; named: string[] }[] = [{ values: base, parts: [], named: [] }];
  for (const axis of axes) {
    combos = combos.flatMap((c) =>
      axis.values.map((v) => ({
        values: { ...c.values, [axis.field.key]: v.value },
        parts: [...c.parts, `${label(axis.field)}=${v.label}`],
        named: [...c.named, `${axis.field.key}=${v.label}`],
      })),
    );
  }
  return combos.map((c) => ({ name: [prefix, ...c.parts].join(' ').trim(), values: c.values, combination: c.named.join(', ') }));
}

/**
 * Builds every planned variant and checks its graph. A variant the template refuses, or whose graph
 * has an error, makes a {@link SweepError} that lists each failing combination with its problem.
 */
export function buildSweep(form: Template | FormVariant, planned: readonly PlannedVariant[]): { name: string; graph: Graph }[] {
  const out: { name: string; graph: Graph }[] = [];
  const failures: string[] = [];
  for (const p of planned) {
    try {
      const graph = buildFromForm(form, p.values);
      const error = analyze(graph).problems.find((x) => x.severity === 'error');
      if (error) failures.push(`${p.combination}: ${error.message}`);
      else out.push({ name: p.name, graph });
    } catch (e) {
      // One line per combination: a template's message lists its problems on indented lines.
      const message = (e instanceof Error ? e.message : String(e)).split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
      failures.push(`${p.combination}: ${message}`);
    }
  }
  if (failures.length > 0) {
    throw new SweepError(`${failures.length} of ${planned.length} variant${planned.length === 1 ? '' : 's'} cannot be built:\n${failures.join('\n')}`);
  }
  return out;
}

/** The sweep's fields for a form (a template or one of its model classes). */
export const sweepFieldsOf = (form: Template | FormVariant): FormField[] => sweepableFields(formFields(form));

/** One row of the sweep panel: the kwarg chosen ('' for none) and the values typed. */
export interface SweepRow {
  readonly key: string;
  readonly text: string;
}

/** The axes of the panel's rows (a row without a kwarg is skipped); a kwarg the form lacks, or a bad value, is a {@link SweepError}. */
export function axesOf(fields: readonly FormField[], rows: readonly SweepRow[]): SweepAxis[] {
  return rows
    .filter((r) => r.key !== '')
    .map((r) => {
      const field = sweepableFields(fields).find((f) => f.key === r.key);
      if (!field) throw new SweepError(`${r.key} is not a kwarg of this form that can be swept`);
      return { field, values: parseSweepValues(field, r.text) };
    });
}

/**
 * The values a row starts with when its kwarg is chosen: the form's current value (a list in
 * brackets, `none` for an empty box that means null), every option of a choice, or both booleans.
 */
export function initialSweepText(field: FormField, values: FormValues): string {
  const v = values[field.key];
  if (field.kind === 'boolean') return 'true, false';
  if (field.kind === 'enum') return field.options.map(String).join(', ');
  const s = typeof v === 'string' ? v.trim() : '';
  if (s === '') return field.nullable || field.optional ? 'none' : '';
  return field.kind === 'numbers' ? `[${s}]` : s;
}

/** What a row's box shows while empty: how to write the kwarg's values. */
export function sweepPlaceholder(field: FormField): string {
  switch (field.kind) {
    case 'numbers':
      return 'lists: [2]; [2, 4]';
    case 'boolean':
      return 'true, false';
    case 'enum':
      return field.options.map(String).join(', ');
    default:
      return 'comma-separated: 64, 96, 128';
  }
}
