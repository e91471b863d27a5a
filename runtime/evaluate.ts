/**
 * Compiles a generated module in memory and instantiates it against this process's tfjs, so the
 * CLI's `run --via codegen` and the tests execute exactly the text "Download .ts" gives.
 */
import * as tf from '@tensorflow/tfjs';
import { instantiate, type GeneratedClass } from './instantiate';
import { transpile } from './transpile';

export type { GeneratedClass, GeneratedModel } from './instantiate';
export { transpile };

export function loadModule(text: string, className: string): GeneratedClass {
  return instantiate(transpile(text), className, tf);
}
