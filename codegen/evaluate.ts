/**
 * Compiles a generated module in memory and instantiates it against this process's tfjs, so the
 * CLI's `run --via codegen` and the tests execute exactly the text "Download .ts" gives.
 */
import * as tf from '@tensorflow/tfjs';
import { ts } from 'ts-morph';
import { instantiate, type GeneratedClass } from './instantiate';

export type { GeneratedClass, GeneratedModel } from './instantiate';

/** TypeScript → CommonJS JavaScript (types erased; the text is type-checked separately). */
export function transpile(text: string): string {
  return ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
}

export function loadModule(text: string, className: string): GeneratedClass {
  return instantiate(transpile(text), className, tf);
}
