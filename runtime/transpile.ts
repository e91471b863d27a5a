/**
 * A generated module's TypeScript → CommonJS JavaScript (types erased; the text is type-checked
 * separately), for `instantiate`. Used in Node and in the editor's code worker; it loads
 * TypeScript (ts-morph), so the main thread never imports it.
 */
import { ts } from 'ts-morph';

export function transpile(text: string): string {
  return ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
}
