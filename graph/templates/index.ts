/**
 * The template registry: the CLI (`template <id>`, `template --list`, its usage text) and the New…
 * dialog (a tab per template, its form generated from the schema) read this list and nothing else.
 *
 * To add a template: write `graph/templates/<id>.ts` exporting one `defineTemplate({...})` (id,
 * label, description, a zod schema with a `.describe()` on every field, defaults, presets, build),
 * and add it to `TEMPLATES` below: one new file plus one line. The order here is New…'s tab order.
 */
import { iddpmTemplate } from './iddpm';
import { vanillaTemplate } from './vanilla';
import { emptyTemplate } from './empty';
import { diffusersTemplate } from './diffusers';
import { ldmTemplate } from './ldm';
import type { Template } from './common';
import type { Graph } from '../model';

export const TEMPLATES = [
  iddpmTemplate,
  vanillaTemplate,
  diffusersTemplate,
  ldmTemplate,
  emptyTemplate,
] as const satisfies readonly Template[];

export type TemplateId = (typeof TEMPLATES)[number]['id'];

/** The app opens with this template's defaults; New… opens on its tab. */
export const DEFAULT_TEMPLATE: Template = iddpmTemplate;

const BY_ID: ReadonlyMap<string, Template> = new Map(TEMPLATES.map((t) => [t.id, t]));

/** The registered template with this id, or undefined. */
export function templateById(id: string): Template | undefined {
  return BY_ID.get(id);
}

/** A template's defaults as a graph (the app's first graph comes from {@link DEFAULT_TEMPLATE}). */
export function buildDefaults(t: Template): Graph {
  return t.build(t.defaults.kwargs);
}

export { TemplateError, TEMPLATE_LIMITS, unwrapConfig, defineTemplate, type ImageSize, type Template, type TemplatePreset } from './common';
export { iddpm, IddpmKwargs, IDDPM_DEFAULTS, iddpmTemplate } from './iddpm';
export { IDDPM_PRESETS } from './iddpm-presets';
export { vanilla, VanillaKwargs, vanillaTemplate } from './vanilla';
export { emptyGraph, EmptyKwargs, emptyTemplate } from './empty';
export { diffusersUNet2D, DiffusersConfig, diffusersConfigNotes, diffusersTemplate, DIFFUSERS_PRESETS, DDPM_CIFAR10_32, DDPM_CELEBAHQ_256 } from './diffusers';
export { ldm, ldmKwargsOf, LdmKwargs, LDM_DEFAULTS, ldmTemplate } from './ldm';
export { LDM_PRESETS, SD1_UNET, SD2_UNET } from './ldm-presets';
