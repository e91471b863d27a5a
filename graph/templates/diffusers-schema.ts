/**
 * Schema pieces shared by the two diffusers config schemas (`UNet2DModel` in ./diffusers.ts,
 * `UNet2DConditionModel` in ./diffusers-cond.ts): how a refused value is quoted, "one of", a bounded
 * positive float, and the keys both configs spell the same way.
 */
import { z } from 'zod';
import { int, numberError, TEMPLATE_LIMITS as L } from './common';

/** A config value as a message quotes it: JSON, at most 60 characters (a string's first 60). */
export const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.slice(0, 60)) : JSON.stringify(v)?.slice(0, 60) ?? String(v));

/** One of `options`; anything else is "not supported" with the value and the supported ones named. */
export function oneOf<const O extends readonly [string, ...string[]]>(options: O, what = '') {
  return z.enum(options, {
    error: (iss) => `${shown(iss.input)} is not supported${what}; supported: ${options.join(', ')}`,
  });
}

export const positiveFloat = (max: number) =>
  z.number({ error: numberError }).positive({ error: 'must be greater than 0' }).max(max, { error: `must be at most ${max}` });

/** The two bookkeeping keys `save_config` writes (ignored). */
export const DIFFUSERS_META_KEYS = {
  _diffusers_version: z.string().max(100).optional().describe('The diffusers version that wrote the config; ignored.'),
  _name_or_path: z.string().max(1000).optional().describe('Where the config was loaded from; ignored.'),
};

/** `sample_size`: one side, or [height, width]; null when the config has none. */
export const sampleSize = (description: string) =>
  z
    .union([int(1, L.image_size), z.tuple([int(1, L.image_size), int(1, L.image_size)])])
    .nullable()
    .default(null)
    .describe(description);
