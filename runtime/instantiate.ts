/**
 * Instantiates a generated module that has already been transpiled to CommonJS, against the
 * caller's tfjs (browser-safe: no TypeScript here; the code worker transpiles). Only generated text
 * is evaluated, and the generator never copies text from a graph into code.
 */
import type * as tfType from '@tensorflow/tfjs';

/** What a generated class offers (the parts the runtime uses). */
export interface GeneratedModel {
  readonly parameterCount: number;
  forward(...inputs: tfType.Tensor[]): tfType.Tensor4D;
  dispose(): void;
}

export interface GeneratedClass {
  readonly parameterCount: number;
  fromSafetensors(bytes: Uint8Array, source?: string): GeneratedModel;
  fromTensors(tensors: Readonly<Record<string, tfType.Tensor>>, source?: string): GeneratedModel;
  random(seed?: number): GeneratedModel;
}

export function instantiate(js: string, className: string, tf: typeof tfType): GeneratedClass {
  const module = { exports: {} as Record<string, unknown> };
  const require = (id: string): unknown => {
    if (id === '@tensorflow/tfjs') return tf;
    throw new Error(`generated module imports ${JSON.stringify(id)}; only @tensorflow/tfjs is allowed`);
  };
  // Evaluating our own generated module is the point of this function.
  new Function('exports', 'require', 'module', js)(module.exports, require, module);
  const cls = module.exports[className];
  if (typeof cls !== 'function') throw new Error(`generated module has no class ${className}`);
  return cls as unknown as GeneratedClass;
}
