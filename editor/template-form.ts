/**
 * New…'s form, generated from a template's zod schema (no React here): which widget each kwarg
 * gets (number, boolean, choice, list of numbers), its help text (the field's `.describe()`), the
 * form's values for a preset, and the kwargs the form's values stand for.
 */
import { z } from 'zod';
import type { ImageSize, Template } from '../graph/templates';

export type FieldKind = 'number' | 'boolean' | 'enum' | 'numbers';

export interface FormField {
  readonly key: string;
  readonly kind: FieldKind;
  /** The field's description (its `.describe()`). */
  readonly help: string;
  /** An empty box means `null`. */
  readonly nullable: boolean;
  /** For `enum`: the allowed values, in order. */
  readonly options: readonly (string | number | boolean)[];
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
  readonly defaultValue: unknown;
}

/** Peels `.optional()`, `.nullable()` and `.default()` off a field. */
function unwrap(schema: z.ZodType): Unwrapped {
  let inner: z.ZodType = schema;
  let nullable = false;
  let defaultValue: unknown = undefined;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      defaultValue = inner.def.defaultValue;
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
    else if (inner instanceof z.ZodNullable) {
      nullable = true;
      inner = inner.unwrap() as z.ZodType;
    } else return { inner, nullable, defaultValue };
  }
}

/** The widget for a schema (a union takes its list branch: "2, 4" or one number), or null for none. */
function kindOf(schema: z.ZodType): { kind: FieldKind; options: readonly (string | number | boolean)[] } | null {
  const { inner } = unwrap(schema);
  if (inner instanceof z.ZodNumber) return { kind: 'number', options: [] };
  if (inner instanceof z.ZodBoolean) return { kind: 'boolean', options: [] };
  if (inner instanceof z.ZodArray) return kindOf(inner.element as z.ZodType)?.kind === 'number' ? { kind: 'numbers', options: [] } : null;
  if (inner instanceof z.ZodEnum) return { kind: 'enum', options: inner.options };
  if (inner instanceof z.ZodLiteral) {
    const values = [...inner.values].filter((v): v is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof v));
    return { kind: 'enum', options: values };
  }
  if (inner instanceof z.ZodUnion) {
    const kinds = (inner.options as readonly z.ZodType[]).map(kindOf);
    return kinds.find((k) => k?.kind === 'numbers') ?? kinds.find((k) => k !== null) ?? null;
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
    if (!k) throw new Error(`template ${t.id}: ${key} has no form widget (numbers, booleans, choices and lists of numbers have)`);
    if (t.formFields === undefined && k.kind === 'enum' && k.options.length < 2) continue;
    const { nullable, defaultValue } = unwrap(schema);
    out.push({
      key,
      kind: k.kind,
      help: schema.description ?? '',
      nullable,
      options: k.options,
      defaultValue,
      placeholder: nullable ? 'none' : show(defaultValue),
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
      if (f.kind === 'numbers') value = numbers(s);
      else if (f.kind === 'enum') value = f.options.find((o) => String(o) === s) ?? s;
      else value = f.nullable && s.trim() === '' ? null : Number(s);
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
