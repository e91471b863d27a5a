import { describe, expect, it } from 'vitest';
import { BLOCK_TYPES, blockDef } from '../blocks/registry';
import { checkParam, defaultParams } from './params';

describe.each(BLOCK_TYPES)('%s parameters', (type) => {
  it('every declared default passes checkParam, and defaultParams gives each one', () => {
    const def = blockDef(type);
    for (const [name, spec] of Object.entries(def.params)) expect(checkParam(name, spec, spec.default)).toBeNull();
    const defaults = defaultParams(type);
    expect(Object.keys(defaults).sort()).toEqual(Object.keys(def.params).sort());
    for (const [name, spec] of Object.entries(def.params)) expect(defaults[name]).toBe(spec.default);
  });
});
