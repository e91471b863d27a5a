/** Compiler options for checking generated modules, shared by the Node and browser checkers. */
import { ts } from 'ts-morph';

export const CHECK_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: [],
  skipLibCheck: true,
  noUnusedLocals: true,
  noImplicitReturns: true,
  isolatedModules: true,
};

export interface TypeDiagnostic {
  readonly line: number;
  readonly message: string;
}

export function flattenMessage(m: string | ts.DiagnosticMessageChain | { getMessageText(): string }): string {
  if (typeof m === 'string') return m;
  if ('getMessageText' in m) return m.getMessageText();
  return ts.flattenDiagnosticMessageText(m, '\n');
}
