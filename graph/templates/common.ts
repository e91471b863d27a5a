/**
 * What every template shares: the {@link Template} shape, the kwarg limits and schema helpers
 * (every message names the key and the limit), parsing with readable errors, and image sizes.
 */
import { z } from 'zod';
import type { Graph } from '../model';
import type { GraphBuilder } from '../builder';
import type { ParamValue } from '../../blocks/types';
import { blockDef, type BlockType } from '../../blocks/registry';

export class TemplateError extends Error {
  override name = 'TemplateError';
}

/** The upper bound a block declares for an integer parameter (one source for the limits below). */
function blockLimit(type: BlockType, param: string): number {
  const spec = blockDef(type).params[param];
  if (spec?.type !== 'int') throw new Error(`templates: ${type}.${param} is not an integer parameter`);
  return spec.max;
}

/**
 * Every kwarg is bounded, with a message naming the limit: generous enough for every published
 * improved/guided-diffusion config (and far beyond), small enough that any accepted config gives a
 * graph of a few thousand blocks at most that builds, serialises and checks in well under a second.
 */
export const TEMPLATE_LIMITS = {
  /** Image side in pixels (height and width): the Image input block's limit. */
  image_size: blockLimit('ImageInput', 'height'),
  /** in_channels, out_channels, n_channels, n_classes */
  io_channels: blockLimit('ImageInput', 'channels'),
  /** model_channels, and every level's width (model_channels × channel_mult[i], widths[i]): a conv's limit. */
  channels: blockLimit('Conv2d', 'out_channels'),
  /** Published configs use 2–3. */
  num_res_blocks: 32,
  /** Entries of channel_mult (published: up to 7) and widths. */
  levels: 16,
  channel_mult: 64,
  /** Entries of attention_resolutions, each a downsampling factor. */
  attention_resolutions: 16,
  attention_resolution: 65536,
  num_classes: blockLimit('ClassLabelInput', 'num_classes'),
  num_heads: blockLimit('AttentionBlock', 'num_heads'),
  num_head_channels: blockLimit('AttentionBlock', 'num_head_channels'),
  /** Width of the context tokens: the Context input block's limit. */
  context_dim: blockLimit('ContextInput', 'dim'),
  /** Transformer blocks per SpatialTransformer (published: 1). */
  transformer_depth: blockLimit('SpatialTransformer', 'depth'),
} as const;
const L = TEMPLATE_LIMITS;

/** An integer in [min, max] whose messages name the limit. */
export const numberError = (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : `must be a number, got ${typeof iss.input === 'string' ? JSON.stringify(iss.input.slice(0, 40)) : Array.isArray(iss.input) ? 'a list' : String(iss.input).slice(0, 40)}`);
export const int = (min: number, max: number, hint = '') =>
  z
    .number({ error: numberError })
    .int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}${hint}` });
/** -1 (unset) or an integer in [1, max]. */
export const minusOneOr = (max: number) =>
  z
    .number({ error: numberError })
    .int({ error: `must be -1 or a whole number from 1 to ${max}` })
    .refine((n) => n === -1 || (n >= 1 && n <= max), { error: `must be -1 or a whole number from 1 to ${max}` });
export const list = <T extends z.ZodType>(item: T, maxLen: number) => z.array(item).max(maxLen, { error: `must have at most ${maxLen} entries` });

/** `kwargs` may be bare or under a `kwargs` key (as in the fixtures' config.json, which also give `image_size`). */
export function unwrapConfig(config: unknown): { kwargs: unknown; imageSize?: number } {
  if (config !== null && typeof config === 'object' && 'kwargs' in config) {
    const c = config as { kwargs: unknown; image_size?: unknown };
    return typeof c.image_size === 'number' ? { kwargs: c.kwargs, imageSize: c.image_size } : { kwargs: c.kwargs };
  }
  return { kwargs: config };
}

/** One message per problem; a union (a list or one number) reports the branch the value was meant for. */
function issueLines(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[], out: string[]): void {
  for (const i of issues) {
    const path = [...prefix, ...i.path];
    if (i.code === 'invalid_union' && i.errors.length > 0) {
      // Branches that failed on more than the value's type say what is wrong with it.
      const meant = i.errors.find((b) => b.some((x) => x.code !== 'invalid_type' || x.path.length > 0));
      if (meant) {
        issueLines(meant, path, out);
        continue;
      }
    }
    out.push(`  ${path.length > 0 ? path.map(String).join('.') : '(root)'}: ${i.code === 'invalid_union' ? 'must be a list of whole numbers, or one whole number' : i.message}`);
  }
}

const MAX_ISSUE_LINES = 20;

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const lines: string[] = [];
  issueLines(r.error.issues, [], lines);
  const shown = lines.slice(0, MAX_ISSUE_LINES);
  if (lines.length > MAX_ISSUE_LINES) shown.push(`  … and ${lines.length - MAX_ISSUE_LINES} more`);
  throw new TemplateError(`${what} kwargs are invalid:\n${shown.join('\n')}`);
}

export type ImageSize = number | { readonly height: number; readonly width: number };
/** Height and width, each a whole number from 1 to {@link TEMPLATE_LIMITS}.image_size (a TemplateError otherwise). */
export function hw(s: ImageSize, what: string): { height: number; width: number } {
  const { height, width } = typeof s === 'number' ? { height: s, width: s } : s;
  for (const [side, v] of [['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > L.image_size) {
      throw new TemplateError(`${what}: image ${side} must be a whole number from 1 to ${L.image_size}, got ${String(v).slice(0, 40)}`);
    }
  }
  return { height, width };
}

/** One published (or otherwise well-known) configuration of a template, offered in New…'s Preset list. */
export interface TemplatePreset<K> {
  /** Unique within its template; the Preset list shows it. */
  readonly name: string;
  readonly imageSize: number;
  readonly kwargs: K;
}

/**
 * A template: a graph with exactly PyTorch's module tree and names, from constructor kwargs.
 * The CLI (`template <id>`, `template --list`) and the New… dialog (a tab each, its form generated
 * from `schema`) read nothing else.
 */
export interface Template<S extends z.ZodObject = z.ZodObject> {
  /** Stable: the CLI's `template <id>`. */
  readonly id: string;
  /** New…'s tab. */
  readonly label: string;
  /** One sentence: `template --list`, the tab's tooltip, and the body of a tab without fields. */
  readonly description: string;
  /** The kwargs, each bounded and with a `.describe()` (the form's help text). `image_size`, when
   * present, is also the image size `build` takes (the dialog passes it that way). */
  readonly schema: S;
  /** What New… starts from (and, for the default template, the app's first graph); `label` is the
   * first entry of the Preset list (shown when there are presets). */
  readonly defaults: { readonly label: string; readonly kwargs: z.input<S> };
  readonly presets: readonly TemplatePreset<z.input<S>>[];
  /** The kwargs New… shows, in order (default: every field with more than one allowed value). */
  readonly formFields?: readonly (keyof S['shape'] & string)[];
  /** The graph for these kwargs (validated with `schema`: a {@link TemplateError} lists every problem);
   * `imageSize` overrides `image_size` in the kwargs. */
  build(kwargs: unknown, imageSize?: ImageSize): Graph;
}

/** Checks a template's types where it is declared, keeping its literal id. */
export function defineTemplate<const Id extends string, S extends z.ZodObject>(t: Template<S> & { readonly id: Id }): Template<S> & { readonly id: Id } {
  return t;
}

/**
 * Adds a node now (its place in PyTorch's registration order, which is the state_dict's) and returns
 * the function that wires its inputs later (in forward order) and gives its id.
 */
export function addThenWire(b: GraphBuilder, type: BlockType, name: string, params: Record<string, ParamValue>): (inputs: Record<string, string>) => string {
  const id = b.add(type, name, params);
  return (inputs) => {
    for (const [port, from] of Object.entries(inputs)) b.connect(from, id, port);
    return id;
  };
}
