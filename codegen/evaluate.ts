/**
 * Compiles a generated module in memory and instantiates it against this process's tfjs, so the
 * CLI's `run --via codegen` and the tests execute exactly the text "Download .ts" gives.
 * Only generated text is evaluated; the generator never copies text from a graph into code.
 */
import * as tf from '@tensorflow/tfjs';
import { ts } from 'ts-morph';

/** What a generated class offers (the parts the runtime uses). */
export interface GeneratedModel {
  readonly parameterCount: number;
  forward(...inputs: tf.Tensor[]): tf.Tensor4D;
  dispose(): void;
}

export interface GeneratedClass {
  readonly parameterCount: number;
  fromSafetensors(bytes: Uint8Array, source?: string): GeneratedModel;
  fromTensors(tensors: Readonly<Record<string, tf.Tensor>>, source?: string): GeneratedModel;
  random(seed?: number): GeneratedModel;
}

export function loadModule(text: string, className: string): GeneratedClass {
  const js = ts.transpileModule(text, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: false },
  }).outputText;
  const module = { exports: {} as Record<string, unknown> };
  const require = (id: string): unknown => {
    if (id === '@tensorflow/tfjs') return tf;
    throw new Error(`generated module imports ${JSON.stringify(id)}; only @tensorflow/tfjs is allowed`);
  };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- evaluating our own generated module is the point
  new Function('exports', 'require', 'module', js)(module.exports, require, module);
  const cls = module.exports[className];
  if (typeof cls !== 'function') throw new Error(`generated module has no class ${className}`);
  return cls as unknown as GeneratedClass;
}
