/**
 * New…'s form, generated from a template's zod schema (no React here): which widget each kwarg
 * gets (number, boolean, choice, list of numbers, list of choices, text), its help text (the
 * field's `.describe()`), the form's values for a preset, the kwargs the form's values stand for,
 * and a config file read into the form.
 *
 * A list of choices (diffusers' `down_block_types`) is one select per entry; with
 * `.meta({ formLengthOf: 'other_key' })` in the schema its length follows the number of entries
 * typed in that list-of-numbers field (`block_out_channels`): cut, or padded with its last entry.
 *
 * A template whose kwargs describe more than one model class has one form per class, a
 * {@link FormVariant} (diffusers: UNet2DModel | UNet2DConditionModel, chosen by `_class_name`): the
 * dialog offers a class selector, and a preset or an imported config picks its class's form.
 */
import { z } from 'zod';
import { DiffusersCondConfig, ldmKwargsOf, SD15_UNET, unwrapConfig, type ImageSize, type Template } from '../graph/templates';
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
  /**
   * Set for a key a config must state: when the kwargs lack it the box stays empty (not the
   * schema's default) and Create names it with this reason.
   */
  readonly mustFill?: string;
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

/** `null` is one of the field's values: `.nullable()`, `z.null()`, or a union with a `null` branch (ldm's num_classes). */
function takesNull(u: Unwrapped): boolean {
  if (u.nullable || u.inner instanceof z.ZodNull) return true;
  return u.inner instanceof z.ZodUnion && (u.inner.options as readonly z.ZodType[]).some((o) => takesNull(unwrap(o)));
}

const show = (v: unknown): string => (v === undefined || v === null ? '' : Array.isArray(v) ? v.join(', ') : String(v));

/**
 * One form of a template: the template itself, or (for a template whose kwargs describe several
 * model classes) one class's schema and fields; `template.build` is always the template's own.
 */
export interface FormVariant {
  /** The class selector's value (diffusers: the `_class_name`). */
  readonly id: string;
  /** The template as this form sees it: its schema, formFields and defaults are the class's. */
  readonly template: Template;
  /** Whether a preset's or a config's kwargs are for this form. */
  readonly matches: (kwargs: Readonly<Record<string, unknown>>) => boolean;
  /** Keys a config must state (see {@link FormField.mustFill}), with the reason Create gives. */
  readonly mustFill?: Readonly<Record<string, string>>;
  /** Lists of choices whose entry count follows a list-of-numbers field (besides the schema's `formLengthOf`). */
  readonly lengthOf?: Readonly<Record<string, string>>;
}

const isVariant = (t: Template | FormVariant): t is FormVariant => 'template' in t && 'matches' in t;
const asVariant = (t: Template | FormVariant): FormVariant => (isVariant(t) ? t : { id: t.id, template: t, matches: () => true });

const COND_CLASS = 'UNet2DConditionModel';
const classOf = (kwargs: Readonly<Record<string, unknown>>): unknown => kwargs._class_name;

/**
 * UNet2DConditionModel's form on the `diffusers` tab: the keys that shape the model (and the
 * bookkeeping keys a config.json carries); the keys only one value of which is supported stay out
 * (a config with another value is refused by the schema, naming the key). `cross_attention_dim` must
 * be stated: diffusers' default (1280) fits no Stable Diffusion (SD 1.x uses 768, SD 2.x 1024), so a
 * config without it leaves the box empty rather than filling in 1280 unseen.
 */
const COND_FIELDS = [
  'sample_size', 'in_channels', 'out_channels', 'block_out_channels', 'down_block_types', 'up_block_types', 'mid_block_type', 'layers_per_block',
  'cross_attention_dim', 'attention_head_dim', 'transformer_layers_per_block', 'norm_num_groups', 'norm_eps', 'act_fn', 'resnet_time_scale_shift',
  'time_embedding_dim', 'freq_shift', 'downsample_padding', 'mid_block_scale_factor', 'dropout', 'num_class_embeds', 'conv_in_kernel', 'conv_out_kernel',
  '_class_name', '_diffusers_version', '_name_or_path',
  'flip_sin_to_cos', 'center_input_sample', 'use_linear_projection', 'upcast_attention',
] as const satisfies readonly (keyof typeof DiffusersCondConfig.shape)[];

/** The forms of templates with more than one model class, by template id (the first is the template's own form). */
function extraVariants(t: Template): FormVariant[] {
  if (t.id !== 'diffusers') return [];
  const cond: Template = {
    ...t,
    label: `diffusers ${COND_CLASS}`,
    schema: DiffusersCondConfig,
    formFields: COND_FIELDS,
    defaults: { label: 'sd15', kwargs: SD15_UNET },
  };
  return [
    {
      id: COND_CLASS,
      template: cond,
      matches: (k) => classOf(k) === COND_CLASS,
      mustFill: {
        cross_attention_dim:
          "give the width of the encoder_hidden_states tokens (768 for SD 1.x's CLIP, 1024 for SD 2.x's OpenCLIP); diffusers' default, 1280, is not filled in for you",
      },
      lengthOf: { down_block_types: 'block_out_channels', up_block_types: 'block_out_channels' },
    },
  ];
}

/**
 * The forms New… offers for a template: its own (named by the class it stands for when there are
 * others: diffusers' UNet2DModel), then one per other model class.
 */
export function formVariants(t: Template): readonly FormVariant[] {
  const extra = extraVariants(t);
  if (extra.length === 0) return [asVariant(t)];
  const own: FormVariant = { id: t.id === 'diffusers' ? 'UNet2DModel' : t.id, template: t, matches: (k) => !extra.some((v) => v.matches(k)) };
  return [own, ...extra];
}

/** The form for these kwargs (a preset's, a config's): the first whose class they are for. */
export function variantFor(t: Template, kwargs: Readonly<Record<string, unknown>>): FormVariant {
  const all = formVariants(t);
  return all.find((v) => v.matches(kwargs)) ?? all[0]!;
}

/**
 * The fields New… shows for a template (or one of its forms): its `formFields` in order, or else
 * every field with a widget and more than one allowed value (a field with one allowed value is no choice).
 */
export function formFields(form: Template | FormVariant): FormField[] {
  const v = asVariant(form);
  const t = v.template;
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
    const nullable = takesNull(u);
    const lengthOf = k.kind === 'enums' ? (v.lengthOf?.[key] ?? schema.meta()?.formLengthOf) : undefined;
    if (lengthOf !== undefined && (typeof lengthOf !== 'string' || kindOf(shape[lengthOf] ?? z.never())?.kind !== 'numbers')) {
      throw new Error(`template ${t.id}: ${key}'s formLengthOf must name a list-of-numbers field, got ${String(lengthOf)}`);
    }
    const mustFill = v.mustFill?.[key];
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
      placeholder: mustFill !== undefined ? 'required' : nullable || (optional && defaultValue === undefined) ? 'none' : show(defaultValue),
      ...(mustFill !== undefined ? { mustFill } : {}),
    });
  }
  return out;
}

/** The form's values for these kwargs (a missing key shows the schema's default). */
export function formValues(fields: readonly FormField[], kwargs: Readonly<Record<string, unknown>>): FormValues {
  const values: Record<string, string | boolean> = {};
  for (const f of fields) {
    // A key the config must state shows empty when it does not (never the default, unseen).
    const v = kwargs[f.key] === undefined ? (f.mustFill !== undefined ? undefined : f.defaultValue) : kwargs[f.key];
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

/**
 * The graph New… creates from the form's values (a form of the template, or the template's own);
 * an empty box that must be filled is a {@link TemplateError} naming its key and why.
 */
export function buildFromForm(form: Template | FormVariant, values: FormValues) {
  const t = asVariant(form).template;
  const fields = formFields(form);
  const empty = fields.filter((f) => f.mustFill !== undefined && String(values[f.key] ?? '').trim() === '');
  if (empty.length > 0) throw new TemplateError(`${t.label}: ${empty.map((f) => `${f.key} is required: ${f.mustFill}`).join('\n')}`);
  const { kwargs, imageSize } = kwargsFromForm(fields, values);
  return t.build(kwargs, imageSize);
}

/** Templates whose New… tab offers "Import config.json" (their kwargs are a file people have). */
const IMPORTS_CONFIG: ReadonlySet<string> = new Set(['diffusers', 'ldm']);

/** Whether New… offers "Import config.json" for this template. */
export const importsConfig = (t: Template): boolean => IMPORTS_CONFIG.has(t.id);

/** The text as a JSON object, or a {@link TemplateError} naming the file and what it holds instead. */
function configObject(text: string, fileName: string, what: string): Readonly<Record<string, unknown>> {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new TemplateError(`${fileName} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TemplateError(`${fileName} must hold a JSON object of ${what} config keys, got ${Array.isArray(config) ? 'a list' : config === null ? 'null' : typeof config}`);
  }
  return config as Readonly<Record<string, unknown>>;
}

/**
 * The kwargs inside a config file, and the image size it gives: latent-diffusion's may be bare,
 * under `kwargs` (with `image_size` beside), a yaml's `unet_config` or a whole inference yaml as JSON.
 */
function kwargsInConfig(t: Template, config: Readonly<Record<string, unknown>>): { kwargs: unknown; imageSize?: number } {
  if (t.id !== 'ldm') return { kwargs: config };
  const u = unwrapConfig(config);
  return { ...u, kwargs: ldmKwargsOf(u.kwargs) };
}

const withFile = (e: unknown, fileName: string): unknown => (e instanceof TemplateError ? new TemplateError(`${fileName}: ${e.message}`) : e);

/**
 * A config file (the Hub's config.json, latent-diffusion's kwargs) read into a form: the text must
 * be a JSON object that the form's schema accepts (its problems listed by key, as the template names
 * them); keys the form has no field for are ignored. Throws a {@link TemplateError} naming the file
 * and the problem.
 */
export function formValuesFromConfig(form: Template | FormVariant, fields: readonly FormField[], text: string, fileName = 'config.json'): FormValues {
  const t = asVariant(form).template;
  return valuesOfConfig(t, fields, configObject(text, fileName, t.label), fileName);
}

function valuesOfConfig(t: Template, fields: readonly FormField[], config: Readonly<Record<string, unknown>>, fileName: string): FormValues {
  return kwargsOfConfig(t, fields, config, fileName).values;
}

function kwargsOfConfig(t: Template, fields: readonly FormField[], config: Readonly<Record<string, unknown>>, fileName: string): { kwargs: Readonly<Record<string, unknown>>; values: FormValues } {
  let found: { kwargs: unknown; imageSize?: number };
  try {
    found = kwargsInConfig(t, config);
    parseOrThrow(t.schema, found.kwargs, t.label);
  } catch (e) {
    throw withFile(e, fileName);
  }
  const kwargs = found.kwargs as Readonly<Record<string, unknown>>; // the schema accepted it: an object
  return { kwargs, values: formValues(fields, found.imageSize === undefined ? kwargs : { ...kwargs, image_size: found.imageSize }) };
}

/**
 * "Import config.json": the form the file is for (diffusers: by its `_class_name`), the form's values,
 * and the keys it must state but does not (their boxes stay empty; the dialog says so).
 */
export function importConfig(t: Template, text: string, fileName = 'config.json'): { variant: FormVariant; values: FormValues; missing: string[] } {
  const config = configObject(text, fileName, t.label);
  const variant = variantFor(t, config);
  const fields = formFields(variant);
  const { kwargs, values } = kwargsOfConfig(variant.template, fields, config, fileName);
  const missing = fields.filter((f) => f.mustFill !== undefined && kwargs[f.key] === undefined).map((f) => f.key);
  return { variant, values, missing };
}
