/** Parameter defaults and validation, read from the block declarations. */
import type { BlockIssue, ParamSpec, ParamValue, ParamValues } from '../blocks/types';
import { blockDef } from '../blocks/registry';
import type { BlockType } from '../blocks/registry';

/** Checks one value against its spec; returns what is wrong, or null. */
export function checkParam(name: string, spec: ParamSpec, value: ParamValue): BlockIssue | null {
  const where = `parameter "${name}"`;
  switch (spec.type) {
    case 'int':
    case 'float': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return { message: `${where} must be a number, got ${JSON.stringify(value)}`, fix: `set it to a number between ${spec.min} and ${spec.max}`, param: name };
      }
      if (spec.type === 'int' && !Number.isInteger(value)) {
        return { message: `${where} must be a whole number, got ${value}`, fix: `use ${Math.round(value)}`, param: name };
      }
      if (value < spec.min || value > spec.max) {
        return { message: `${where} is ${value}, outside ${spec.min}…${spec.max}`, fix: `use a value between ${spec.min} and ${spec.max}`, param: name };
      }
      return null;
    }
    case 'bool':
      return typeof value === 'boolean' ? null : { message: `${where} must be true or false, got ${JSON.stringify(value)}`, fix: 'use true or false', param: name };
    case 'enum':
      return typeof value === 'string' && spec.options.includes(value)
        ? null
        : { message: `${where} must be one of ${spec.options.join(', ')}; got ${JSON.stringify(value)}`, fix: `use ${spec.options[0]}`, param: name };
  }
}

export interface ResolvedParams {
  /** Every parameter, defaults filled in (invalid values replaced by defaults so shapes can still be inferred). */
  readonly values: ParamValues;
  readonly issues: readonly BlockIssue[];
}

export function resolveParams(type: BlockType, given: Readonly<Record<string, ParamValue>>): ResolvedParams {
  const def = blockDef(type);
  const values: Record<string, ParamValue> = {};
  const issues: BlockIssue[] = [];
  for (const [name, spec] of Object.entries(def.params)) {
    const v = Object.prototype.hasOwnProperty.call(given, name) ? given[name] : undefined;
    if (v === undefined) {
      values[name] = spec.default;
      continue;
    }
    const bad = checkParam(name, spec, v);
    if (bad) issues.push(bad);
    values[name] = bad ? spec.default : v;
  }
  for (const name of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(def.params, name)) {
      const known = Object.keys(def.params);
      issues.push({
        message: `unknown parameter "${name}"`,
        fix: known.length > 0 ? `remove it (known: ${known.join(', ')})` : `remove it (${def.displayName} takes no parameters)`,
        param: name,
      });
    }
  }
  if (issues.length === 0 && def.checkParams) issues.push(...def.checkParams(values));
  return { values, issues };
}

export function defaultParams(type: BlockType): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [name, spec] of Object.entries(blockDef(type).params)) out[name] = spec.default;
  return out;
}
