/**
 * New…'s form, generated from a template's zod schema (no React here): which widget each kwarg
 * gets (number, boolean, choice, list of numbers, list of choices, text), its help text (the
 * field's `.describe()`), the form's values for a preset, the kwargs the form's values stand for,
 * and a config file read into the form.
 *
 * A list of choices (diffusers' `down_block_types`) is one select per entry; with
 * `.meta({ formLengthOf: 'other_key' })` in the schema its length follows the number of entries
 * typed in that list-of-numbers field (`block_out_channels`): cut, or padded with its last entry.
 */
import { z } from 'zod';
import type { ImageSize, Template } from '../graph/templates';
import { parseOrThrow, TemplateError } from '../graph/templates/common';

export type FieldKind = 'number' | 'boolean' | 'enum' | 'numbers' | 'enums' | 'text';

export interface FormField {
  readonly key: string;
  readonly kind: FieldKind;
  /** The field's description (its `.describe()`). */
  readonly help: string;
  /** An empty box means `null`. */
  readonly nullable: boolean;
  /** An empty box leaves the key out (the field is optional, has no default and is not nullable). */
  readonly optional: boolean;
  /** For `enum` and `enums`: the allowed values, in order. */
  readonly options: readonly (string | number | boolean)[];
  /** For `numbers`: one entry means that number (the schema takes one number or a list). */
  readonly scalar: boolean;
  /** For `enums`: the list-of-numbers field whose entry count sets this list's length. */
  readonly lengthOf?: string;
  /** The schema's default, if it has one. */
  readonly defaultValue: unknown;
  /** Shown in an empty box. */
  readonly placeholder: string;
}

/** A text box's string, or a checkbox's state. */
export type FormValues = Readonly<Record<string, string | boolean>>;

interface Unwrapped {
  readonly inner: z.ZodType;
  readonly nullable: boolean;
  readonly optional: boolean;
  readonly defaultValue: unknown;
}

/** Peels `.optional()`, `.nullable()` and `.default()` off a field. */
function unwrap(schema: z.ZodType): Unwrapped {
  let inner: z.ZodType = schema;
  let nullable = false;
  let optional = false;
  let defaultValue: unknown = undefined;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      defaultValue = inner.def.defaultValue;
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodOptional) {
      optional = true;
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodNullable) {
      nullable = true;
      inner = inner.unwrap() as z.ZodType;
    } else return { inner, nullable, optional, defaultValue };
  }
}

interface Widget {
  readonly kind: FieldKind;
  readonly options: readonly (string | number | boolean)[];
  readonly scalar: boolean;
}

const widget = (kind: FieldKind, options: readonly (string | number | boolean)[] = [], scalar = false): Widget => ({ kind, options, scalar });

/**
 * The widget for a schema, or null for none. A list (or tuple) of numbers is `numbers`, of choices
 * `enums`; a union takes its list branch ("2, 4"), and one entry stands for one number when the
 * union also takes a plain number (diffusers' sample_size: 32 or [16, 24]). `null` alone is a
 * choice of none (a key whose only supported value is null).
 */
function kindOf(schema: z.ZodType): Widget | null {
  const { inner } = unwrap(schema);
  if (inner instanceof z.ZodNumber) return widget('number');
  if (inner instanceof z.ZodBoolean) return widget('boolean');
  if (inner instanceof z.ZodString) return widget('text');
  if (inner instanceof z.ZodNull) return widget('enum');
  if (inner instanceof z.ZodArray) {
    const el = kindOf(inner.element as z.ZodType);
    return el?.kind === 'number' ? widget('numbers') : el?.kind === 'enum' ? widget('enums', el.options) : null;
  }
  if (inner instanceof z.ZodTuple) {
    const items = (inner.def.items as readonly z.ZodType[]).map(kindOf);
    return items.length > 0 && items.every((k) => k?.kind === 'number') ? widget('numbers') : null;
  }
  if (inner instanceof z.ZodEnum) return widget('enum', inner.options);
  if (inner instanceof z.ZodLiteral) {
    const values = [...inner.values].filter((v): v is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof v));
    return widget('enum', values);
  }
  if (inner instanceof z.ZodUnion) {
    const kinds = (inner.options as readonly z.ZodType[]).map(kindOf);
    const list = kinds.find((k) => k?.kind === 'numbers');
    if (list) return widget('numbers', [], kinds.some((k) => k?.kind === 'number'));
    return kinds.find((k) => k !== null) ?? null;
  }
  return null;
}

const show = (v: unknown): string => (v === undefined || v === null ? '' : Array.isArray(v) ? v.join(', ') : String(v));

/**
 * The fields New… shows for a template: its `formFields` in order, or else every field with a
 * widget and more than one allowed value (a field with one allowed value is no choice).
 */
export function formFields(t: Template): FormField[] {
  const shape = t.schema.shape as Readonly<Record<string, z.ZodType>>;
  const out: FormField[] = [];
  for (const key of t.formFields ?? Object.keys(shape)) {
    const schema = shape[key];
    if (!schema) throw new Error(`template ${t.id}: formFields names ${key}, which its schema lacks`);
    const k = kindOf(schema);
    if (!k) throw new Error(`template ${t.id}: ${key} has no form widget (numbers, booleans, text, choices and lists of numbers or choices have)`);
    if (t.formFields === undefined && k.kind === 'enum' && k.options.length < 2) continue;
    const u = unwrap(schema);
    const { optional, defaultValue } = u;
    const nullable = u.nullable || u.inner instanceof z.ZodNull;
    const lengthOf = k.kind === 'enums' ? schema.meta()?.formLengthOf : undefined;
    if (lengthOf !== undefined && (typeof lengthOf !== 'string' || kindOf(shape[lengthOf] ?? z.never())?.kind !== 'numbers')) {
      throw new Error(`template ${t.id}: ${key}'s formLengthOf must name a list-of-numbers field, got ${String(lengthOf)}`);
    }
    out.push({
      key,
      kind: k.kind,
      help: schema.description ?? '',
      nullable,
      optional: optional && defaultValue === undefined,
      options: k.options,
      scalar: k.scalar,
      ...(typeof lengthOf === 'string' ? { lengthOf } : {}),
      defaultValue,
      placeholder: nullable || (optional && defaultValue === undefined) ? 'none' : show(defaultValue),
    });
  }
  return out;
}

/** The form's values for these kwargs (a missing key shows the schema's default). */
export function formValues(fields: readonly FormField[], kwargs: Readonly<Record<string, unknown>>): FormValues {
  const values: Record<string, string | boolean> = {};
  for (const f of fields) {
    const v = kwargs[f.key] === undefined ? f.defaultValue : kwargs[f.key];
    values[f.key] = f.kind === 'boolean' ? (typeof v === 'boolean' ? v : false) : show(v);
  }
  return values;
}

const numbers = (s: string): number[] => s.split(/[\s,]+/).filter((x) => x !== '').map(Number);
const entries = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x !== '');

/** A list of choices as the form keeps it: its entries joined with ", ". */
export const joinEntries = (list: readonly string[]): string => list.join(', ');

/**
 * The entries a list-of-choices field shows (one select each): its own entries, cut or padded
 * (with the last entry, or the first option) to the entry count of its `lengthOf` field when that
 * has any entries.
 */
export function listEntries(field: FormField, values: FormValues): string[] {
  const v = values[field.key];
  const own = entries(typeof v === 'string' ? v : '');
  if (field.lengthOf === undefined) return own;
  const of = values[field.lengthOf];
  const n = numbers(typeof of === 'string' ? of : '').length;
  if (n === 0) return own;
  const pad = own.length > 0 ? own[own.length - 1] : String(field.options[0] ?? '');
  return Array.from({ length: n }, (_, i) => own[i] ?? pad);
}

/**
 * The kwargs the form's values stand for, unvalidated (the template's schema names what is wrong).
 * `image_size` becomes the image size `build` takes, so its message names the height or width.
 */
export function kwargsFromForm(fields: readonly FormField[], values: FormValues): { kwargs: Record<string, unknown>; imageSize?: ImageSize } {
  const kwargs: Record<string, unknown> = {};
  let imageSize: ImageSize | undefined;
  for (const f of fields) {
    const v = values[f.key];
    let value: unknown;
    if (f.kind === 'boolean') value = v === true;
    else {
      const s = typeof v === 'string' ? v : '';
      if (s.trim() === '' && f.kind !== 'enums' && (f.optional || f.nullable)) {
        // An empty box: null, or the key left out (optional, no default, not nullable).
        if (f.optional && !f.nullable) continue;
        value = null;
      } else if (f.kind === 'numbers') {
        const list = numbers(s);
        value = f.scalar && list.length === 1 ? list[0] : list;
      } else if (f.kind === 'enums') value = listEntries(f, values);
      else if (f.kind === 'enum') value = f.options.find((o) => String(o) === s) ?? s;
      else if (f.kind === 'text') value = s;
      else value = Number(s);
    }
    if (f.key === 'image_size' && typeof value === 'number') imageSize = value;
    else kwargs[f.key] = value;
  }
  return imageSize === undefined ? { kwargs } : { kwargs, imageSize };
}

/** The graph New… creates from the form's values. */
export function buildFromForm(t: Template, values: FormValues) {
  const fields = formFields(t);
  const { kwargs, imageSize } = kwargsFromForm(fields, values);
  return t.build(kwargs, imageSize);
}

/**
 * A config file (the Hub's config.json) read into the form: the text must be a JSON object that the
 * template's schema accepts (its problems listed by key, as the template names them); keys the
 * form has no field for are ignored. Throws a {@link TemplateError} naming the file and the problem.
 */
export function formValuesFromConfig(t: Template, fields: readonly FormField[], text: string, fileName = 'config.json'): FormValues {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new TemplateError(`${fileName} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TemplateError(`${fileName} must hold a JSON object of ${t.label} config keys, got ${Array.isArray(config) ? 'a list' : config === null ? 'null' : typeof config}`);
  }
  try {
    parseOrThrow(t.schema, config, t.label);
  } catch (e) {
    throw e instanceof TemplateError ? new TemplateError(`${fileName}: ${e.message}`) : e;
  }
  return formValues(fields, config as Readonly<Record<string, unknown>>);
}
